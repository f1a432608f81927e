"""Synchronize every SKU by hand, or preview what would be sent (dry run).

No schedule, so "unpause on trigger" starts nothing else (the hourly sync is `wms_item_sync`).
The same pipeline (`wmsbridge.pipelines.items.sync_items`); unchanged SKUs cost nothing.
A dry run is the default: untick it to send.

手动同步全部商品，或预览（试运行）。无定时计划；每小时的同步是 `wms_item_sync`。
默认为试运行，取消勾选才真正发送。
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from wmsbridge.assets import ITEMS_ASSET
from wmsbridge.dag_defaults import DAG_ARGS, WMS_POOL, bridge_param, served_bridges


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
    @task(pool=WMS_POOL, map_index_template="{{ bridge }}")
    def sync(bridge_id: str) -> dict:
        from wmsbridge.pipelines import tasks

        return tasks.item_sync_manual(bridge_id=bridge_id)

    @task(outlets=[ITEMS_ASSET])
    def publish(reports: list[dict], outlet_events=None) -> None:
        """Skipped (no asset event) when no bridge's SKUs reached the warehouse."""
        from airflow.sdk.exceptions import AirflowSkipException

        sent = {r["bridge"]: r["counts"].get("sent", 0) for r in reports if not r["dry_run"]}
        if not any(sent.values()):
            raise AirflowSkipException("no SKU synchronized")
        outlet_events[ITEMS_ASSET].extra = {"synchronized": sum(sent.values()), "by_bridge": sent}

    publish(sync.expand(bridge_id=served_bridges()))


wms_item_sync_manual()
