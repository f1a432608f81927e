"""Orders the warehouse accepted that the shop later cancelled or refunded -> `order.cancel`.

取消/退款的订单通知仓库取消出库单。Runs every 5 minutes (`WMS_ORDER_CANCEL_CRON`): shop changes since
the last successful run, plus cancels earlier runs left unfinished. A backfill run looks only at
orders changed in its data interval; repeating one is harmless. A refund after shipment ends
`cancel_failed` and waits for a person in the `wms_cancel_needs_person` view (the run fails naming
them). Per-order state: `wms_order_sync`; every request: `wms_exchange_log`. By hand (a preview,
given orders, a change window): `wms_order_cancel_manual`; this DAG takes no trigger options.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import CronDataIntervalTimetable, dag, task

from wmsbridge.dag_defaults import DEFAULT_ARGS, START_DATE, WMS_POOL


@dag(
    dag_id="wms_order_cancel",
    schedule=CronDataIntervalTimetable(os.environ.get("WMS_ORDER_CANCEL_CRON", "*/5 * * * *"), timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["wms", "qimen", "orders", "cancel"],
    doc_md=__doc__,
)
def wms_order_cancel():
    @task(pool=WMS_POOL)
    def cancel(run_id=None, dag_run=None, data_interval_start=None, data_interval_end=None,
               prev_start_date_success=None) -> dict:
        from wmsbridge.pipelines.cancels import cancel_orders, cancel_window
        from wmsbridge.pipelines.policy import run_flow
        from wmsbridge.pipelines.runtime import Bridge

        # Airflow hands context values as lazy proxies: `isinstance` resolves one, `is None` does not.
        last = prev_start_date_success if isinstance(prev_start_date_success, datetime) else None
        window = cancel_window(dag_run.run_type, {}, data_interval_start, data_interval_end, last)
        print(f"cancels: {window.describe()}")
        return run_flow(lambda: cancel_orders(
            Bridge.from_airflow(run_id),
            changed_from_utc=window.changed_from_utc, changed_to_utc=window.changed_to_utc,
            order_codes=window.order_codes, sweep=window.sweep, dry_run=False,
        ))

    cancel()


wms_order_cancel()
