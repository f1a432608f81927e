"""Paid orders the warehouse has not accepted yet -> `deliveryorder.create`, exactly once.

Runs every 5 minutes (`WMS_ORDER_PUSH_CRON`) and whenever SKUs reach the warehouse; a backfill run
takes only the orders paid in its data interval. No trigger-form options on purpose: previews, given
orders and paid days are `wms_order_push_manual` (unschedulable, so "unpause on trigger" there cannot
start this DAG's schedule). Per-order state and every exchange are in the store tables
(`wms_order_sync`, `wms_exchange_log`).
"""

from __future__ import annotations

import os

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, dag
from wmsbridge.assets import ITEMS_ASSET
from wmsbridge.dag_defaults import DAG_ARGS, per_bridge


@dag(
    dag_id="wms_order_push",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable(os.environ.get("WMS_ORDER_PUSH_CRON", "*/5 * * * *"), timezone="UTC"),
        assets=ITEMS_ASSET,
    ),
    **DAG_ARGS,
    tags=["wms", "qimen", "orders"],
    doc_md=__doc__,
)
def wms_order_push():
    per_bridge("order_push", task_id="push")


wms_order_push()
