"""Returns (returnorder.create, the received parcel's returnorder.confirm) and the warehouse's own
reports (orderprocess.report, itemlack.report, stockchange.report), over real HTTP: signed requests
to the simulator, callbacks to a real loopback receiver, bodies read with the qimen.inbound parsers."""

from __future__ import annotations

import socket
import time

import pytest
from qimen.inbound import (
    parse_itemlack_report,
    parse_orderprocess_report,
    parse_returnorder_confirm,
    parse_stockchange_report,
)
from qimen.signing import verify_sign
from wms_simulator import SimulatorAdminError
from wms_simulator.callback_receiver import CallbackReceiver

from .helpers import OWNER, WAREHOUSE, call, inventory_document, order_document, return_document


@pytest.fixture
def shop(sim_with_items, callback_receiver, session):
    """Order PS1 (A x2, B x1) shipped and PS2 (C x3) accepted; callbacks go to the receiver."""
    sim = sim_with_items
    sim.admin.set_config(callback_url=callback_receiver.url)
    for code, lines in (("PS1", [("A", 2), ("B", 1)]), ("PS2", [("C", 3)])):
        assert call(session, sim, "deliveryorder.create", order_document(code, lines)).success
    sim.admin.ship(["PS1"])
    callback_receiver.wait_for(1)
    callback_receiver.clear()
    return sim


def inventory(session, sim, *items: str) -> dict[tuple[str, str], int]:
    """What inventory.query answers: available quantity per (itemCode, inventoryType)."""
    answer = call(session, sim, "inventory.query", inventory_document(*items))
    assert answer.success, answer.message
    return {(row["itemCode"], row["inventoryType"]): int(row["quantity"]) for row in answer.fields["items"]}


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/qimen/callback"


# ---- returnorder.create ---------------------------------------------------------------------------


def test_returnorder_create_is_idempotent_by_return_order_code(shop, session):
    document = return_document("R1", "PS1", [("A", 2), ("B", 1)])
    first = call(session, shop, "returnorder.create", document)
    assert first.success, first.message
    return_id = first.fields["returnOrderId"]
    assert return_id.startswith("RO")

    again = call(session, shop, "taobao.qimen.returnorder.create", document)
    assert again.success and again.fields["returnOrderId"] == return_id, "the same return again: the same id"

    changed = return_document("R1", "PS1", [("A", 1)])
    different = call(session, shop, "returnorder.create", changed)
    assert (different.flag, different.code) == ("failure", "order-exists-different")
    assert "R1" in different.message and return_id in different.message

    [stored] = shop.admin.returns()
    assert (stored["return_code"], stored["return_id"], stored["status"]) == ("R1", return_id, "announced")
    assert (stored["pre_order_code"], stored["express_code"], stored["repeats"]) == ("PS1", "SF9001", 1)
    assert [(line["item_code"], line["plan_qty"]) for line in stored["lines"]] == [("A", 2), ("B", 1)]
    assert shop.admin.returns("R1") == [stored] and shop.admin.returns("NOPE") == []


def test_a_return_of_an_order_the_warehouse_never_received_is_refused(shop, session):
    answer = call(session, shop, "returnorder.create", return_document("R2", "NEVER-SENT", [("A", 1)]))
    assert (answer.flag, answer.code) == ("failure", "order-not-found")
    assert "preDeliveryOrderCode" in answer.message and "NEVER-SENT" in answer.message
    assert shop.admin.returns() == []


def test_return_lines_must_name_known_items_unless_unknown_items_are_allowed(shop, session):
    refused = call(session, shop, "returnorder.create", return_document("R3", "PS1", [("A", 1), ("GHOST", 1)]))
    assert (refused.flag, refused.code) == ("failure", "item-not-found")
    assert "orderLines[1].itemCode" in refused.message
    shop.admin.set_config(require_known_items=False)
    assert call(session, shop, "returnorder.create", return_document("R3", "PS1", [("A", 1), ("GHOST", 1)])).success


