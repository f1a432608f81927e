"""The Airflow plugin that puts the operations page into Airflow's UI (Airflow 3 plugin interface).

Registered through the ``airflow.plugins`` entry point (``wms_ops`` in pyproject.toml), so it loads
from the installed package: the project's plugins folder stays empty on purpose (see env.sh).
``fastapi_apps`` mounts the app in the api-server under ``/wms-ops``; ``external_views`` adds the menu
entry, which Airflow's UI opens in an iframe at ``/plugin/wms-bridge``. ``fastapi_root_middlewares``
makes the connection list's Test button work for connections without a port (``ui_fixes``).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/wms-ops"


class WmsOpsPlugin(AirflowPlugin):
    name = "wms_ops"

    @property
    def fastapi_apps(self):  # imported lazily: only the api-server needs FastAPI and the store code
        from wmsbridge.ops.app import app

        return [{"app": app, "url_prefix": URL_PREFIX, "name": "WMS bridge operations"}]

    @property
    def fastapi_root_middlewares(self):
        from wmsbridge.ops.ui_fixes import ConnectionTestPortZeroFix

        return [{"middleware": ConnectionTestPortZeroFix, "name": "connection test: port 0 is no port"}]

    external_views = [
        {
            "name": "WMS bridge / 仓库对接",
            "href": f"{URL_PREFIX}/",
            "url_route": "wms-bridge",
            "destination": "nav",
            "icon": None,
        }
    ]
