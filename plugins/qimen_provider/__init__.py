"""A small local Airflow provider: the `qimen` connection type and the WMS hook.

Airflow 3 shows custom connection types only from installed provider packages, found through the
``apache_airflow_provider`` entry point declared in pyproject.toml. The connection form itself comes
from the declarative ``conn-fields``/``ui-field-behaviour`` below (see qimen_provider.connection).
"""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    from qimen_provider.connection import connection_type_info

    return {
        "package-name": "juxing-wms-bridge",
        "name": "Qimen WMS (Juxing OS)",
        "description": "Connection type and hook for a warehouse speaking the Taobao Qimen WMS API.",
        "versions": [__version__],
        "hooks": [
            {
                "integration-name": "Qimen WMS (Juxing OS)",
                "python-modules": ["qimen_provider.hooks.qimen"],
            }
        ],
        "connection-types": [connection_type_info()],
    }
