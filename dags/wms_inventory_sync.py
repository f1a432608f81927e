"""The warehouse's stock -> the shop, once a day (`inventory.query`), with daily history.

Runs at a Beijing time (`WMS_INVENTORY_SYNC_CRON`, a cron in Asia/Shanghai, default 06:30) and on
demand. The bridge keeps the warehouse's limit itself: a second full sync on the same Beijing day
is refused (the task is skipped and says so) unless forced from `wms_inventory_sync_manual`,
whatever started it. The
warehouse only knows today's stock, so a backfill syncs today at most once; its other runs are skipped.
Guard rails (bridge config `inventory_max_*_pct`) fail the run without writing when the answer
looks wrong. Every decision is in `wms_stock_writeback`, every run in `wms_inventory_run`, the
warehouse's rows in `wms_inventory_snapshot` (views for analysts: docs/data-dictionary.md).
"""

from __future__ import annotations

import os

from airflow.sdk import CronTriggerTimetable, dag
from wmsbridge.dag_defaults import DAG_ARGS, per_bridge


@dag(
    dag_id="wms_inventory_sync",
    schedule=CronTriggerTimetable(os.environ.get("WMS_INVENTORY_SYNC_CRON", "30 6 * * *"), timezone="Asia/Shanghai"),
    **DAG_ARGS,
    tags=["wms", "qimen", "inventory"],
    doc_md=__doc__,
)
def wms_inventory_sync():
    per_bridge("inventory_sync", task_id="sync")


wms_inventory_sync()
