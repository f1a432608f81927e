"""The daily stock sync on demand (`inventory.query`), e.g. to re-run today's after a fix.

No schedule, so triggering it never starts anything else. Without `force` it keeps the once-a-day
rule like the scheduled `wms_inventory_sync` (a second full sync for the same Beijing day is
refused and says so); with `force` it queries the warehouse again and replaces today's snapshot.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from wmsbridge.dag_defaults import DEFAULT_ARGS, START_DATE, WMS_POOL


@dag(
    dag_id="wms_inventory_sync_manual",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["wms", "qimen", "inventory", "manual"],
    params={
        "force": Param(False, type="boolean", title="Force / 强制",
                       description="Query the warehouse again although today's full sync already ran "
                                   "(the warehouse allows about one a day). 今日已同步时仍再次查询库存。"),
    },
    doc_md=__doc__,
)
def wms_inventory_sync_manual():
    @task(pool=WMS_POOL)
    def sync(params=None, run_id=None) -> dict:
        from wmsbridge.pipelines.inventory import sync_inventory
        from wmsbridge.pipelines.policy import run_flow
        from wmsbridge.pipelines.runtime import Bridge

        return run_flow(lambda: sync_inventory(Bridge.from_airflow(run_id), force=params["force"]))

    sync()


wms_inventory_sync_manual()
