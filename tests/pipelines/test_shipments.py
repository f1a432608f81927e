"""Shipment confirmations end to end: the warehouse posts, the receiver stores, wms_shipments
applies them to the shop through its profile (litemall and reference, on every backend)."""

from __future__ import annotations

import os
from datetime import datetime

import httpx
import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, bridge, order_sync_rows, paid_order_codes, run_dag
from confirm_steps import stored
from databases import BACKENDS
from receivers import SAMPLE, TOKEN, ThreadedReceiver, standalone_receiver

from qimen.parsing import parse_deliveryorder_confirm, parse_response
from wmsbridge.pipelines.orders import push_orders
from wmsbridge.pipelines.shipments import apply_shipments
from wmsbridge.receiver.app import create_app
from wmsbridge.receiver.composition import build_receiver

PROFILES = ("litemall", "reference")
SHOP_COLUMNS = {  # table, code, status, tracking, carrier, time, id
    "litemall": ("litemall_order", "order_sn", "order_status", "ship_sn", "ship_channel", "ship_time"),
    "reference": ("shop_order", "order_no", "status", "tracking_no", "carrier_code", "shipped_at"),
}
SHIPPED = {"litemall": 301, "reference": "shipped"}
PAID = {"litemall": 201, "reference": "paid"}


def shop_shipment(shop, code: str) -> tuple:
    table, code_col, status, tracking, carrier, when = SHOP_COLUMNS[shop.profile]
    with shop.engine.connect() as conn:
        return tuple(conn.execute(sa.text(
            f"SELECT {status}, {tracking}, {carrier}, {when} FROM {table} WHERE {code_col} = :c"), {"c": code}).one())


def post(url: str, body: bytes) -> object:
    response = httpx.post(url, content=body, headers={"Content-Type": "text/xml;charset=utf-8"}, timeout=30)
    return parse_response(response.content)


def sample_for(code: str, **replace: bytes) -> bytes:
    """Juxing's sample about our order ``code`` (and its own outBizCode)."""
    body = SAMPLE.replace(b"JY2009260440", code.encode()).replace(b"1601100137", f"OB-{code}".encode())
    for old, new in replace.items():
        body = body.replace(old.encode(), new)
    return body


@pytest.fixture
def shipping_bridge(make_shop, bridge_env, wms_simulator_factory):
    """``shipping_bridge(backend, profile)`` -> (shop, simulator, store) with every valid order sent."""

    def make(backend: str, profile: str, *, push: bool = True):
        shop = make_shop(backend, profile, orders=12, skus=4, bad_share=0.0)
        sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
        store = bridge_env(shop, sim, callback_token=TOKEN, callback_customer_id=sim.customer_id)
        if push:
            assert push_orders(bridge("push")).sent == len(paid_order_codes(shop)) > 3
        return shop, sim, store

    return make


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_juxing_sample_stored_and_applied(shipping_bridge, backend, profile):
    shop, sim, store = shipping_bridge(backend, profile)
    code = sorted(paid_order_codes(shop))[0]
    body = sample_for(code, **{"<orderConfirmTime></orderConfirmTime>":
                               b"<orderConfirmTime>2020-09-26 13:53:08.0</orderConfirmTime>"})
    with ThreadedReceiver(create_app(receiver=build_receiver())) as receiver:
        assert post(receiver.url(), body).success
        assert post(receiver.url(), SAMPLE).success  # Juxing's own order code: not one of ours

    report = apply_shipments(bridge("ship-1"))
    assert (report.sent, report.retry_waiting, report.needs_person) == (1, 1, 0)
    status, tracking, carrier, when = shop_shipment(shop, code)
    assert (status, tracking, carrier) == (SHIPPED[profile], "YT4815765342047", "YTO")
    # the ship time in the shop's own zone: litemall writes Beijing wall time, reference UTC
    expected = datetime(2020, 9, 26, 13, 53, 8) if profile == "litemall" else datetime(2020, 9, 26, 5, 53, 8)
    assert when.replace(microsecond=0) == expected if isinstance(when, datetime) else str(when).startswith(str(expected))
    row = order_sync_rows(store)[code]
    assert (row["state"], row["tracking_numbers"], row["carrier_code"]) == ("shipped", "YT4815765342047", "YTO")
    assert row["shop_written_at"] is not None

    inbox = {r["delivery_order_code"]: r for r in store.confirmations.due()}
    assert list(inbox) == ["JY2009260440"] and inbox["JY2009260440"]["state"] == "waiting"
    assert "no order JY2009260440" in inbox["JY2009260440"]["process_error"]

    # applying again changes nothing: the unknown order is still kept and tried, never dropped
    before = shop_shipment(shop, code)
    again = apply_shipments(bridge("ship-2"))
    assert (again.sent, again.retry_waiting) == (0, 1) and shop_shipment(shop, code) == before
    # even a confirmation applied once more (a crash before it was marked) is a no-op
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE wms_shipment_inbox SET state = 'received' WHERE delivery_order_code = :c"),
                     {"c": code})
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE wms_order_sync SET shop_written_at = NULL WHERE delivery_order_code = :c"),
                     {"c": code})
    third = apply_shipments(bridge("ship-3"))
    assert (third.sent, third.needs_person) == (1, 0) and shop_shipment(shop, code) == before


