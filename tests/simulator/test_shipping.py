"""Shipping and the signed deliveryorder.confirm callbacks, received by a real loopback server."""

from __future__ import annotations

import pytest
from qimen.signing import verify_sign
from wms_simulator import SimulatorAdminError

from .helpers import call, order_document


@pytest.fixture
def shop(sim_with_items, callback_receiver, session):
    """Orders PS1 (A x2, B x1), PS2 (C x3) and PS3 (A x1) accepted; callbacks go to the receiver."""
    sim = sim_with_items
    sim.admin.set_config(callback_url=callback_receiver.url)
    for code, lines in (("PS1", [("A", 2), ("B", 1)]), ("PS2", [("C", 3)]), ("PS3", [("A", 1)])):
        assert call(session, sim, "deliveryorder.create", order_document(code, lines)).success
    return sim


def stock(sim) -> dict[str, tuple[int, int]]:
    return {r["item_code"]: (r["quantity"], r["lock_quantity"]) for r in sim.admin.stock() if r["inventory_type"] == "ZP"}


def test_ship_all_posts_one_signed_final_confirmation_per_order(shop, callback_receiver):
    result = shop.admin.ship()
    assert [s["order_code"] for s in result["shipments"]] == ["PS1", "PS2", "PS3"]
    assert all(d["delivered"] and d["http_status"] == 200 for d in result["deliveries"])

    received = callback_receiver.wait_for(3)
    assert all(r.sign_valid for r in received)
    assert all(verify_sign(r.params, r.body, shop.secret) for r in received)
    assert {r.params["method"] for r in received} == {"deliveryorder.confirm"}
    assert {r.params["customerId"] for r in received} == {shop.customer_id}

    confirms = {c.deliveryOrderCode: c for c in callback_receiver.confirms()}
    ps1 = confirms["PS1"]
    assert (ps1.status, ps1.confirmType, ps1.is_final) == ("DELIVERED", 0, True)
    assert ps1.deliveryOrderId == shop.admin.order("PS1")["order_id"]
    assert ps1.outBizCode == result["shipments"][0]["out_biz_code"]
    [package] = ps1.packages
    assert package.logisticsCode == "ZTO" and package.expressCode == result["shipments"][0]["express_codes"][0]
    assert {(i.itemCode, i.quantity) for i in package.items} == {("A", 2), ("B", 1)}
    assert {(line.itemCode, line.planQty, line.actualQty) for line in ps1.orderLines} == {("A", 2, 2), ("B", 1, 1)}
    assert {line.orderSourceCode for line in ps1.orderLines} == {"PS1-S"}

    assert stock(shop) == {"A": (7, 0), "B": (9, 0), "C": (7, 0)}, "shipping deducts the locked stock"
    assert {o["status"] for o in shop.admin.orders()} == {"DELIVERED"}
    assert shop.admin.ship()["shipments"] == [], "nothing left to ship"


def test_ship_some_orders_with_a_given_carrier_tracking_numbers_and_packages(shop, callback_receiver):
    result = shop.admin.ship(["PS2"], logistics_code="SF", express_codes={"PS2": ["SF100", "SF200"]})
    [shipment] = result["shipments"]
    assert shipment["express_codes"] == ["SF100", "SF200"]
    [confirm] = callback_receiver.confirms()
    assert confirm.deliveryOrderCode == "PS2"
    assert [p.expressCode for p in confirm.packages] == ["SF100"], "one line fills the first package only"
    assert confirm.packages[0].logisticsCode == "SF"
    assert shop.admin.order("PS1")["status"] == "ACCEPT"
    assert stock(shop)["C"] == (7, 0) and stock(shop)["A"] == (7, 3)


def test_partial_lines_send_an_intermediate_then_a_final_confirmation(shop, callback_receiver, session):
    from .helpers import cancel_document

    first = shop.admin.ship(["PS1"], lines={"PS1": [{"itemCode": "A", "quantity": 1}]})
    assert first["shipments"][0]["status"] == "PARTDELIVERED"
    assert stock(shop)["A"] == (7, 2)
    with pytest.raises(SimulatorAdminError) as refused:  # more than is left to ship
        shop.admin.ship(["PS1"], lines={"PS1": [{"itemCode": "A", "quantity": 5}]})
    assert refused.value.status == 409
    assert call(session, shop, "order.cancel", cancel_document("PS1")).code == "order-shipped"

    second = shop.admin.ship(["PS1"])  # the rest
    confirms = callback_receiver.confirms()
    assert [(c.status, c.confirmType) for c in confirms] == [("PARTDELIVERED", 1), ("DELIVERED", 0)]
    assert [{(line.itemCode, line.actualQty) for line in c.orderLines} for c in confirms] == [
        {("A", 1)}, {("A", 1), ("B", 1)}]
    assert confirms[0].outBizCode != confirms[1].outBizCode == second["shipments"][0]["out_biz_code"]
    assert stock(shop)["A"] == (7, 1) and stock(shop)["B"] == (9, 0)
    assert [line["shipped_qty"] for line in shop.admin.order("PS1")["lines"]] == [2, 1]