def test_returnorder_create_is_checked_like_every_other_method(shop, session):
    document = return_document("R4", "PS1", [("A", 1)])
    del document["returnOrder"]["preDeliveryOrderCode"]
    document["orderLines"][0]["planQty"] = 0
    from qimen.documents import build_document

    from .helpers import post

    answer = post(session, shop, "returnorder.create", build_document("returnorder.create", document, validate=False))
    assert "<code>invalid-parameter</code>" in answer.text
    assert "returnOrder.preDeliveryOrderCode" in answer.text and "orderLines[0].planQty" in answer.text
    wrong_sign = call(session, shop, "returnorder.create", return_document("R4", "PS1", [("A", 1)]), secret="nope")
    assert wrong_sign.code == "sign-check-failure"
    assert shop.admin.returns() == []


def test_a_warehouse_that_has_not_enabled_returns_answers_with_a_failure(wms_simulator_factory, session):
    sim = wms_simulator_factory(disabled_methods=("taobao.qimen.returnorder.create",))
    assert sim.admin.config()["disabled_methods"] == ["returnorder.create"]
    assert call(session, sim, "singleitem.synchronize", {"actionType": "add", "warehouseCode": WAREHOUSE,
                "ownerCode": OWNER, "item": {"itemCode": "A", "itemName": "A", "itemType": "ZC"}}).success
    assert call(session, sim, "deliveryorder.create", order_document("PS1", [("A", 1)])).success

    refused = call(session, sim, "returnorder.create", return_document("R1", "PS1", [("A", 1)]))
    assert (refused.flag, refused.code) == ("failure", "method-not-enabled")
    assert "returnorder.create" in refused.message
    assert sim.admin.returns() == []

    sim.admin.set_config(disabled_methods=[])
    assert call(session, sim, "returnorder.create", return_document("R1", "PS1", [("A", 1)])).success
    with pytest.raises(SimulatorAdminError) as bad:
        sim.admin.set_config(disabled_methods=["returnorder.creat"])
    assert bad.value.status == 400


# ---- receiving a return -----------------------------------------------------------------------


def test_a_received_return_posts_a_signed_confirm_and_puts_good_units_back_in_stock(shop, session, callback_receiver):
    assert call(session, shop, "returnorder.create", return_document("R1", "PS1", [("A", 2), ("B", 1)])).success
    before = inventory(session, shop, "A", "B")
    assert before == {("A", "ZP"): 8, ("B", "ZP"): 9}

    result = shop.admin.receive_return("R1", [{"itemCode": "A", "good": 1, "defective": 1},
                                              {"itemCode": "B", "good": 1}])
    assert result["state"] == "received" and [d["delivered"] for d in result["deliveries"]] == [True]

    [received] = callback_receiver.wait_for(1)
    assert received.method == "returnorder.confirm" and received.sign_valid
    assert verify_sign(received.params, received.body, shop.secret)
    confirm = parse_returnorder_confirm(received.body)
    assert (confirm.returnOrderCode, confirm.returnOrderId) == ("R1", shop.admin.returns("R1")[0]["return_id"])
    assert confirm.outBizCode == result["out_biz_code"] == confirm.dedup_key
    assert (confirm.confirmType, confirm.is_final, confirm.expressCode) == (0, True, "SF9001")
    assert (confirm.warehouseCode, confirm.orderType, confirm.notes) == (WAREHOUSE, "THRK", ())
    assert confirm.actual_by_item == {("A", "ZP"): 1, ("A", "CC"): 1, ("B", "ZP"): 1}

    assert inventory(session, shop, "A", "B") == {("A", "ZP"): 9, ("A", "CC"): 1, ("B", "ZP"): 10}
    [stored] = shop.admin.returns()
    assert stored["status"] == "received"
    assert [(line["good_qty"], line["defective_qty"]) for line in stored["lines"]] == [(1, 1), (1, 0)]
    with pytest.raises(SimulatorAdminError) as closed:
        shop.admin.receive_return("R1")
    assert (closed.value.status, closed.value.answer["code"]) == (409, "return-closed")


