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

from airflow.sdk import CronDataIntervalTimetable, dag
from wmsbridge.dag_defaults import DAG_ARGS, per_bridge


@dag(
    dag_id="wms_order_cancel",
    schedule=CronDataIntervalTimetable(os.environ.get("WMS_ORDER_CANCEL_CRON", "*/5 * * * *"), timezone="UTC"),
    **DAG_ARGS,
    tags=["wms", "qimen", "orders", "cancel"],
    doc_md=__doc__,
)
def wms_order_cancel():
    per_bridge("order_cancel", task_id="cancel")


wms_order_cancel()
