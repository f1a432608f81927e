"""Shipment confirmations the receiver stored -> the shop (shipped status, tracking numbers), once.

Runs every 3 minutes (`WMS_SHIPMENTS_CRON`) and at once when the receiver stored a confirmation:
the receiver, running inside the api-server, records an event on the `wms://bridge/shipment-inbox`
Asset. A standalone receiver cannot reach Airflow's database, so there the schedule is the
trigger. Per-confirmation state is in `wms_shipment_inbox` (waiting / needs_person with reasons).
"""

from __future__ import annotations

import os

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, dag, task
from wmsbridge.assets import SHIPMENTS_ASSET
from wmsbridge.dag_defaults import DAG_ARGS, served_bridges


@dag(
    dag_id="wms_shipments",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable(os.environ.get("WMS_SHIPMENTS_CRON", "*/3 * * * *"), timezone="UTC"),
        assets=SHIPMENTS_ASSET,
    ),
    **DAG_ARGS,
    tags=["wms", "qimen", "shipments"],
    doc_md=__doc__,
)
def wms_shipments():
    @task(map_index_template="{{ bridge }}")
    def apply(bridge_id: str) -> dict:
        from wmsbridge.pipelines import tasks

        return tasks.shipments(bridge_id=bridge_id)

    apply.expand(bridge_id=served_bridges())


wms_shipments()
