"""Juxing's rules end to end (issue 9): customerId required, no made-up sender, itemId on order
lines, open logistics codes, and litemall's SKU price, unit and deleted products."""

from __future__ import annotations

import json
import os
from decimal import Decimal

import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, SENDER, WAREHOUSE, bridge, order_sync_rows, paid_order_codes
from databases import BACKENDS

from qimen.parsing import parse_request
from wmsbridge.errors import ConfigError
from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import push_orders


def _sent(sim, method: str) -> list[dict]:
    return [parse_request(method, r["body"]) for r in sim.admin.requests(method)]


def test_an_empty_customer_id_stops_the_run_before_anything_is_sent(make_shop, bridge_env, wms_simulator_factory,
                                                                    monkeypatch):
    shop = make_shop("sqlite", "reference", orders=5, skus=3, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    bridge_env(shop, sim)
    conn = json.loads(os.environ["AIRFLOW_CONN_QIMEN_DEFAULT"])
    conn["extra"]["customer_id"] = ""
    monkeypatch.setenv("AIRFLOW_CONN_QIMEN_DEFAULT", json.dumps(conn))
    with pytest.raises(ConfigError, match="connection 'qimen_default': extra 'customer_id'"):
        push_orders(bridge("run-1"))
    assert sim.admin.requests() == []


def test_owner_code_defaults_to_the_customer_id(make_shop, bridge_env, wms_simulator_factory, monkeypatch):
    shop = make_shop("sqlite", "reference", orders=3, skus=2, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE)
    bridge_env(shop, sim)
    conn = json.loads(os.environ["AIRFLOW_CONN_QIMEN_DEFAULT"])
    del conn["extra"]["owner_code"]
    monkeypatch.setenv("AIRFLOW_CONN_QIMEN_DEFAULT", json.dumps(conn))
    assert sync_items(bridge("items")).sent > 0
    assert {d["ownerCode"] for d in _sent(sim, "singleitem.synchronize")} == {sim.customer_id}


@pytest.mark.parametrize("missing", [None, ["mobile"], ["name", "detail"]])
def test_missing_sender_settings_stop_the_order_run_naming_the_keys(make_shop, bridge_env, wms_simulator_factory,
                                                                    missing):
    shop = make_shop("sqlite", "reference", orders=5, skus=3, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    sender = None if missing is None else {k: v for k, v in SENDER.items() if k not in missing}
    bridge_env(shop, sim, sender=sender)
    expected = missing or ["name", "mobile", "province", "city", "detail"]
    with pytest.raises(ConfigError, match=", ".join(f"sender.{k}" for k in expected) + " not set"):
        push_orders(bridge("run-1"))
    assert sim.admin.requests() == []  # stopped before the SKU sync too


def test_orders_carry_the_configured_sender(make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop("sqlite", "reference", orders=5, skus=3, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    bridge_env(shop, sim)
    assert push_orders(bridge("run-1")).sent > 0
    senders = {json.dumps(d["deliveryOrder"]["senderInfo"], sort_keys=True) for d in _sent(sim, "deliveryorder.create")}
    assert [json.loads(s) for s in senders] == [{
        "name": SENDER["name"], "mobile": SENDER["mobile"], "province": SENDER["province"], "city": SENDER["city"],
        "area": SENDER["area"], "detailAddress": SENDER["detail"],
    }]
    assert "13800000000" not in "".join(r["body"] for r in sim.admin.requests())


def test_order_lines_carry_the_warehouse_item_id_and_open_carrier_codes_pass(make_shop, bridge_env,
                                                                            wms_simulator_factory):
    shop = make_shop("sqlite", "reference", orders=10, skus=4, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, default_logistics_code="BSKY")  # a real WMS code outside the SPEC's list
    assert sync_items(bridge("items")).sent > 0
    ids = {code: row["wms_item_id"] for code, row in store.items.rows(
        [i["item_code"] for i in sim.admin.items()]).items()}
    assert all(ids.values())

    report = push_orders(bridge("run-1"))
    assert report.sent == len(paid_order_codes(shop)) and report.rejected == 0
    docs = _sent(sim, "deliveryorder.create")
    lines = [line for d in docs for line in d["orderLines"]]
    assert lines and all(line["itemId"] == ids[line["itemCode"]] for line in lines)
    assert {d["deliveryOrder"]["logisticsCode"] for d in docs} <= {"BSKY", *{c for c in ("SF", "YTO", "ZTO",
                                                                                        "YUNDA", "STO", "EMS")}}
    assert "BSKY" in {d["deliveryOrder"]["logisticsCode"] for d in docs}


@pytest.mark.parametrize("backend", BACKENDS)
def test_litemall_sku_price_unit_and_deleted_products(make_shop, bridge_env, wms_simulator_factory, backend, caplog):
    shop = make_shop(backend, "litemall", orders=12, skus=6, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)
    with shop.engine.begin() as conn:
        order_id, product_id, goods_id, goods_sn = conn.execute(sa.text(
            "SELECT og.order_id, og.product_id, og.goods_id, og.goods_sn FROM litemall_order_goods og "
            "JOIN litemall_order o ON o.id = og.order_id WHERE o.order_status = 201 ORDER BY og.id")).first()
        # The goods' lowest price says 79.00; this SKU costs 89.00 (issue 9: order 1018).
        conn.execute(sa.text("UPDATE litemall_goods SET retail_price = 79 WHERE id = :g"), {"g": goods_id})
        conn.execute(sa.text("UPDATE litemall_goods_product SET price = 89 WHERE id = :p"), {"p": product_id})
        # Another paid order names a product whose goods were deleted since.
        deleted_order, deleted_product, deleted_goods, deleted_sn = conn.execute(sa.text(
            "SELECT og.order_id, og.product_id, og.goods_id, og.goods_sn FROM litemall_order_goods og "
            "JOIN litemall_order o ON o.id = og.order_id WHERE o.order_status = 201 AND og.order_id <> :o "
            "AND og.goods_id NOT IN (SELECT goods_id FROM litemall_order_goods WHERE order_id = :o) "
            "ORDER BY og.id"), {"o": order_id}).first()
        conn.execute(sa.text("UPDATE litemall_goods SET deleted = :t WHERE id = :g"),
                     {"t": True, "g": deleted_goods})
        order_code = conn.execute(sa.text("SELECT order_sn FROM litemall_order WHERE id = :o"),
                                  {"o": order_id}).scalar()
        # litemall's own region table still says 玉环县 (玉环市 since 2017)
        conn.execute(sa.text("UPDATE litemall_order SET address = :a, mobile = '13912345678' WHERE id = :o"),
                     {"a": "浙江省台州市玉环县 楚门镇中山路12号", "o": order_id})
        deleted_code = conn.execute(sa.text("SELECT order_sn FROM litemall_order WHERE id = :o"),
                                    {"o": deleted_order}).scalar()

    first = push_orders(bridge("run-1"))
    assert first.sent > 0, first.samples
    items = {d["item"]["itemCode"]: d["item"] for d in _sent(sim, "singleitem.synchronize")}
    assert {i.get("stockUnit") for i in items.values()} == {"件"}  # litemall's default ’件‘, unquoted
    doc = next(d for d in _sent(sim, "deliveryorder.create") if d["deliveryOrder"]["deliveryOrderCode"] == order_code)
    line = next(li for li in doc["orderLines"] if li["itemCode"] == f"{goods_sn}-{product_id}")
    assert Decimal(line["retailPrice"]) == Decimal("89.00")
    receiver = doc["deliveryOrder"]["receiverInfo"]
    assert (receiver["province"], receiver["city"], receiver["area"], receiver["town"], receiver["detailAddress"]) \
        == ("浙江省", "台州市", "玉环市", "楚门镇", "楚门镇中山路12号")

    deleted_item = f"{deleted_sn}-{deleted_product}"
    rows = order_sync_rows(store)
    assert rows[deleted_code]["state"] == "rejected"
    assert deleted_item in rows[deleted_code]["last_error_message"]
    assert store.items.rows([deleted_item])[deleted_item]["state"] == "rejected"

    item_requests = len(sim.admin.requests("singleitem.synchronize"))
    caplog.clear()
    with caplog.at_level("INFO", logger="wmsbridge.pipelines.orders"):
        second = push_orders(bridge("run-2"))
    assert second.sent == 0 and second.rejected >= 1
    # The deleted product is not "synchronized" (a full shop scan, for nothing) again.
    assert len(sim.admin.requests("singleitem.synchronize")) == item_requests
    assert "synchronizing" not in caplog.text


def test_a_strict_simulator_catches_orders_sent_to_the_items_address(make_shop, bridge_env, wms_simulator_factory,
                                                                    monkeypatch):
    """Juxing: v2 for items, v1 for orders. One connection for both is caught, a second one fixes it."""
    from wms_simulator.config import JUXING_METHOD_PATHS

    shop = make_shop("sqlite", "reference", orders=8, skus=3, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER, method_paths=JUXING_METHOD_PATHS)
    store = bridge_env(shop, sim)
    wrong = push_orders(bridge("run-1"))
    assert wrong.needs_person == len(paid_order_codes(shop)) and wrong.sent == 0
    rows = order_sync_rows(store).values()
    assert all("/api/v1/" in r["last_error_message"] for r in rows), [r["last_error_message"] for r in rows]

    default = json.loads(os.environ["AIRFLOW_CONN_QIMEN_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_QIMEN_ORDERS",
                       json.dumps(dict(default, host=sim.base_url.replace("/api/v2/", "/api/v1/"))))
    bridge_env(shop, sim, qimen_method_conn_ids={"deliveryorder.create": "qimen_orders"})
    fixed = push_orders(bridge("run-2"), force=True)
    assert fixed.sent == len(paid_order_codes(shop))


def test_a_strict_stock_simulator_refuses_orders_beyond_stock(make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop("sqlite", "reference", orders=8, skus=3, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER, strict_stock=True)
    store = bridge_env(shop, sim)
    report = push_orders(bridge("run-1"))  # the warehouse holds no stock at all
    assert report.sent == 0 and report.needs_person == len(paid_order_codes(shop))
    assert {r["last_error_code"] for r in order_sync_rows(store).values()} == {"insufficient-stock"}
    assert sim.admin.orders() == []
