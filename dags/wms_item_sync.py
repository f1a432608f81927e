"""New or changed shop SKUs -> the warehouse (`singleitem.synchronize`).

Watermark: the store's `items` cursor (wms_cursor), moved only by real, complete runs, never by a
dry run or a run of chosen SKUs; read with an overlap for transactions still open then
(`watermark_overlap_minutes`). Unchanged SKUs cost nothing (content hash). Publishes the
`wms://warehouse/items` asset when SKUs changed.
No trigger-form options: every SKU or a preview is `wms_item_sync_manual` (unscheduled).
"""

from __future__ import annotations

from airflow.sdk import dag
from wmsbridge.dag_defaults import DAG_ARGS, per_bridge, publish_items


@dag(
    dag_id="wms_item_sync",
    schedule="@hourly",
    **DAG_ARGS,
    tags=["wms", "qimen", "items"],
    doc_md=__doc__,
)
def wms_item_sync():
    publish_items(per_bridge("item_sync", task_id="sync"))


wms_item_sync()
