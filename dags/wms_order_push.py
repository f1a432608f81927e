"""Paid orders the warehouse has not accepted yet -> `deliveryorder.create`, exactly once.

Runs every 5 minutes (`WMS_ORDER_PUSH_CRON`) and whenever SKUs reach the warehouse. Trigger it by
hand with order codes, a paid-time window, force, dry run or a limit; a backfill run takes only
the orders paid in its data interval. Per-order state and every exchange are in the store tables
(`wms_order_sync`, `wms_exchange_log`).
"""

from __future__ import annotations

import os

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, Param, dag, task

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
    params={
        "order_codes": Param(None, type=["null", "array"], items={"type": "string"}, title="Order codes",
                             description="(Re)send only these orders (shop order numbers), one per line."),
        "paid_from": Param(None, type=["null", "string"], format="date-time", title="Paid from",
                           description="Only orders paid at or after (with zone, e.g. 2026-11-27T00:00:00+08:00)."),
        "paid_to": Param(None, type=["null", "string"], format="date-time", title="Paid before"),
        "force": Param(False, type="boolean", title="Force resend",
                       description="Send accepted orders again under the same code (the warehouse dedups), "
                                   "and retry orders the warehouse refused."),
        "dry_run": Param(False, type="boolean", title="Dry run",
                         description="Extract, transform and validate; report what would be sent; send nothing."),
        "limit": Param(None, type=["null", "integer"], minimum=1, title="At most N orders"),
    },
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
                paid_from_utc=window.paid_from_utc, paid_to_utc=window.paid_to_utc,
                order_codes=window.order_codes, force=params["force"], dry_run=params["dry_run"],
                limit=params["limit"],
            )

        return run_flow(work)

    push()


wms_order_push()