def test_partial_then_final_out_of_order_and_duplicates(shipping_bridge):
    shop, sim, store = shipping_bridge("sqlite", "litemall")
    orders = [sim.admin.order(c) for c in sorted(paid_order_codes(shop))]
    codes = [o["order_code"] for o in orders if sum(line["plan_qty"] for line in o["lines"]) >= 2]
    with ThreadedReceiver(create_app(receiver=build_receiver())) as receiver:
        url = receiver.url()
        first_line = {o["order_code"]: [{"itemCode": o["lines"][0]["item_code"], "quantity": 1}]
                      for o in orders if o["order_code"] in codes[:2]}
        # order 0: a partial, then the rest; order 1: the same, delivered final-first
        partial = sim.admin.ship(codes[:2], lines=first_line, logistics_code="YUNDA", hold=True)["shipments"]
        final = sim.admin.ship(codes[:2], logistics_code="YUNDA", hold=True)["shipments"]
        assert {s["confirm_type"] for s in partial} == {1} and {s["confirm_type"] for s in final} == {0}
        by_order = {s["order_code"]: s["out_biz_code"] for s in partial}
        sim.admin.deliver([by_order[codes[0]]], callback_url=url)
        assert apply_shipments(bridge("a")).sent == 1
        assert shop_shipment(shop, codes[0])[0] == PAID["litemall"]  # partial: not closed in the shop
        assert order_sync_rows(store)[codes[0]]["state"] == "partially_shipped"
        finals = {s["order_code"]: s["out_biz_code"] for s in final}
        sim.admin.deliver([finals[codes[0]], finals[codes[1]], by_order[codes[1]]], callback_url=url)
        sim.admin.resend_confirm(finals[codes[0]], times=2, callback_url=url)  # duplicates
    report = apply_shipments(bridge("b"))
    assert (report.sent, report.unchanged, report.needs_person) == (2, 1, 0)
    for code in codes[:2]:
        status, tracking, carrier, _ = shop_shipment(shop, code)
        numbers = order_sync_rows(store)[code]["tracking_numbers"].split(",")
        assert status == 301 and carrier == "YD" and len(numbers) == 2  # YUNDA back to litemall's YD
        assert tracking == numbers[0]  # litemall looks its one ship_sn up whole: the first parcel
    assert store.confirmations.counts() == {"received": 0, "applied": 4, "waiting": 0, "needs_person": 0}


