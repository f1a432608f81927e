"""Every Qimen method over real HTTP: success and failure answers, paths, method names, auth."""

from __future__ import annotations

import pytest
from qimen.documents import build_document
from qimen.errors import QimenGatewayError
from qimen.parsing import parse_response
from wms_simulator import JUXING_PATH_V1, JUXING_PATH_V2, QIMEN_ROUTER_PATH

from .helpers import (
    call,
    cancel_document,
    inventory_document,
    item_document,
    order_document,
    post,
)


def stock_of(sim, item_code: str, kind: str = "ZP") -> tuple[int, int]:
    for row in sim.admin.stock():
        if row["item_code"] == item_code and row["inventory_type"] == kind:
            return row["quantity"], row["lock_quantity"]
    raise AssertionError(f"no stock row for {item_code}/{kind}")


# ---- singleitem.synchronize ----------------------------------------------------------------------


def test_item_add_returns_a_stable_item_id_and_update_changes_the_item(wms_simulator, session):
    first = call(session, wms_simulator, "singleitem.synchronize", item_document("SKU-1", "大衣"))
    again = call(session, wms_simulator, "singleitem.synchronize", item_document("SKU-1", "大衣 黑色XL"))
    other = call(session, wms_simulator, "singleitem.synchronize", item_document("SKU-2"))
    assert first.success and again.success and other.success
    assert first.fields["itemId"] == again.fields["itemId"] != other.fields["itemId"]

    updated = call(session, wms_simulator, "singleitem.synchronize",
                   item_document("SKU-1", "秋冬大衣 白色L", action="update", itemId=first.fields["itemId"]))
    assert updated.success and updated.fields["itemId"] == first.fields["itemId"]
    items = {i["item_code"]: i for i in wms_simulator.admin.items()}
    assert items["SKU-1"]["item_name"] == "秋冬大衣 白色L"
    assert items["SKU-1"]["versions"] == 3
    assert set(items) == {"SKU-1", "SKU-2"}


def test_item_update_of_an_unknown_item_and_a_wrong_item_id_are_refused(wms_simulator, session):
    unknown = call(session, wms_simulator, "singleitem.synchronize", item_document("NOPE", action="update"))
    assert (unknown.flag, unknown.code) == ("failure", "item-not-found")
    call(session, wms_simulator, "singleitem.synchronize", item_document("SKU-1"))
    wrong = call(session, wms_simulator, "singleitem.synchronize", item_document("SKU-1", itemId="IT999"))
    assert (wrong.flag, wrong.code) == ("failure", "invalid-parameter")
    assert "item.itemId" in wrong.message


def test_item_validation_failure_names_the_field_path(wms_simulator, session):
    document = item_document("SKU-1")
    del document["item"]["itemName"]
    document["item"]["itemType"] = "BOGUS"
    body = build_document("singleitem.synchronize", document, validate=False)
    answer = parse_response(post(session, wms_simulator, "singleitem.synchronize", body).text)
    assert (answer.flag, answer.code) == ("failure", "invalid-parameter")
    assert "item.itemName: required" in answer.message
    assert "item.itemType" in answer.message
    assert wms_simulator.admin.items() == []


# ---- deliveryorder.create ------------------------------------------------------------------------


def test_order_create_locks_stock_and_a_resend_gets_the_same_id(sim_with_items, session):
    sim = sim_with_items
    created = call(session, sim, "deliveryorder.create", order_document("PS1", [("A", 2), ("B", 1)]))
    assert created.success
    assert created.fields["deliveryOrderId"]
    assert created.fields["warehouseCode"] == "WH01" and created.fields["logisticsCode"] == "ZTO"
    assert stock_of(sim, "A") == (8, 2) and stock_of(sim, "B") == (9, 1)

    # createTime/operateTime legitimately change on a resend
    resend = order_document("PS1", [("A", 2), ("B", 1)], create_time="2024-05-01 10:05:00")
    for _ in range(2):
        again = call(session, sim, "deliveryorder.create", resend)
        assert again.success and again.fields["deliveryOrderId"] == created.fields["deliveryOrderId"]
    assert sim.admin.repeats() == {"PS1": 2}
    assert stock_of(sim, "A") == (8, 2), "a resend must not lock stock again"
    assert len(sim.admin.orders()) == 1


