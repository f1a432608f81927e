"""Check the warehouse connection on demand: address, credentials and signature, end to end.

Trigger it after creating or changing the `qimen_default` connection (or pass another conn id).
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from wmsbridge.dag_defaults import DEFAULT_ARGS, START_DATE, WMS_POOL


@dag(
    dag_id="wms_connection_check",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["wms", "qimen", "ops"],
    params={
        "qimen_conn_id": Param(
            "qimen_default", type="string", title="Warehouse connection id / 仓库连接 ID",
            description="The qimen connection to check (Admin > Connections). / 要检查的仓库连接（管理 > 连接）。",
        ),
    },
    doc_md=__doc__,
)
def wms_connection_check():
    @task(pool=WMS_POOL)
    def check(params=None) -> str:
        from qimen_provider.hooks.qimen import QimenHook

        ok, message = QimenHook(qimen_conn_id=params["qimen_conn_id"]).test_connection()
        if not ok:
            raise RuntimeError(f"warehouse connection {params['qimen_conn_id']!r} failed: {message}")
        return message

    check()


wms_connection_check()
