"""Shop side of the bridge: shop profiles, the integration store, transforms, synthetic data."""