def test_a_confirmation_can_be_delivered_twice_with_the_same_out_biz_code(shop, callback_receiver):
    shipment = shop.admin.ship(["PS3"])["shipments"][0]
    result = shop.admin.resend_confirm(shipment["out_biz_code"], times=2)
    assert [d["delivered"] for d in result["deliveries"]] == [True, True]
    received = callback_receiver.wait_for(3)
    assert len({r.body for r in received}) == 1, "a duplicate delivery is the very same message"
    assert {c.outBizCode for c in callback_receiver.confirms()} == {shipment["out_biz_code"]}
    assert all(r.sign_valid for r in received)
    [stored] = [c for c in shop.admin.confirmations() if c["out_biz_code"] == shipment["out_biz_code"]]
    assert stored["deliveries"] == 3


def test_confirmations_can_be_held_and_delivered_out_of_order(shop, callback_receiver):
    partial = shop.admin.ship(["PS1"], lines={"PS1": [{"orderLineNo": "2", "quantity": 1}]}, hold=True)
    final = shop.admin.ship(["PS1"], hold=True)
    assert callback_receiver.received == []
    assert len(shop.admin.confirmations(pending=True)) == 2

    shop.admin.deliver(reverse=True)  # newest first: the final confirmation overtakes the partial one
    confirms = callback_receiver.confirms()
    assert [c.outBizCode for c in confirms] == [final["shipments"][0]["out_biz_code"],
                                                partial["shipments"][0]["out_biz_code"]]
    assert [c.confirmType for c in confirms] == [0, 1]
    assert shop.admin.confirmations(pending=True) == []


def test_one_ship_call_can_post_its_confirmations_in_reverse(shop, callback_receiver):
    shop.admin.ship(["PS1", "PS2"], out_of_order=True)
    assert [c.deliveryOrderCode for c in callback_receiver.confirms()] == ["PS2", "PS1"]


def test_explicit_delivery_order_and_a_receiver_that_refuses(shop, callback_receiver):
    shipments = shop.admin.ship(hold=True)["shipments"]
    codes = [s["out_biz_code"] for s in shipments]
    callback_receiver.answer_success = False
    result = shop.admin.deliver([codes[2], codes[0], codes[2]])
    assert [d["out_biz_code"] for d in result["deliveries"]] == [codes[2], codes[0], codes[2]]
    assert all("<flag>failure</flag>" in d["answer"] for d in result["deliveries"])
    assert [c.outBizCode for c in callback_receiver.confirms()] == [codes[2], codes[0], codes[2]]


def test_callbacks_signed_with_a_separate_callback_secret(wms_simulator_factory, session):
    from wms_simulator.callback_receiver import CallbackReceiver

    with CallbackReceiver(secret="callback-only") as receiver:
        sim = wms_simulator_factory(callback_url=receiver.url, callback_secret="callback-only",
                                    require_known_items=False)
        call(session, sim, "deliveryorder.create", order_document("PS9", [("X", 1)]))
        sim.admin.ship(["PS9"])
        [callback] = receiver.wait_for(1)
        assert callback.sign_valid
        assert not verify_sign(callback.params, callback.body, sim.secret)


def test_shipping_refuses_unknown_and_canceled_orders(shop, session):
    from .helpers import cancel_document

    with pytest.raises(SimulatorAdminError) as unknown:
        shop.admin.ship(["NOPE"])
    assert unknown.value.answer["code"] == "order-not-found"
    call(session, shop, "order.cancel", cancel_document("PS2"))
    with pytest.raises(SimulatorAdminError) as canceled:
        shop.admin.ship(["PS1", "PS2"])
    assert canceled.value.answer["code"] == "order-canceled"
    assert shop.admin.order("PS1")["status"] == "ACCEPT", "a refused ship call changes nothing"


def test_without_a_callback_url_confirmations_wait(wms_simulator_factory, session, callback_receiver):
    sim = wms_simulator_factory(require_known_items=False)
    call(session, sim, "deliveryorder.create", order_document("PS1", [("X", 1)]))
    result = sim.admin.ship()
    assert result["deliveries"][0]["delivered"] is False
    sim.admin.deliver(callback_url=callback_receiver.url)
    assert [c.deliveryOrderCode for c in callback_receiver.confirms()] == ["PS1"]


def _paths(element, prefix: str = "") -> set[str]:
    path = f"{prefix}/{element.tag}"
    return {path}.union(*(_paths(child, path) for child in element))


def test_juxing_shaped_confirmations_look_like_the_sample(shop, callback_receiver):
    from pathlib import Path

    from qimen.parsing import parse_xml

    sample = (Path(__file__).resolve().parents[1] / "protocol" / "fixtures" / "confirm_request.xml").read_bytes()
    shop.admin.ship(["PS1"], logistics_code="YTO", shape="juxing")
    [received] = callback_receiver.wait_for(1)
    assert not received.body.startswith("<?xml") and "\n" not in received.body  # as Juxing sends it
    assert _paths(parse_xml(received.body)) == _paths(parse_xml(sample))  # every element, invoices included
    confirm = received.confirm()  # read leniently: empty elements and Java times are fine
    assert confirm.orderConfirmTime is not None and ".0</orderConfirmTime>" in received.body
    assert "<operatorCode></operatorCode>" in received.body and confirm.packages[0].logisticsName == "菜鸟-圆通"
    with pytest.raises(SimulatorAdminError):
        shop.admin.ship(["PS2"], shape="xml-ish")
