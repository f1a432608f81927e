"""Push orders by hand: a preview (dry run), given orders, or the orders paid on given Beijing days.

No schedule, so "unpause on trigger" starts nothing else: the scheduled push is `wms_order_push`,
a separate DAG with its own pause switch. The same pipeline as the scheduled push
(`wmsbridge.pipelines.orders.push_orders`): every order is still sent exactly once under its code.
A dry run is the default: untick it to send.

手动推送订单：预览（试运行）、指定订单号，或按北京时间日期选付款日。无定时计划，
"触发时取消暂停" 不会启动定时推送（`wms_order_push`）。默认为试运行，取消勾选才真正发送。
"""

from __future__ import annotations

from airflow.sdk import Param, dag
from wmsbridge.dag_defaults import DAG_ARGS, bridge_param, per_bridge


@dag(
    dag_id="wms_order_push_manual",
    schedule=None,
    **DAG_ARGS,
    tags=["wms", "qimen", "orders", "manual"],
    params={
        "bridge": bridge_param(),
        "dry_run": Param(
            True, type="boolean", title="Dry run (preview) / 试运行（预览）",
            description="Ticked: extract, transform and validate, report what would be sent, send nothing. "
                        "Untick to send. / 勾选：只校验并报告将发送的订单，不发送；取消勾选才发送。",
        ),
        "order_codes": Param(
            None, type=["null", "array"], items={"type": "string"}, title="Order codes / 订单号",
            description="Only these shop order numbers, one per line; empty = every paid, unsent order "
                        "(within the paid days below). / 只处理这些商城订单号，每行一个；留空 = 所有已付款未发送的订单"
                        "（受下方付款日期限制）。",
        ),
        "paid_from_date": Param(
            None, type=["null", "string"], format="date", title="Paid from (Beijing date) / 付款起始日（北京时间）",
            description="First day, Beijing time (UTC+8), from 00:00; empty = no lower bound. "
                        "/ 起始日期（北京时间，当日 00:00 起）；留空 = 不限。",
        ),
        "paid_to_date": Param(
            None, type=["null", "string"], format="date", title="Paid to (Beijing date) / 付款截止日（北京时间）",
            description="Last day, included, Beijing time (up to 24:00); empty = no upper bound. "
                        "/ 截止日期（含当日，北京时间至 24:00）；留空 = 不限。",
        ),
        "force": Param(
            False, type="boolean", title="Force resend / 强制重发",
            description="Send orders the warehouse already accepted again under the same code (the warehouse "
                        "keeps one), and retry orders it refused. / 已被仓库接收的订单以同一单号再次发送（仓库去重），"
                        "并重试被拒绝的订单。",
        ),
        "limit": Param(
            None, type=["null", "integer"], minimum=1, title="At most N orders / 最多 N 单",
            description="Stop after this many orders; empty = no limit. / 处理这么多单后停止；留空 = 不限。",
        ),
    },
    doc_md=__doc__,
)
def wms_order_push_manual():
    per_bridge("order_push_manual", task_id="push")


wms_order_push_manual()
