"""Synchronize every SKU by hand, or preview what would be sent (dry run).

No schedule, so "unpause on trigger" starts nothing else (the hourly sync is `wms_item_sync`).
The same pipeline (`wmsbridge.pipelines.items.sync_items`); unchanged SKUs cost nothing.
A dry run is the default: untick it to send.

手动同步全部商品，或预览（试运行）。无定时计划；每小时的同步是 `wms_item_sync`。
默认为试运行，取消勾选才真正发送。
"""

from __future__ import annotations

from airflow.sdk import Param, dag
from wmsbridge.dag_defaults import DAG_ARGS, bridge_param, per_bridge, publish_items


@dag(
    dag_id="wms_item_sync_manual",
    schedule=None,
    **DAG_ARGS,
    tags=["wms", "qimen", "items", "manual"],
    params={
        "bridge": bridge_param(),
        "dry_run": Param(
            True, type="boolean", title="Dry run (preview) / 试运行（预览）",
            description="Ticked: validate and report what would be sent, send nothing. Untick to send. "
                        "/ 勾选：只校验并报告将发送的商品，不发送；取消勾选才发送。",
        ),
    },
    doc_md=__doc__,
)
def wms_item_sync_manual():
    publish_items(per_bridge("item_sync_manual", task_id="sync"))


wms_item_sync_manual()
