"""Shipment confirmations the receiver stored -> the shop (shipped status, tracking numbers), once.

Runs every 3 minutes (`WMS_SHIPMENTS_CRON`) and at once when the receiver stored a confirmation:
the receiver, running inside the api-server, records an event on the `wms://bridge/shipment-inbox`
Asset. A standalone receiver cannot reach Airflow's database, so there the schedule is the
trigger. Per-confirmation state is in `wms_shipment_inbox` (waiting / needs_person with reasons).
"""

from __future__ import annotations

import os

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, dag
from wmsbridge.assets import SHIPMENTS_ASSET
from wmsbridge.dag_defaults import DAG_ARGS, per_bridge


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
    per_bridge("shipments", task_id="apply", pool=None)


wms_shipments()
