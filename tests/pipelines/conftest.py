"""A whole bridge for end-to-end tests: a real shop database filled by the generator, the WMS
simulator over HTTP, and Airflow connections pointing at both (environment variables, as a
deployment would set them). Plain helpers live in bridge_helpers.py."""

from __future__ import annotations

import json
import weakref
from datetime import date

import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, SENDER, WAREHOUSE, Shop, bridge, paid_order_codes
from databases import throwaway_database
from receivers import TOKEN, ThreadedReceiver
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from wmsbridge.config import ENV_KEY
from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import push_orders
from wmsbridge.pipelines.shipments import apply_shipments
from wmsbridge.receiver.app import create_app
from wmsbridge.receiver.composition import build_receiver
from wmsbridge.store.migrate import upgrade
from wmsbridge.store import IntegrationStore
from wmsbridge_tools.synthetic.generator import generate


@pytest.fixture(autouse=True)
def dispose_server_engines():
    """After each test, dispose every PostgreSQL and MariaDB engine that connected during it (shops,
    the bridges the test and its in-process DAG runs built). A task's process ends with its run; a
    test worker lives on, and MariaDB keeps the pooled connections of a dropped database open: three
    xdist workers ran the server out of connections."""
    engines = weakref.WeakSet()

    def seen(connection):
        engines.add(connection.engine)

    event.listen(Engine, "engine_connect", seen)
    try:
        yield
    finally:
        event.remove(Engine, "engine_connect", seen)
        for engine in list(engines):
            if engine.dialect.name != "sqlite":
                engine.dispose()


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


@pytest.fixture
def shipped_order(make_shop, wms_simulator_factory, bridge_env):
    """A litemall shop whose paid orders the warehouse accepted, and one of them shipped (confirmed
    over HTTP, written to the shop): ``(shop, sim, store, receiver, order_code, order_id)``."""
    opened = []

    def make(backend: str, **config):
        shop = make_shop(backend, "litemall", orders=12, skus=4, bad_share=0.0)
        sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
        store = bridge_env(shop, sim, callback_token=TOKEN, callback_customer_id=sim.customer_id, **config)
        assert sync_items(bridge("items")).sent > 0
        assert push_orders(bridge("push")).sent == len(paid_order_codes(shop)) > 3
        receiver = ThreadedReceiver(create_app(receiver=build_receiver())).__enter__()
        opened.append(receiver)
        code = sorted(paid_order_codes(shop))[0]
        sim.admin.ship([code], callback_url=receiver.url())
        assert apply_shipments(bridge("ship")).sent == 1
        with shop.engine.connect() as conn:
            order_id = conn.execute(sa.text("SELECT id FROM litemall_order WHERE order_sn = :c"), {"c": code}).scalar_one()
        return shop, sim, store, receiver, code, order_id

    yield make
    for receiver in opened:
        receiver.__exit__(None, None, None)
