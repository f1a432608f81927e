"""The one error a person must fix before anything can run: configuration.

``ConfigError`` covers the ``wms_bridge_config`` Variable, shop profiles, connections and
settings a flow needs. Tasks turn it into ``AirflowFailException`` (``pipelines.policy``): retrying
cannot fix a typo, and three retries only hide it for minutes.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration, profile or connection mistake. The message names the file, key or query."""