def test_a_different_body_under_a_known_code_is_refused(sim_with_items, session):
    sim = sim_with_items
    assert call(session, sim, "deliveryorder.create", order_document("PS1", [("A", 2)])).success
    changed = call(session, sim, "deliveryorder.create", order_document("PS1", [("A", 3)]))
    assert (changed.flag, changed.code) == ("failure", "order-exists-different")
    other_receiver = call(session, sim, "deliveryorder.create",
                          order_document("PS1", [("A", 2)], receiver_name="张三"))
    assert other_receiver.code == "order-exists-different"
    assert sim.admin.repeats() == {"PS1": 0}
    assert stock_of(sim, "A") == (8, 2)


def test_order_lines_must_name_known_items_unless_configured(wms_simulator_factory, session):
    strict = wms_simulator_factory()
    answer = call(session, strict, "deliveryorder.create", order_document("PS1", [("GHOST", 1)]))
    assert (answer.flag, answer.code) == ("failure", "item-not-found")
    assert "orderLines[0].itemCode" in answer.message
    assert strict.admin.orders() == []

    lenient = wms_simulator_factory(require_known_items=False)
    assert call(session, lenient, "deliveryorder.create", order_document("PS1", [("GHOST", 1)])).success


def test_order_validation_failure_lists_every_violation_path(sim_with_items, session):
    document = order_document("PS1", [("A", 1)])
    document["deliveryOrder"]["receiverInfo"]["mobile"] = ""
    body = build_document("deliveryorder.create", document, validate=False)
    body = body.replace("<planQty>1</planQty>", "<planQty>zwei</planQty>")
    answer = parse_response(post(session, sim_with_items, "deliveryorder.create", body).text)
    assert (answer.flag, answer.code) == ("failure", "invalid-parameter")
    assert "deliveryOrder.receiverInfo.mobile: required" in answer.message
    assert "orderLines[0].planQty" in answer.message
    assert sim_with_items.admin.orders() == []


def test_strict_stock_refuses_orders_beyond_the_available_quantity(wms_simulator_factory, session):
    sim = wms_simulator_factory(strict_stock=True)
    call(session, sim, "singleitem.synchronize", item_document("A"))
    sim.admin.seed_stock([{"itemCode": "A", "quantity": 3}])
    assert call(session, sim, "deliveryorder.create", order_document("PS1", [("A", 2)])).success
    refused = call(session, sim, "deliveryorder.create", order_document("PS2", [("A", 2)]))
    assert (refused.flag, refused.code) == ("failure", "insufficient-stock")
    assert stock_of(sim, "A") == (1, 2)


# ---- order.cancel --------------------------------------------------------------------------------


def test_cancel_releases_stock_and_is_idempotent(sim_with_items, session):
    sim = sim_with_items
    created = call(session, sim, "deliveryorder.create", order_document("PS1", [("A", 4)]))
    assert stock_of(sim, "A") == (6, 4)
    cancel = call(session, sim, "order.cancel", cancel_document("PS1", created.fields["deliveryOrderId"]))
    assert cancel.success
    assert stock_of(sim, "A") == (10, 0)
    assert sim.admin.order("PS1")["status"] == "CANCELED"
    assert call(session, sim, "order.cancel", cancel_document("PS1")).success
    assert stock_of(sim, "A") == (10, 0), "a second cancel must not release twice"


