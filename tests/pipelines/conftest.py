"""A whole bridge for end-to-end tests: a real shop database filled by the generator, the WMS
simulator over HTTP, and Airflow connections pointing at both (environment variables, as a
deployment would set them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from databases import throwaway_database
from sqlalchemy import create_engine

from wmsbridge.config import ENV_KEY
from wmsbridge.pipelines.runtime import Bridge
from wmsbridge.store.migrate import upgrade
from wmsbridge.store.repo import IntegrationStore
from wmsbridge.store.schema import order_sync
from wmsbridge.synthetic.generator import generate

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


@pytest.fixture
def make_shop(tmp_path):
    """``make_shop(backend, profile, orders=..., skus=..., bad_share=...)`` -> a filled shop."""
    opened = []

    def make(backend: str, profile: str, *, orders: int = 60, skus: int = 15, bad_share: float = 0.15, seed: int = 7):
        ctx = throwaway_database(backend, tmp_path, prefix="e2e")
        url = ctx.__enter__()
        opened.append(ctx)
        engine = create_engine(url)
        manifest = generate(engine, profile, orders=orders, skus=skus, seed=seed, bad_share=bad_share,
                            date_from=date(2026, 11, 20), date_to=date(2026, 11, 28))
        engine.dispose()
        return Shop(url.render_as_string(hide_password=False), profile, manifest, create_engine(url))

    yield make
    for ctx in reversed(opened):
        ctx.__exit__(None, None, None)


@pytest.fixture
def bridge_env(monkeypatch):
    """Point the Airflow connections and the bridge settings at a shop and a simulator."""

    def point(shop: Shop, simulator, *, qimen_extra: dict | None = None, **config):
        """``qimen_extra``: more connection extras (e.g. ``read_timeout``); ``config``: bridge settings."""
        monkeypatch.setenv("AIRFLOW_CONN_SHOP_DB", json.dumps(
            {"conn_type": "generic", "extra": {"sqlalchemy_url": shop.url}}))
        monkeypatch.setenv("AIRFLOW_CONN_QIMEN_DEFAULT", json.dumps({
            "conn_type": "qimen", "host": simulator.base_url, "login": "app-key", "password": simulator.secret,
            "extra": {"customer_id": simulator.customer_id, "owner_code": OWNER, "warehouse_code": WAREHOUSE,
                      "max_requests_per_second": 0, **(qimen_extra or {})},
        }))
        monkeypatch.setenv("WMS_RETRY_DELAY_SECONDS", "0")
        monkeypatch.setenv(ENV_KEY, json.dumps(
            {"profile": shop.profile, "chunk_size": 25, "default_logistics_code": "YTO", "sender": SENDER, **config}))
        upgrade(shop.engine)
        return IntegrationStore(shop.engine)

    return point


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