def test_a_partial_receipt_then_the_rest_by_default(shop, session, callback_receiver):
    assert call(session, shop, "returnorder.create", return_document("R1", "PS1", [("A", 2), ("B", 1)])).success
    first = shop.admin.receive_return("R1", [{"orderLineNo": "1", "good": 1}], confirm_type=1)
    assert first["state"] == "receiving" and shop.admin.returns()[0]["status"] == "receiving"
    second = shop.admin.receive_return("R1", split="batchs")  # the rest, all good
    assert second["state"] == "received" and second["out_biz_code"] != first["out_biz_code"]

    partial, final = (r.message() for r in callback_receiver.wait_for(2))
    assert (partial.confirmType, partial.is_final, partial.actual_by_item) == (1, False, {("A", "ZP"): 1})
    assert (final.confirmType, final.actual_by_item) == (0, {("A", "ZP"): 1, ("B", "ZP"): 1})
    assert inventory(session, shop, "A", "B") == {("A", "ZP"): 10, ("B", "ZP"): 10}


def test_a_mixed_line_can_come_as_batchs_and_bad_receipts_are_refused(shop, session, callback_receiver):
    assert call(session, shop, "returnorder.create", return_document("R1", "PS1", [("A", 2)])).success
    for lines, status in (([{"itemCode": "Z", "good": 1}], 409), ([{"itemCode": "A", "good": -1}], 400),
                          ([{"itemCode": "A", "good": "1"}], 400)):
        with pytest.raises(SimulatorAdminError) as refused:
            shop.admin.receive_return("R1", lines)
        assert refused.value.status == status, lines
    with pytest.raises(SimulatorAdminError) as unknown:
        shop.admin.receive_return("NOPE")
    assert unknown.value.status == 409
    assert callback_receiver.received == [] and shop.admin.returns()[0]["status"] == "announced"

    shop.admin.receive_return("R1", [{"itemCode": "A", "good": 1, "defective": 1}], split="batchs")
    [line] = parse_returnorder_confirm(callback_receiver.wait_for(1)[0].body).orderLines
    assert (line.actualQty, [(b.inventoryType, b.actualQty) for b in line.batchs]) == (2, [("ZP", 1), ("CC", 1)])


# ---- the warehouse's reports ------------------------------------------------------------------


def test_orderprocess_report_for_a_delivery_order(shop, callback_receiver):
    result = shop.admin.report_process("PS2", "TMSCANCELED", operate_info="拦截成功", express_code="ZT100")
    [received] = callback_receiver.wait_for(1)
    assert received.method == "orderprocess.report" and received.sign_valid
    report = parse_orderprocess_report(received.body)
    assert (report.orderCode, report.orderId) == ("PS2", shop.admin.order("PS2")["order_id"])
    assert (report.processStatus, report.operateInfo, report.expressCode) == ("TMSCANCELED", "拦截成功", "ZT100")
    assert (report.orderType, report.warehouseCode, report.ownerCode) == ("JYCK", WAREHOUSE, OWNER)
    assert report.outBizCode == result["out_biz_code"] == report.dedup_key and report.operateTime is not None

    shop.admin.report_process("PS2", "reject")
    assert parse_orderprocess_report(callback_receiver.wait_for(2)[1].body).processStatus == "REJECT"
    assert shop.admin.order("PS2")["status"] == "ACCEPT", "a report tells; it does not change the order"
    for args, status in ((("PS2", "BOGUS"), 400), (("NOPE", "PICK"), 409)):
        with pytest.raises(SimulatorAdminError) as refused:
            shop.admin.report_process(*args)
        assert refused.value.status == status


