"""Paid orders the warehouse has not accepted yet -> `deliveryorder.create`, exactly once.

Runs every 5 minutes (`WMS_ORDER_PUSH_CRON`) and whenever SKUs reach the warehouse; a backfill run
takes only the orders paid in its data interval. No trigger-form options on purpose: previews, given
orders and paid days are `wms_order_push_manual` (unschedulable, so "unpause on trigger" there cannot
start this DAG's schedule). Per-order state and every exchange are in the store tables
(`wms_order_sync`, `wms_exchange_log`).
"""

from __future__ import annotations

import os

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, dag, task

from wmsbridge.assets import ITEMS_ASSET
from wmsbridge.dag_defaults import DEFAULT_ARGS, START_DATE, WMS_POOL



@dag(
    dag_id="wms_order_push",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable(os.environ.get("WMS_ORDER_PUSH_CRON", "*/5 * * * *"), timezone="UTC"),
        assets=ITEMS_ASSET,
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["wms", "qimen", "orders"],
    doc_md=__doc__,
)
def wms_order_push():
    @task(pool=WMS_POOL)
    def push(params=None, run_id=None, dag_run=None, data_interval_start=None, data_interval_end=None) -> dict:
        from wmsbridge.pipelines.orders import push_orders
        from wmsbridge.pipelines.policy import run_flow
        from wmsbridge.pipelines.runtime import Bridge
        from wmsbridge.pipelines.windows import order_window

        def work():
            # inside run_flow: a wrong trigger-form value fails the task at once, naming the field
            window = order_window(dag_run.run_type, params, data_interval_start, data_interval_end)
            print(f"orders: {window.describe()}")
            return push_orders(
                Bridge.from_airflow(run_id),
                paid_from_utc=window.paid_from_utc, paid_to_utc=window.paid_to_utc, order_codes=window.order_codes,
                force=False, dry_run=False, limit=None,
            )

        return run_flow(work)

    push()


wms_order_push()
