"""End to end through Airflow (`dag.test`): a real shop database, the simulator over HTTP.

SKUs then orders reach the warehouse; bad orders are recorded as rejected with their reasons;
a second run sends nothing twice.
"""

from __future__ import annotations

import json
import os

import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, order_sync_rows, paid_order_codes, run_dag

from wmsbridge.store.schema import exchange_log

BACKENDS = ["sqlite", "postgresql", "mariadb"]
PROFILES = ["reference", "litemall"]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_items_then_orders_reach_the_warehouse_once(backend, profile, make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop(backend, profile)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)
    bad = shop.manifest.bad_orders
    paid = paid_order_codes(shop)
    good = paid - set(bad)
    assert bad and good, "the generated shop must hold both good and bad paid orders"

    assert run_dag("wms_item_sync").state == "success"
    synced_items = {i["item_code"] for i in sim.admin.items()}
    assert synced_items, "no SKU reached the warehouse"

    assert run_dag("wms_order_push").state == "success"
    at_warehouse = {o["order_code"] for o in sim.admin.orders()}
    assert at_warehouse == good
    rows = order_sync_rows(store)
    assert {c for c, r in rows.items() if r["state"] == "sent"} == good
    rejected = {c: r for c, r in rows.items() if r["state"] == "rejected"}
    assert set(rejected) == set(bad), {c: (bad.get(c), r["last_error_message"]) for c, r in rejected.items()}
    for code, row in rejected.items():
        assert json.loads(row["violations"]), f"{code} ({bad[code]}) rejected without a reason"
    assert all(r["wms_order_id"] for c, r in rows.items() if c in good)
    # every order line names an item the warehouse knew before the order came
    assert {l["item_code"] for o in sim.admin.orders() for l in o["lines"]} <= synced_items

    creates = sim.admin.counters()["deliveryorder.create"]["received"]
    assert run_dag("wms_order_push").state == "success"
    assert sim.admin.counters()["deliveryorder.create"]["received"] == creates, "a second run sent again"
    assert not any(sim.admin.repeats().values())
    with store.engine.connect() as conn:
        logged = conn.execute(sa.select(sa.func.count()).select_from(exchange_log)
                              .where(exchange_log.c.method == "deliveryorder.create")).scalar_one()
    assert logged == len(good)


def test_connection_check_passes_with_the_right_secret_and_fails_with_a_wrong_one(
        make_shop, bridge_env, wms_simulator_factory, monkeypatch):
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    bridge_env(make_shop("sqlite", "reference", orders=5, skus=3), sim)
    assert run_dag("wms_connection_check").state == "success"
    probes = sim.admin.counters()["order.cancel"]  # the cheap probe: an order.cancel with no order code
    assert probes["received"] >= 1
    assert sim.admin.counters().get("inventory.query", {}).get("received", 0) == 0
    assert run_dag("wms_connection_check", probe="inventory").state == "success"
    assert sim.admin.counters()["inventory.query"]["received"] == 1

    conn = json.loads(os.environ["AIRFLOW_CONN_QIMEN_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_QIMEN_DEFAULT", json.dumps(dict(conn, password="not-the-secret")))
    assert run_dag("wms_connection_check").state == "failed"
    refused = [r for r in sim.admin.requests(method="order.cancel") if r.get("code") == "sign-check-failure"]
    assert refused, "the wrong secret never reached the warehouse"
