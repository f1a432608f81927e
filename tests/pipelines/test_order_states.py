"""What a run does with orders the warehouse refused, and what a forced run does with them."""

from __future__ import annotations

import json
import os

import pytest
from bridge_helpers import OWNER, WAREHOUSE, bridge, order_sync_rows, paid_order_codes

from wmsbridge.config import BridgeConfig

from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import push_orders


def test_a_refused_order_waits_for_a_forced_run_and_then_goes_once(make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop("sqlite", "reference", orders=40, skus=8, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)
    good = paid_order_codes(shop)
    assert sync_items(bridge("items")).undelivered == 0

    # a refusal that is no passing fault (qimen.answers): the order waits for a person
    sim.admin.set_faults(failure=1.0, failure_codes=["ORDER_BLOCKED"], methods=["deliveryorder.create"], seed=1)
    first = push_orders(bridge("run-1"))
    assert first.needs_person == len(good) and first.sent == 0 and first.retry_waiting == 0
    rows = order_sync_rows(store)
    assert {rows[c]["state"] for c in good} == {"failed"}
    assert {rows[c]["last_error_code"] for c in good} == {"ORDER_BLOCKED"}
    assert not any(rows[c]["last_error_retryable"] for c in good)

    sim.admin.set_faults(failure=0.0)
    again = push_orders(bridge("run-2"))  # a business refusal is not retried by itself
    assert again.sent == 0 and not sim.admin.orders()

    chosen = sorted(good)[:3]
    forced = push_orders(bridge("run-3"), order_codes=chosen, force=True)
    assert forced.sent == 3
    assert sorted(o["order_code"] for o in sim.admin.orders()) == chosen
    rows = order_sync_rows(store)
    assert {rows[c]["state"] for c in chosen} == {"sent"}
    assert {rows[c]["state"] for c in good - set(chosen)} == {"failed"}

    assert push_orders(bridge("run-4"), order_codes=chosen, force=True).sent == 3  # resent, same codes
    assert len(sim.admin.orders()) == 3 and sum(sim.admin.repeats().values()) == 3


def test_orders_can_go_to_their_own_address(make_shop, bridge_env, wms_simulator_factory, monkeypatch):
    """Juxing gives /api/v2/... for items and /api/v1/... for orders: one connection per method."""
    shop = make_shop("sqlite", "reference", orders=20, skus=5, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    bridge_env(shop, sim, qimen_method_conn_ids={"taobao.qimen.deliveryorder.create": "qimen_orders"})
    default = json.loads(os.environ["AIRFLOW_CONN_QIMEN_DEFAULT"])
    v1 = sim.base_url.replace("/api/v2/", "/api/v1/")
    monkeypatch.setenv("AIRFLOW_CONN_QIMEN_ORDERS", json.dumps(dict(default, host=v1)))

    report = push_orders(bridge("run-1"))  # syncs the SKUs first, then sends the orders
    assert report.sent == len(paid_order_codes(shop)) > 0
    paths = {(r["method"], r["path"]) for r in sim.admin.requests()}
    assert {p for m, p in paths if m == "deliveryorder.create"} == {"/api/v1/openapi/wms/wmsnotify/9"}
    assert {p for m, p in paths if m == "singleitem.synchronize"} == {"/api/v2/openapi/wms/wmsnotify/9"}


def test_a_method_override_must_name_a_qimen_method():
    with pytest.raises(ValueError, match="unknown Qimen methods"):
        BridgeConfig.from_mapping({"qimen_method_conn_ids": {"deliveryorder.creat": "x"}})