def test_confirmation_before_our_record_waits_then_applies(shipping_bridge):
    shop, sim, store = shipping_bridge("sqlite", "reference", push=False)
    codes = sorted(paid_order_codes(shop))
    with ThreadedReceiver(create_app(receiver=build_receiver())) as receiver:
        assert post(receiver.url(), sample_for(codes[0])).success
    early = apply_shipments(bridge("early"))
    assert early.retry_waiting == 1 and "not sent by us, or not recorded yet" in early.samples["retry_waiting"][0]
    assert push_orders(bridge("push")).sent == len(codes)
    late = apply_shipments(bridge("late"))
    assert late.sent == 1 and shop_shipment(shop, codes[0])[:2] == ("shipped", "YT4815765342047")


@pytest.mark.parametrize("status", ["EXCEPTION", "REJECT", "CANCELED"])
def test_alarms_are_recorded_and_shown_to_a_person(shipping_bridge, status):
    shop, sim, store = shipping_bridge("sqlite", "reference")
    code = sorted(paid_order_codes(shop))[0]
    with ThreadedReceiver(create_app(receiver=build_receiver())) as receiver:
        assert post(receiver.url(), sample_for(code, **{"<status>DELIVERED</status>": f"<status>{status}</status>".encode()})).success
    report = apply_shipments(bridge("alarm"))
    assert report.needs_person == 1 and f"the warehouse reports {status}" in report.samples["needs_person"][0]
    assert shop_shipment(shop, code)[0] == "paid"
    assert store.confirmations.counts()["needs_person"] == 1


def test_the_dag_applies_and_fails_only_for_a_person(shipping_bridge):
    """wms_shipments through Airflow: run_flow's verdict (a person's case fails the run, no retries)."""
    shop, sim, store = shipping_bridge("sqlite", "litemall")
    first, second = sorted(paid_order_codes(shop))[:2]
    with ThreadedReceiver(create_app(receiver=build_receiver())) as receiver:
        assert post(receiver.url(), sample_for(first)).success
        assert run_dag("wms_shipments").state == "success"
        assert shop_shipment(shop, first)[:3] == (301, "YT4815765342047", "YTO")
        assert post(receiver.url(), sample_for(second, **{"<status>DELIVERED</status>": b"<status>EXCEPTION</status>"})).success
        assert run_dag("wms_shipments").state == "failed"
    assert store.confirmations.counts() == {"received": 0, "applied": 1, "waiting": 0, "needs_person": 1}


@pytest.mark.slow
@pytest.mark.timeout(900)  # starts a Python process that imports Airflow: slow on a busy machine
@pytest.mark.parametrize("backend", BACKENDS)
def test_simulator_ships_and_posts_to_the_standalone_receiver(shipping_bridge, backend, tmp_path):
    shop, sim, store = shipping_bridge(backend, "litemall")
    codes = sorted(paid_order_codes(shop))
    with standalone_receiver(dict(os.environ), tmp_path / "receiver.log") as receiver:
        url = f"{receiver.base_url}/wms/qimen/callback?token={TOKEN}"
        sim.admin.set_config(callback_timeout_s=120)  # a busy test machine is no reason to lose a callback
        result = sim.admin.ship(codes, logistics_code="ZTO", packages=2, callback_url=url, out_of_order=True,
                                shape="juxing")  # exactly like Juxing posts them
        assert all(d["delivered"] and "<flag>success</flag>" in d["answer"] for d in result["deliveries"])
        sim.admin.resend_confirm(result["shipments"][0]["out_biz_code"], callback_url=url)
    assert TOKEN not in receiver.output and "token=***" in receiver.output  # redacted in the access log
    report = apply_shipments(bridge("e2e"))
    assert report.sent == len(codes) and report.problems == 0
    sent = {c.deliveryOrderCode: c for c in (parse_deliveryorder_confirm(x["body"]) for x in sim.admin.confirmations())}
    assert max(len(c.packages) for c in sent.values()) == 2  # orders with several lines left in two parcels
    for code in codes:
        status, tracking, carrier, _ = shop_shipment(shop, code)
        assert (status, carrier, tracking) == (301, "ZTO", sent[code].tracking_numbers[0])
        assert order_sync_rows(store)[code]["tracking_numbers"].split(",") == list(sent[code].tracking_numbers)
    assert len(stored(store.confirmations, codes[0])[0]) == 1


