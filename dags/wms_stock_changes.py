"""The warehouse's stock changes between daily syncs (`stockchange.report`) -> the shop's stock.

仓库库存异动回传（stockchange.report）写回商城库存：采购入库、盘点盈亏、报损等；本店订单的销售出库与已通知的退货入库
不重复计算。Runs every 10 minutes (`WMS_STOCK_CHANGES_CRON`) once `stockchange.report` is switched on in
`wms_bridge_config.enabled_methods` (a run says so and does nothing until then); scheduled runs
work when the `inventory` flow is live. Each report is written once (`wms_stock_adjustment`); one
that would take a SKU below zero waits for a person. The daily `wms_inventory_sync` stays the truth.
"""

from __future__ import annotations

import os

from airflow.sdk import CronDataIntervalTimetable, dag
from wmsbridge.dag_defaults import DAG_ARGS, per_bridge


@dag(
    dag_id="wms_stock_changes",
    schedule=CronDataIntervalTimetable(os.environ.get("WMS_STOCK_CHANGES_CRON", "*/10 * * * *"), timezone="UTC"),
    **DAG_ARGS,
    tags=["wms", "qimen", "inventory"],
    doc_md=__doc__,
)
def wms_stock_changes():
    per_bridge("stock_changes", task_id="apply", pool=None)


wms_stock_changes()
