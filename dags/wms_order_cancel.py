"""Orders the warehouse accepted that the shop later cancelled or refunded -> `order.cancel`.

取消/退款的订单通知仓库取消出库单。Runs every 5 minutes (`WMS_ORDER_CANCEL_CRON`): shop changes since
the last successful run, plus cancels earlier runs left unfinished. A backfill run looks only at
orders changed in its data interval; repeating one is harmless. A refund after shipment ends
`cancel_failed` and waits for a person in the `wms_cancel_needs_person` view (the run fails naming
them). Per-order state: `wms_order_sync`; every request: `wms_exchange_log`.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from wmsbridge.dag_defaults import DEFAULT_ARGS, START_DATE, WMS_POOL


@dag(
    dag_id="wms_order_cancel",
    schedule=CronDataIntervalTimetable(os.environ.get("WMS_ORDER_CANCEL_CRON", "*/5 * * * *"), timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["wms", "qimen", "orders", "cancel"],
    params={
        "order_codes": Param(None, type=["null", "array"], items={"type": "string"},
                             title="Order codes / 订单号",
                             description="Cancel only these orders (shop order numbers), one per line. "
                                         "只处理这些订单（商城订单号），每行一个。"),
        "changed_from": Param(None, type=["null", "string"], format="date-time",
                              title="Changed from / 变更起始时间",
                              description="Only orders cancelled or refunded at or after this time "
                                          "(with zone, e.g. 2026-11-27T00:00:00+08:00). "
                                          "只处理此时间之后取消或退款的订单（需带时区）。"),
        "changed_to": Param(None, type=["null", "string"], format="date-time",
                            title="Changed before / 变更截止时间",
                            description="Only orders cancelled or refunded before this time. 只处理此时间之前的订单。"),
        "dry_run": Param(False, type="boolean", title="Dry run / 试运行",
                         description="Show what would be cancelled; send nothing, write nothing. "
                                     "只列出将要取消的订单，不发送请求、不写入任何数据。"),
    },
    doc_md=__doc__,
)
def wms_order_cancel():
    @task(pool=WMS_POOL)
    def cancel(params=None, run_id=None, dag_run=None, data_interval_start=None, data_interval_end=None,
               prev_start_date_success=None) -> dict:
        from wmsbridge.pipelines.cancels import cancel_orders, cancel_window
        from wmsbridge.pipelines.policy import run_flow
        from wmsbridge.pipelines.runtime import Bridge

        # Airflow hands context values as lazy proxies: `isinstance` resolves one, `is None` does not.
        last = prev_start_date_success if isinstance(prev_start_date_success, datetime) else None
        window = cancel_window(dag_run.run_type, params, data_interval_start, data_interval_end, last)
        print(f"cancels: {window.describe()}")
        return run_flow(lambda: cancel_orders(
            Bridge.from_airflow(run_id),
            changed_from_utc=window.changed_from_utc, changed_to_utc=window.changed_to_utc,
            order_codes=window.order_codes, sweep=window.sweep, dry_run=params["dry_run"],
        ))

    cancel()


wms_order_cancel()
