"""New or changed shop SKUs -> the warehouse (`singleitem.synchronize`).

Watermark: the store's `items` cursor (wms_cursor), moved only by real, complete runs, never by a
dry run or a run of chosen SKUs; read with an overlap for transactions still open then
(`watermark_overlap_minutes`). Unchanged SKUs cost nothing (content hash). Publishes the
`wms://warehouse/items` asset when SKUs changed.
No trigger-form options: every SKU or a preview is `wms_item_sync_manual` (unscheduled).
"""

from __future__ import annotations

from airflow.sdk import dag, task
from wmsbridge.assets import ITEMS_ASSET
from wmsbridge.dag_defaults import DAG_ARGS, WMS_POOL, served_bridges


@dag(
    dag_id="wms_item_sync",
    schedule="@hourly",
    **DAG_ARGS,
    tags=["wms", "qimen", "items"],
    doc_md=__doc__,
)
def wms_item_sync():
    @task(pool=WMS_POOL, map_index_template="{{ bridge }}")
    def sync(bridge_id: str) -> dict:
        from wmsbridge.pipelines import tasks

        return tasks.item_sync(bridge_id=bridge_id)

    @task(outlets=[ITEMS_ASSET])
    def publish(reports: list[dict], outlet_events=None) -> None:
        """Skipped (no asset event) when no bridge's SKUs reached the warehouse."""
        from airflow.sdk.exceptions import AirflowSkipException

        sent = {r["bridge"]: r["counts"].get("sent", 0) for r in reports if not r["dry_run"]}
        if not any(sent.values()):
            raise AirflowSkipException("no SKU synchronized")
        outlet_events[ITEMS_ASSET].extra = {"synchronized": sum(sent.values()), "by_bridge": sent}

    publish(sync.expand(bridge_id=served_bridges()))


wms_item_sync()
