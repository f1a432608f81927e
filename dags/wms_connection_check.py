"""Check the warehouse connection on demand: address, credentials and customerId, end to end.

Trigger it after creating or changing the `qimen_default` connection (or pass another conn id).
The log names the address and the customerId it checked. Cost: one request. The default probe is an
`order.cancel` without an order code (nothing can be cancelled; the inventory.query allowance of about
one call a day is not spent); the `inventory` probe sends `inventory.query` for a dummy item instead.

按需检查仓库连接（地址、密钥、货主ID）。日志写明检查的地址和 customerId。只发一个请求：默认发送
不带订单号的 order.cancel（不会取消任何订单，不占用库存查询的每日次数）；选 inventory 则发送一次库存查询。
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from wmsbridge.dag_defaults import DAG_ARGS, WMS_POOL


@dag(
    dag_id="wms_connection_check",
    schedule=None,
    **DAG_ARGS,
    tags=["wms", "qimen", "ops"],
    params={
        "qimen_conn_id": Param(
            "qimen_default", type="string", title="Warehouse connection id / 仓库连接 ID",
            description="The qimen connection to check (Admin > Connections). / 要检查的仓库连接（管理 > 连接）。",
        ),
        "probe": Param(
            "cheap", type="string", enum=["cheap", "inventory"], title="Probe / 探测方式",
            description="cheap: order.cancel without an order code, cancels nothing, no inventory.query spent; "
                        "inventory: one inventory.query for a dummy item (Juxing allows about one a day). "
                        "/ cheap：不带订单号的 order.cancel，不取消任何订单；inventory：一次库存查询（聚星约每天一次）。",
        ),
    },
    doc_md=__doc__,
)
def wms_connection_check():
    @task(pool=WMS_POOL)
    def check() -> str:
        from wmsbridge.pipelines import tasks

        return tasks.connection_check()

    check()


wms_connection_check()