def test_itemlack_report_for_some_or_all_lines(wms_simulator, sim_with_items, callback_receiver, session):
    sim = sim_with_items
    sim.admin.set_config(callback_url=callback_receiver.url)
    assert call(session, sim, "deliveryorder.create", order_document("PL1", [("A", 2), ("B", 3)])).success

    some = sim.admin.report_lack("PL1", {"B": 2})
    everything = sim.admin.report_lack("PL1", reason="系统报缺")
    first, second = (parse_itemlack_report(r.body) for r in callback_receiver.wait_for(2))
    assert (first.deliveryOrderCode, first.deliveryOrderId) == ("PL1", sim.admin.order("PL1")["order_id"])
    assert first.lack_by_item == {"B": 2} and [(i.planQty, i.reason) for i in first.items] == [(3, "实物报缺")]
    assert second.lack_by_item == {"A": 2, "B": 3} and {i.reason for i in second.items} == {"系统报缺"}
    assert (first.outBizCode, second.outBizCode) == (some["out_biz_code"], everything["out_biz_code"])
    assert first.dedup_key != second.dedup_key and first.warehouseCode == WAREHOUSE
    for lacks, status in (({"Z": 1}, 409), ({"A": 3}, 400)):
        with pytest.raises(SimulatorAdminError) as refused:
            sim.admin.report_lack("PL1", lacks)
        assert refused.value.status == status, lacks


def test_stockchange_report_moves_the_warehouse_stock_too(shop, session, callback_receiver):
    result = shop.admin.report_stock_change([{"itemCode": "A", "quantity": -3}, {"itemCode": "B", "quantity": 5},
                                             {"itemCode": "C", "quantity": 2, "inventoryType": "CC"}],
                                            order_code="PD-1", order_type="QTRK")
    [received] = callback_receiver.wait_for(1)
    assert received.method == "stockchange.report" and received.sign_valid
    report = parse_stockchange_report(received.body)
    assert report.quantity_by_item == {("A", "ZP"): -3, ("B", "ZP"): 5, ("C", "CC"): 2}
    assert report.dedup_key == result["out_biz_code"]
    assert {(i.orderCode, i.orderType, i.warehouseCode, i.ownerCode) for i in report.items} == {
        ("PD-1", "QTRK", WAREHOUSE, OWNER)}
    assert inventory(session, shop, "A", "B", "C") == {("A", "ZP"): 5, ("B", "ZP"): 14, ("C", "ZP"): 7,
                                                        ("C", "CC"): 2}

    adjustment = shop.admin.report_stock_change([{"itemCode": "A", "quantity": 1}])
    assert parse_stockchange_report(callback_receiver.wait_for(2)[1].body).items[0].orderCode == \
        f"ADJ{adjustment['out_biz_code']}"
    for changes, status in (([{"itemCode": "A", "quantity": 0}], 400), ([{"itemCode": "GHOST", "quantity": 1}], 409)):
        with pytest.raises(SimulatorAdminError) as refused:
            shop.admin.report_stock_change(changes)
        assert refused.value.status == status, changes
    assert inventory(session, shop, "A")[("A", "ZP")] == 6, "a refused change moves nothing"


# ---- delivery: duplicates, holding back, retries, the callback token ---------------------------


def test_repeat_posts_duplicates_sharing_the_out_biz_code(shop, session, callback_receiver):
    assert call(session, shop, "returnorder.create", return_document("R1", "PS1", [("A", 1)])).success
    posts = [shop.admin.report_process("PS2", "PICK", repeat=2), shop.admin.report_lack("PS2", repeat=1),
             shop.admin.report_stock_change([{"itemCode": "A", "quantity": 1}], repeat=1),
             shop.admin.receive_return("R1", repeat=1)]
    assert [len(p["deliveries"]) for p in posts] == [3, 2, 2, 2]
    received = callback_receiver.wait_for(9)
    keys = [r.message().dedup_key for r in received]
    assert keys == [p["out_biz_code"] for p, n in zip(posts, (3, 2, 2, 2)) for _ in range(n)]
    assert len(set(keys)) == 4, "each message its own outBizCode, duplicates the same"
    assert received[0].body == received[1].body == received[2].body
    assert inventory(session, shop, "A")[("A", "ZP")] == 10, "a duplicate post moves no stock again"

    shop.admin.resend_confirm(posts[1]["out_biz_code"])  # the resend works for reports too
    assert callback_receiver.wait_for(10)[-1].message().dedup_key == posts[1]["out_biz_code"]
    with pytest.raises(SimulatorAdminError) as bad:
        shop.admin.report_process("PS2", "PICK", repeat=-1)
    assert bad.value.status == 400


