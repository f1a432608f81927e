"""The receiver inside Airflow 3's api-server: an Airflow plugin with one ``fastapi_apps`` entry.

Registered through the distribution's ``airflow.plugins`` entry point (pyproject.toml), not the
plugins folder (which stays empty, see env.sh). Nothing is read at import: the app builds its
composition on the first callback and answers a clear failure while it cannot (no token, store
not migrated). A stored confirmation emits the ``wms_shipments`` Asset event in-process, the
way the REST API's ``POST /api/v2/assets/events`` does, so the DAG runs at once.
"""

from __future__ import annotations

import logging

from airflow.plugins_manager import AirflowPlugin

from .app import create_app
from .auth import install_log_redaction

log = logging.getLogger(__name__)


def emit_shipments_asset() -> None:
    """Record an event on the shipments Asset (queues ``wms_shipments``). Runs after the answer;
    a failure only delays the DAG until its next scheduled run."""
    try:
        from sqlalchemy import select

        from airflow.assets.manager import asset_manager
        from airflow.models.asset import AssetModel
        from airflow.utils.session import create_session
        from wmsbridge.assets import SHIPMENTS_ASSET

        with create_session() as session:
            model = session.scalar(select(AssetModel).where(
                AssetModel.name == SHIPMENTS_ASSET.name, AssetModel.uri == SHIPMENTS_ASSET.uri))
            if model is None:
                log.warning("Asset %s is not known yet (wms_shipments not parsed?): it runs on its schedule",
                            SHIPMENTS_ASSET.uri)
                return
            asset_manager.register_asset_change(
                asset=model, extra={"source": "wms receiver"}, source_is_api=True, session=session)
    except Exception:  # noqa: BLE001
        log.exception("could not emit the shipments Asset event; wms_shipments runs on its schedule")


install_log_redaction()


class WmsReceiverPlugin(AirflowPlugin):
    name = "wms_receiver"
    fastapi_apps = [{
        "app": create_app(on_stored=emit_shipments_asset),
        "url_prefix": "/wms",
        "name": "WMS confirmation receiver (deliveryorder.confirm)",
    }]