def shop_update_time(shop, code: str):
    with shop.engine.connect() as conn:
        return conn.execute(sa.text("SELECT update_time FROM litemall_order WHERE order_sn = :c"), {"c": code}).scalar()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_two_parcel_order_shows_the_buyer_a_number_litemall_can_look_up(shipping_bridge, backend):
    """litemall keeps one ship_sn and looks it up whole at Kdniao: the first parcel's number goes
    there; every parcel stays in the store and on the operations page."""
    from wmsbridge.ops.queries import latest_confirmations

    shop, sim, store = shipping_bridge(backend, "litemall")
    orders = [sim.admin.order(c) for c in sorted(paid_order_codes(shop))]
    code = next(o["order_code"] for o in orders if len(o["lines"]) >= 2 or o["lines"][0]["plan_qty"] >= 2)
    with ThreadedReceiver(create_app(receiver=build_receiver())) as receiver:
        sim.admin.ship([code], logistics_code="SF", packages=2, callback_url=receiver.url(), shape="juxing")
    (posted,) = [c for c in sim.admin.confirmations() if f"<deliveryOrderCode>{code}<" in c["body"]]
    confirm = parse_deliveryorder_confirm(posted["body"])
    assert len(confirm.tracking_numbers) == 2

    report = apply_shipments(bridge("two-parcels"))

    assert report.sent == 1 and report.needs_person == 0
    status, tracking, carrier, _ = shop_shipment(shop, code)
    assert (status, tracking, carrier) == (301, confirm.tracking_numbers[0], "SF")
    assert order_sync_rows(store)[code]["tracking_numbers"].split(",") == list(confirm.tracking_numbers)
    parcels = next(r["parcels"] for r in latest_confirmations(store.engine) if r["delivery_order_code"] == code)
    assert sorted(p.split()[1] for p in parcels) == sorted(confirm.tracking_numbers)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("code", "name"), [("JTSD", "极兔速递"), ("JT", "极兔速递"), ("JTEXPRESS", None),
                                            ("CN-JITU-001", "菜鸟-极兔速递")])
def test_a_jt_confirmation_is_applied_without_a_person(shipping_bridge, backend, code, name):
    """J&T (极兔), by its code, another code the warehouse uses, or only by name. The shop's ship
    time is the parcel's, its update_time the moment of the write, as litemall's own ship action."""
    from datetime import timedelta, timezone

    shop, sim, store = shipping_bridge(backend, "litemall")
    order = sorted(paid_order_codes(shop))[0]
    body = sample_for(order, **{"<logisticsCode>YTO</logisticsCode>": f"<logisticsCode>{code}</logisticsCode>".encode(),
                                "<logisticsName>菜鸟-圆通</logisticsName>":
                                    f"<logisticsName>{name or ''}</logisticsName>".encode(),
                                "<orderConfirmTime></orderConfirmTime>":
                                    b"<orderConfirmTime>2026-11-30 10:00:00</orderConfirmTime>"})
    with ThreadedReceiver(create_app(receiver=build_receiver())) as receiver:
        assert post(receiver.url(), body).success
    before = datetime.now(timezone(timedelta(hours=8))).replace(tzinfo=None, microsecond=0)

    report = apply_shipments(bridge("jt"))

    assert (report.sent, report.needs_person) == (1, 0), report.samples
    status, tracking, carrier, ship_time = shop_shipment(shop, order)
    assert (status, tracking, carrier) == (301, "YT4815765342047", "JTSD")
    assert str(ship_time).startswith("2026-11-30 10:00:00")
    assert str(shop_update_time(shop, order)) >= str(before)