def test_held_reports_wait_and_are_listed_apart_from_confirmations(shop, callback_receiver):
    held = shop.admin.report_process("PS2", "PACKAGE", hold=True)
    assert held["deliveries"] == [] and callback_receiver.received == []
    assert [c["method"] for c in shop.admin.confirmations()] == ["deliveryorder.confirm"]
    pending = shop.admin.confirmations(pending=True, method="all")
    assert [(c["out_biz_code"], c["method"]) for c in pending] == [(held["out_biz_code"], "orderprocess.report")]
    assert shop.admin.confirmations(method="orderprocess.report") == pending

    [delivery] = shop.admin.deliver()["deliveries"]
    assert (delivery["method"], delivery["delivered"]) == ("orderprocess.report", True)
    assert callback_receiver.wait_for(1)[0].message().processStatus == "PACKAGE"


def test_a_failed_report_post_is_retried_like_a_confirmation(wms_simulator_factory, session):
    sim = wms_simulator_factory(auto_ship_after_s=3600.0, redeliver_after_s=0.2, callback_url=dead_url())
    assert call(session, sim, "singleitem.synchronize", {"actionType": "add", "warehouseCode": WAREHOUSE,
                "ownerCode": OWNER, "item": {"itemCode": "A", "itemName": "A", "itemType": "ZC"}}).success
    assert call(session, sim, "deliveryorder.create", order_document("PF1", [("A", 1)])).success
    [failed] = sim.admin.report_process("PF1", "ACCEPT")["deliveries"]
    assert failed["delivered"] is False and "Connection" in failed["error"]

    with CallbackReceiver() as receiver:
        sim.admin.set_config(callback_url=receiver.url + "?token=t0k3n")  # the receiver is back, with its token
        [arrived] = receiver.wait_for(1, timeout=10)
        assert arrived.method == "orderprocess.report" and arrived.params["token"] == "t0k3n"
        public = {k: v for k, v in arrived.params.items() if k != "token"}
        assert verify_sign(public, arrived.body, sim.secret), "signed over the public parameters, as confirmations"
        assert arrived.message().orderCode == "PF1"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        [row] = sim.admin.confirmations(method="orderprocess.report")
        if row["last_error"] is None:
            break
        time.sleep(0.05)
    assert (row["deliveries"], row["last_http_status"], row["last_error"]) == (2, 200, None)


def test_reset_forgets_returns_and_reports(shop, session):
    assert call(session, shop, "returnorder.create", return_document("R1", "PS1", [("A", 1)])).success
    shop.admin.report_process("PS2", "PICK")
    shop.admin.reset()
    assert shop.admin.returns() == [] and shop.admin.confirmations(method="all") == []


def test_a_state_file_from_before_reports_keeps_its_confirmations(tmp_path):
    import sqlite3

    from wms_simulator.store import WarehouseStore

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the confirmations table as it was, without ``method``
        db.execute("CREATE TABLE confirmations (seq INTEGER PRIMARY KEY, out_biz_code TEXT NOT NULL UNIQUE,"
                   " order_code TEXT NOT NULL, status TEXT NOT NULL, confirm_type INTEGER NOT NULL, express_codes"
                   " TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL, deliveries INTEGER NOT NULL"
                   " DEFAULT 0, last_http_status INTEGER, last_answer TEXT, last_error TEXT, last_delivered_at TEXT)")
        db.execute("INSERT INTO confirmations(seq, out_biz_code, order_code, status, confirm_type, express_codes,"
                   " body, created_at) VALUES (1, 'OB1', 'PS1', 'DELIVERED', 0, '[]', '<request/>', 'then')")
    db.close()
    store = WarehouseStore(str(path))
    try:
        [row] = store.confirmations(method="deliveryorder.confirm")
        assert (row["out_biz_code"], row["method"]) == ("OB1", "deliveryorder.confirm")
    finally:
        store.close()
