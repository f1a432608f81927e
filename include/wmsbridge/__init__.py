"""The bridge itself, everything production runs: shop profiles and readers, transforms, the
integration store, the pipelines, the callback receiver, the operations page and alerts. Tools
beside it (simulator, demo, chaos, synthetic shops, local Airflow) live in tools/, never here."""