def test_cancel_refuses_unknown_shipped_and_mismatched_orders(sim_with_items, session):
    sim = sim_with_items
    unknown = call(session, sim, "order.cancel", cancel_document("NOPE"))
    assert (unknown.flag, unknown.code) == ("failure", "order-not-found")

    call(session, sim, "deliveryorder.create", order_document("PS1", [("A", 1)]))
    mismatch = call(session, sim, "order.cancel", cancel_document("PS1", "DO-OTHER"))
    assert mismatch.code == "invalid-parameter"

    sim.admin.ship(["PS1"])
    shipped = call(session, sim, "order.cancel", cancel_document("PS1"))
    assert (shipped.flag, shipped.code) == ("failure", "order-shipped")
    assert sim.admin.order("PS1")["status"] == "DELIVERED"


# ---- inventory.query -----------------------------------------------------------------------------


def test_inventory_query_rows_per_item_and_type_with_lock_quantity(sim_with_items, session):
    sim = sim_with_items
    sim.admin.seed_stock([{"itemCode": "A", "inventoryType": "CC", "quantity": 2}])
    call(session, sim, "deliveryorder.create", order_document("PS1", [("A", 3)]))
    answer = call(session, sim, "inventory.query", inventory_document("A", "B", "UNKNOWN"))
    assert answer.success
    rows = {(r["itemCode"], r["inventoryType"]): r for r in answer.fields["items"]}
    assert set(rows) == {("A", "CC"), ("A", "ZP"), ("B", "ZP")}, "unknown items come back empty"
    assert (rows["A", "ZP"]["quantity"], rows["A", "ZP"]["lockQuantity"]) == ("7", "3")
    assert (rows["A", "CC"]["quantity"], rows["A", "CC"]["lockQuantity"]) == ("2", "0")
    assert rows["A", "ZP"]["itemId"] == sim.admin.items()[0]["item_id"]

    only_cc = call(session, sim, "inventory.query", inventory_document("A", inventory_type="CC"))
    assert [(r["itemCode"], r["inventoryType"]) for r in only_cc.fields["items"]] == [("A", "CC")]


def test_inventory_query_without_criteria_is_a_validation_failure(wms_simulator, session):
    body = build_document("inventory.query", {"criteriaList": []}, validate=False)
    answer = parse_response(post(session, wms_simulator, "inventory.query", body).text)
    assert (answer.flag, answer.code) == ("failure", "invalid-parameter")
    assert "criteriaList" in answer.message


# ---- paths, method names, authentication ---------------------------------------------------------


@pytest.mark.parametrize("path", [JUXING_PATH_V2, JUXING_PATH_V1, QIMEN_ROUTER_PATH])
@pytest.mark.parametrize("method", ["singleitem.synchronize", "taobao.qimen.singleitem.synchronize"])
def test_every_path_and_both_method_name_forms(wms_simulator, session, path, method):
    answer = call(session, wms_simulator, method, item_document("SKU-1"), path=path)
    assert answer.success
    logged = wms_simulator.admin.requests(method="singleitem.synchronize")
    assert [(r["path"], r["raw_method"]) for r in logged] == [(path, method)]


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
def test_signatures_are_verified_with_every_sign_method(wms_simulator, session, sign_method):
    good = call(session, wms_simulator, "singleitem.synchronize", item_document("SKU-1"), sign_method=sign_method)
    assert good.success
    bad = call(session, wms_simulator, "singleitem.synchronize", item_document("SKU-2"), sign_method=sign_method,
               secret="wrong-secret")
    assert (bad.flag, bad.code) == ("failure", "sign-check-failure")
    assert [i["item_code"] for i in wms_simulator.admin.items()] == ["SKU-1"]


def test_a_body_changed_after_signing_is_refused(wms_simulator, session):
    from qimen.transport import CONTENT_TYPE

    from .helpers import signed_url

    body = build_document("singleitem.synchronize", item_document("SKU-1"))
    url = signed_url(wms_simulator, "singleitem.synchronize", body)
    tampered = body.replace("SKU-1", "SKU-9")
    answer = session.post(url, data=tampered.encode("utf-8"), headers={"Content-Type": CONTENT_TYPE}, timeout=10)
    assert parse_response(answer.text).code == "sign-check-failure"


