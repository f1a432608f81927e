"""Refunds and cancellations by hand (`order.cancel`): a preview, given orders, a change window.

No schedule, so triggering it never starts anything else (the scheduled `wms_order_cancel` takes no
options). A dry run (the default) shows what would be cancelled and sends nothing.
"""

from __future__ import annotations

from airflow.sdk import Param, dag
from wmsbridge.dag_defaults import DAG_ARGS, bridge_param, per_bridge


@dag(
    dag_id="wms_order_cancel_manual",
    schedule=None,
    **DAG_ARGS,
    tags=["wms", "qimen", "orders", "cancel", "manual"],
    params={
        "bridge": bridge_param(),
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
        "dry_run": Param(True, type="boolean", title="Dry run / 试运行",
                         description="Show what would be cancelled; send nothing, write nothing. "
                                     "只列出将要取消的订单，不发送请求、不写入任何数据。"),
    },
    doc_md=__doc__,
)
def wms_order_cancel_manual():
    per_bridge("order_cancel_manual", task_id="cancel")


wms_order_cancel_manual()
