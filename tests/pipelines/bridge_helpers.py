"""What the end-to-end tests share besides fixtures: the shop's codes and sender, the Shop a
fixture makes, the Bridge a task builds, a DAG run through Airflow, and reads of the shop and the store.

Test modules import it by name (``from bridge_helpers import ...``), never ``from conftest``: pytest
imports every folder's conftest.py under that same name, so which one ``conftest`` means depends on
what was collected last (a run over several folders, an xdist worker).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from wmsbridge.pipelines.runtime import Bridge
from wmsbridge.store import IntegrationStore
from wmsbridge.store.schema import order_sync

WAREHOUSE, OWNER = "WH01", "OWNER01"
# The shop says who ships (there is no default sender).
SENDER = {"name": "测试商城发货组", "mobile": "13912345678", "province": "浙江省", "city": "杭州市",
          "area": "余杭区", "detail": "文一西路 998 号"}


@dataclass
class Shop:
    url: str
    profile: str
    manifest: object
    engine: object


def bridge(run_id: str) -> Bridge:
    """The same Bridge a task builds, for driving pipelines without a DAG run."""
    return Bridge.from_airflow(run_id)


def quick_retry_bridge(run_id: str, *, max_retries: int = 1, backoff_base: float = 0.05) -> Bridge:
    """The task's Bridge with a hook that backs off in milliseconds, not seconds: fault tests run
    many retries, and the production backoff would only make them slow, not more telling."""
    from qimen_provider.hooks.qimen import QimenHook

    built = Bridge.from_airflow(run_id)
    built.hook = QimenHook(qimen_conn_id=built.config.qimen_conn_id, max_retries=max_retries,
                           backoff_base=backoff_base, backoff_max=backoff_base * 4,
                           pool_maxsize=max(8, built.config.push_concurrency))
    return built


def paid_order_codes(shop: Shop) -> set[str]:
    """Every paid order code of the shop, read straight from its own tables."""
    table, code, status, paid = {
        "reference": ("shop_order", "order_no", "status", "'paid'"),
        "litemall": ("litemall_order", "order_sn", "order_status", "201"),
    }[shop.profile]
    with shop.engine.connect() as conn:
        return set(conn.execute(sa.text(f"SELECT {code} FROM {table} WHERE {status} = {paid}")).scalars())


def order_sync_rows(store: IntegrationStore) -> dict[str, dict]:
    """wms_order_sync as ``{deliveryOrderCode: row}``."""
    with store.engine.connect() as conn:
        return {r.delivery_order_code: r._asdict() for r in conn.execute(sa.select(order_sync))}


def run_dag(dag_id: str, *, logical_date=None, **conf):
    """Run one DAG through Airflow (``dag.test``) and return its DagRun (``.state``, ``.run_id``).

    ``logical_date``: the same one twice clears and runs the SAME run again (same run_id, next
    try), as an operator's "Clear" does."""
    import os

    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(dag_id)
    if logical_date is None:
        return dag.test(run_conf=conf or None)
    # dag.test replaces the run of that logical date under the same run id (run_after fixes it)
    return dag.test(run_conf=conf or None, logical_date=logical_date, run_after=logical_date)