def test_without_a_secret_any_signature_is_accepted(wms_simulator_factory, session):
    sim = wms_simulator_factory(secret=None)
    assert call(session, sim, "singleitem.synchronize", item_document("SKU-1"), secret="anything").success


def test_another_customer_id_is_refused(wms_simulator, session):
    answer = call(session, wms_simulator, "singleitem.synchronize", item_document("SKU-1"), customer_id="INTRUDER")
    assert (answer.flag, answer.code) == ("failure", "invalid-customer")
    assert wms_simulator.admin.items() == []


def test_another_warehouse_or_owner_is_refused_when_configured(wms_simulator_factory, session):
    sim = wms_simulator_factory(warehouse_code="WH01", owner_code="SOMEONE-ELSE")
    answer = call(session, sim, "singleitem.synchronize", item_document("SKU-1"))
    assert (answer.flag, answer.code) == ("failure", "invalid-owner")


def test_unknown_and_missing_methods_get_an_error_response(wms_simulator, session):
    from qimen.transport import CONTENT_TYPE

    body = build_document("singleitem.synchronize", item_document("SKU-1"))
    with pytest.raises(QimenGatewayError) as unknown:
        parse_response(post(session, wms_simulator, "deliveryorder.explode", body).text)
    assert unknown.value.sub_code == "isv.invalid-method" and not unknown.value.retryable
    with pytest.raises(QimenGatewayError) as confirm:  # a WMS receives no confirmations, it sends them
        parse_response(post(session, wms_simulator, "deliveryorder.confirm", body).text)
    assert confirm.value.sub_code == "isv.invalid-method"

    answer = session.post(wms_simulator.base_url, data=b"<request/>", headers={"Content-Type": CONTENT_TYPE},
                          timeout=10)
    with pytest.raises(QimenGatewayError) as missing:
        parse_response(answer.text)
    assert missing.value.sub_code == "isv.missing-parameter:method"


def test_wrong_http_verb_and_unknown_path_still_answer_qimen_xml(wms_simulator, session):
    get = session.get(wms_simulator.base_url, timeout=10)
    assert get.status_code == 405 and get.headers["Content-Type"].startswith("text/xml")
    with pytest.raises(QimenGatewayError):
        parse_response(get.text)
    nowhere = session.post(wms_simulator.url("/no/such/path"), data=b"<request/>", timeout=10)
    assert nowhere.status_code == 404
    with pytest.raises(QimenGatewayError) as exc:
        parse_response(nowhere.text)
    assert exc.value.sub_code == "isv.invalid-path"


def test_inventory_query_answers_batches_and_locks_per_row(sim_with_items, session):
    sim = sim_with_items
    sim.admin.seed_stock([
        {"itemCode": "B", "batchCode": "LOT-1", "quantity": 4, "lockQuantity": 1,
         "productDate": "2026-10-01", "expireDate": "2027-10-01"},
        {"itemCode": "B", "batchCode": "LOT-2", "quantity": 6},
    ])
    sim.admin.seed_stock([{"itemCode": "B", "batchCode": "LOT-2", "quantity": 1}], mode="add")
    answer = call(session, sim, "inventory.query", inventory_document("A", "B", "C"))
    rows = [(r["itemCode"], r.get("batchCode"), r["quantity"], r["lockQuantity"]) for r in answer.fields["items"]]
    assert rows == [("A", None, "10", "0"), ("B", None, "10", "0"), ("B", "LOT-1", "4", "1"),
                    ("B", "LOT-2", "7", "0"), ("C", None, "10", "0")]
    lot1 = next(r for r in answer.fields["items"] if r.get("batchCode") == "LOT-1")
    assert (lot1["productDate"], lot1["expireDate"]) == ("2026-10-01", "2027-10-01")
    # orders lock stock in the row without a batch; the batches stay as they are
    call(session, sim, "deliveryorder.create", order_document("PS9", [("B", 2)]))
    assert stock_of(sim, "B") == (8, 2)
