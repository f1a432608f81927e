"""Two shops, two warehouse accounts, one deployment, through Airflow (dag.test, one mapped task per
bridge). The shops share every order code and SKU code (the same generator seed); each warehouse is
its own simulator over HTTP. Nothing crosses: no message, no tracking number, no stock figure; one
warehouse down leaves the other bridge's tasks green. On SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, SENDER, WAREHOUSE, paid_order_codes, run_dag
from receivers import ThreadedReceiver

from wmsbridge.config import ENV_KEY, load_deployment
from wmsbridge.receiver.app import create_app
from wmsbridge.receiver.composition import build_receiver
from wmsbridge.store import IntegrationStore
from wmsbridge.store.migrate import upgrade
from wmsbridge.store.schema import stock_writeback

BEIJING = timezone(timedelta(hours=8))
TOKENS = {"shop-a": "callback-token-of-shop-a-000", "shop-b": "callback-token-of-shop-b-000"}


def _qimen(sim) -> str:
    return json.dumps({"conn_type": "qimen", "host": sim.base_url, "login": "app-key", "password": sim.secret,
                       "extra": {"customer_id": sim.customer_id, "owner_code": OWNER, "warehouse_code": WAREHOUSE,
                                 "max_requests_per_second": 0, "max_retries": 0}})


@pytest.fixture
def two_bridges(backend, make_shop, wms_simulator_factory, monkeypatch):
    shops = {b: make_shop(backend, "reference", orders=16, skus=5, bad_share=0.0, seed=11) for b in TOKENS}
    sims = {"shop-a": wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER, customer_id="CUST-A"),
            "shop-b": wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER, customer_id="CUST-B")}
    for bridge_id, shop in shops.items():
        name = bridge_id.replace("-", "_").upper()
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}_DB", json.dumps(
            {"conn_type": "generic", "extra": {"sqlalchemy_url": shop.url}}))
        monkeypatch.setenv(f"AIRFLOW_CONN_QIMEN_{name}", _qimen(sims[bridge_id]))
    monkeypatch.setenv("WMS_RETRY_DELAY_SECONDS", "0")
    # one store for both, in shop a's database
    monkeypatch.setenv(ENV_KEY, json.dumps({
        "profile": "reference", "chunk_size": 25, "default_logistics_code": "YTO", "sender": SENDER,
        "store_conn_id": "shop_a_db",
        "bridges": {b: {"shop_conn_id": f"{b.replace('-', '_')}_db", "qimen_conn_id": f"qimen_{b.replace('-', '_')}",
                        "callback_token": TOKENS[b], "callback_customer_id": sims[b].customer_id}
                    for b in TOKENS}}))
    upgrade(shops["shop-a"].engine)
    stores = {b: IntegrationStore(shops["shop-a"].engine, bridge_id=b) for b in TOKENS}
    assert paid_order_codes(shops["shop-a"]) == paid_order_codes(shops["shop-b"])  # the same codes
    return shops, sims, stores


def _by_bridge(run, task_id: str) -> dict[str, str]:
    """The state of each bridge's mapped task of ``task_id`` (its map index is named after the bridge)."""
    found = {}
    for ti in run.get_task_instances():
        if ti.task_id == task_id:
            found[ti.rendered_map_index] = ti.state
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_two_shops_with_the_same_codes_never_cross(two_bridges):
    shops, sims, stores = two_bridges
    codes = paid_order_codes(shops["shop-a"])
    items = run_dag("wms_item_sync_manual", dry_run=False)
    assert _by_bridge(items, "sync") == {"shop-a": "success", "shop-b": "success"}
    skus = {i["item_code"] for i in sims["shop-a"].admin.items()}
    assert skus == {i["item_code"] for i in sims["shop-b"].admin.items()} and skus

    # each warehouse holds its own stock: a figure that crossed would show
    for bridge_id, quantity in (("shop-a", 7), ("shop-b", 23)):
        sims[bridge_id].admin.seed_stock([{"itemCode": code, "quantity": quantity} for code in skus])
    stock = run_dag("wms_inventory_sync_manual", max_missing_pct=100, max_zeroed_pct=100, max_total_change_pct=1e9)
    assert _by_bridge(stock, "sync") == {"shop-a": "success", "shop-b": "success"}
    day = datetime.now(BEIJING).date()
    assert {r.quantity for r in stores["shop-a"].inventory.snapshot(day)} == {7}
    assert {r.quantity for r in stores["shop-b"].inventory.snapshot(day)} == {23}
    for bridge_id, shop in shops.items():  # each shop got its own warehouse's figure, less its own open orders
        with shops["shop-a"].engine.connect() as conn:
            decided = {r.sku_id: r for r in conn.execute(sa.select(stock_writeback).where(
                stock_writeback.c.bridge_id == bridge_id, stock_writeback.c.outcome == "applied"))}
        with shop.engine.connect() as conn:
            written = dict(conn.execute(sa.text("SELECT sku_id, quantity FROM shop_stock")).all())
        assert decided and {r.wms_quantity for r in decided.values()} == {7 if bridge_id == "shop-a" else 23}
        assert {str(k): v for k, v in written.items() if str(k) in decided} == {
            k: r.written_value for k, r in decided.items()}, bridge_id
    push = run_dag("wms_order_push_manual", dry_run=False)
    assert _by_bridge(push, "push") == {"shop-a": "success", "shop-b": "success"}, push.state
    for bridge_id, sim in sims.items():
        sent = [o["order_code"] for o in sim.admin.orders()]
        assert sorted(sent) == sorted(codes), bridge_id  # each warehouse got its own shop's orders, once
        requests = sim.admin.requests(method="deliveryorder.create")
        assert {r["query"].get("customerId") for r in requests} == {sim.customer_id}, bridge_id
        assert {r["state"] for r in stores[bridge_id].orders.rows(codes).values()} == {"sent"}

    # warehouse a ships one order, posting its confirmation with a's token; b's order of the same code stays
    code = sorted(codes)[0]
    with ThreadedReceiver(create_app(receiver=build_receiver(load_deployment()))) as receiver:
        sims["shop-a"].admin.ship([code], callback_url=receiver.url(TOKENS["shop-a"]))
        ship = run_dag("wms_shipments")
    assert _by_bridge(ship, "apply") == {"shop-a": "success", "shop-b": "success"}
    assert stores["shop-a"].orders.order(code)["state"] == "shipped"
    assert stores["shop-b"].orders.order(code)["state"] == "sent"
    with shops["shop-a"].engine.connect() as conn:
        tracking_a = conn.execute(sa.text("SELECT tracking_no FROM shop_order WHERE order_no = :c"), {"c": code}).scalar()
    with shops["shop-b"].engine.connect() as conn:
        tracking_b = conn.execute(sa.text("SELECT tracking_no FROM shop_order WHERE order_no = :c"), {"c": code}).scalar()
    assert tracking_a and not tracking_b

    # warehouse b goes down: a's task is green whatever b's does, and only b's warehouse saw b's orders
    sims["shop-b"].admin.set_faults(fail_5xx=1.0)
    before = {b: len(sim.admin.requests(method="deliveryorder.create")) for b, sim in sims.items()}
    again = run_dag("wms_order_push_manual", dry_run=False, force=True)
    assert _by_bridge(again, "push")["shop-a"] == "success"
    answered = {b: [r["http_status"] for r in sim.admin.requests(method="deliveryorder.create")[before[b]:]]
                for b, sim in sims.items()}
    assert answered["shop-a"] and set(answered["shop-a"]) == {200}
    assert answered["shop-b"] and set(answered["shop-b"]) == {503}
    assert {r["state"] for r in stores["shop-a"].orders.rows(codes).values()} >= {"sent"}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_bridge_naming_a_missing_connection_fails_alone_naming_bridge_and_key(two_bridges, monkeypatch, capsys):
    shops, sims, stores = two_bridges
    monkeypatch.delenv("AIRFLOW_CONN_QIMEN_SHOP_B")  # shop b names a warehouse connection nobody created
    capsys.readouterr()
    run = run_dag("wms_item_sync_manual", dry_run=False)
    out = capsys.readouterr().out
    tries = {ti.rendered_map_index: (ti.state, ti.try_number) for ti in run.get_task_instances() if ti.task_id == "sync"}
    assert tries == {"shop-a": ("success", 1), "shop-b": ("failed", 1)}  # failed at once: no retries
    assert "wms_bridge_config.bridges.shop-b.qimen_conn_id" in out
    assert sims["shop-a"].admin.items() and not sims["shop-b"].admin.requests()

    # the operations page tells each bridge its own task's state: the run failed, shop a's part did not
    from wmsbridge.ops.app import airflow_state
    from wmsbridge.ops.page import runs_section

    def this_run(bridge_id: str) -> dict:
        _paused, _latest, recent = airflow_state(bridge_id)
        return next(r for r in recent if r["run_id"] == run.run_id)

    assert this_run("shop-a")["state"] == this_run("shop-b")["state"] == "failed"
    assert (this_run("shop-a")["bridge_state"], this_run("shop-b")["bridge_state"]) == ("success", "failed")
    html = runs_section([this_run("shop-a")], "shop-a")
    assert f"data-run='{run.run_id}' data-bridge-state='success'" in html and "Bridge shop-a / 本桥接" in html
