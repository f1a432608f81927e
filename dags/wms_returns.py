"""Returns: approved in the shop -> `returnorder.create`; received by the warehouse -> the shop.

退货：商城审核通过的退货通知仓库（returnorder.create），仓库收货回传（returnorder.confirm）后更新售后单与库存，
并在运营页提示"退货已入库：请退款"。Runs every 15 minutes (`WMS_RETURNS_CRON`) once `returnorder.create` and
`returnorder.confirm` are switched on in `wms_bridge_config.enabled_methods` (a run says so and does
nothing until then). Each run looks at every return the shop approves now (they leave once refunded),
so a retry, a clear or two runs at once announce a return once. Per-return state: `wms_return`;
stock changes: `wms_stock_adjustment`; every request: `wms_exchange_log`.
"""

from __future__ import annotations

import os

from airflow.sdk import CronDataIntervalTimetable, dag
from wmsbridge.dag_defaults import DAG_ARGS, per_bridge


@dag(
    dag_id="wms_returns",
    schedule=CronDataIntervalTimetable(os.environ.get("WMS_RETURNS_CRON", "*/15 * * * *"), timezone="UTC"),
    **DAG_ARGS,
    tags=["wms", "qimen", "returns"],
    doc_md=__doc__,
)
def wms_returns():
    per_bridge("returns", task_id="sync")


wms_returns()
