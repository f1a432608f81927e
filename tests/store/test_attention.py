"""One truth for "needs a person": every waiting state built through the store's own API, then the
run verdicts, the analysts' view wms_v_needs_person and the operations page must count the same,
on SQLite, PostgreSQL and MariaDB. Handled records leave all three; a person's acts are kept."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from wmsbridge.ops import page, queries
from wmsbridge.store import attention
from wmsbridge.store.actions import PersonActions
from wmsbridge.store.base import RunRef
from wmsbridge.store.exchange_log import Inbound
from wmsbridge.store import IntegrationStore
from wmsbridge.store.schema import DEFAULT_BRIDGE, order_sync, person_action, shipment_inbox

from confirm_steps import receive, settle
from order_steps import answer, claim, ship

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
PUSH = RunRef("scheduled__2026-11-30T02:00:00+00:00", "wms_order_push")
CANCEL = RunRef("scheduled__2026-11-30T02:00:00+00:00", "wms_order_cancel")  # the same run id, another DAG
ITEMS, SHIP, STOCK = RunRef("manual__i", "wms_item_sync"), RunRef("manual__s", "wms_shipments"), \
    RunRef("manual__v", "wms_inventory_sync")
RETURNS = RunRef("manual__r", "wms_returns")
EARLIER = RunRef("scheduled__2026-11-29T02:00:00+00:00", "wms_order_push")

# what the states below leave waiting, per category
EXPECTED = {
    "orders_rejected": 1, "orders_unkeyed": 1, "orders_refused": 2, "orders_exists_different": 1,
    "refunds_after_shipment": 1, "cancels_refused": 1, "intercepts_to_check": 1, "items_rejected": 1, "items_unkeyed": 1, "items_refused": 1,
    "confirmations_alarm": 1, "confirmations_unmatched": 1, "reports_for_person": 2, "inventory_refused": 1,
    "returns_rejected": 1, "returns_refused": 1, "returns_withdrawn": 1, "returns_receipts": 1, "returns_to_refund": 2,
    "stock_adjustments_unsure": 1,
    "stock_changes_refused": 1, "stock_changes_unsure": 1,
}


def _order(store, code: str, *, run=PUSH) -> None:
    store.orders.ensure_pending([{"delivery_order_code": code, "shop_order_id": code.lower()}], run_id=run)
    assert claim(store, code, run).owned


def _confirmation(store, key: str, code: str, status: str = "DELIVERED") -> int:
    return receive(store.confirmations, code, key=key, status=status).inbox_id


@pytest.fixture
def states(engine):
    return build_states(engine)


def build_states(engine, bridge_id: str = DEFAULT_BRIDGE) -> IntegrationStore:
    """Every waiting state once (and their look-alikes that do not wait), through the store's API."""
    store = IntegrationStore(engine, clock=lambda: NOW, bridge_id=bridge_id)
    # orders decided by the push run
    _order(store, "REFUSED1")
    answer(store, "REFUSED1", "failed", error_code="B01", error_message="货主不存在", retryable=False, run_id=PUSH)
    _order(store, "BUSY1")
    answer(store, "BUSY1", "failed", error_code="SYSTEM_BUSY", error_message="busy", retryable=True, run_id=PUSH)  # retried: nobody waits
    _order(store, "DIFF1")
    answer(store, "DIFF1", "exists_different", error_code="order-exists-different", error_message="older version", run_id=PUSH)
    _order(store, "SENT1")
    answer(store, "SENT1", "sent", wms_order_id="W1", run_id=PUSH)
    store.orders.ensure_pending([{"delivery_order_code": "REJ1", "shop_order_id": "rej1"}], run_id=PUSH)
    store.orders.mark_rejected_many({"REJ1": ["receiverInfo.mobile: required"]}, run_id=PUSH)
    # decided by an earlier run: waits, but is not this run's verdict
    _order(store, "OLD1", run=EARLIER)
    answer(store, "OLD1", "failed", error_code="B01", error_message="refused", retryable=False, run_id=EARLIER)
    # refunds after shipment and a refused cancel, decided by the cancel run (same run id as the push)
    for code in ("RAS1", "XCAN1", "CROSS1"):
        _order(store, code)
        answer(store, code, "sent", wms_order_id="W", run_id=PUSH)
        store.orders.request_cancel(code, run_id=CANCEL)
    ship(store, "RAS1", carrier_code="SF", tracking_numbers=["SF1"])
    store.orders.mark_refund_after_shipment("RAS1", run_id=CANCEL)
    store.orders.mark_cancel_failed("XCAN1", "CANCEL_REFUSED", "拒绝取消", run_id=CANCEL)
    ship(store, "CROSS1", carrier_code="SF", tracking_numbers=["SF2"])  # crossed: shipped after the refund
    # records whose code cannot be used
    store.unkeyed.record("orders", [{"shop_id": "901", "shop_code": "", "violations": ["x: empty"]}], run_id=PUSH)
    store.unkeyed.record("orders", [{"shop_id": "902", "shop_code": " A ", "violations": ["x: padded"]}], run_id=PUSH)
    store.unkeyed.resolve("orders", ["902"], run_id=PUSH)  # fixed in the shop: not waiting
    store.unkeyed.record("items", [{"shop_id": "77", "shop_code": None, "violations": ["itemCode: required"]}],
                         run_id=ITEMS)
    # SKUs
    store.items.record_rejected("SKU-REJ", ["item.barCode: too long"], sku_id="1", run_id=ITEMS)
    store.items.record_failed("SKU-BAD", error_code="B02", message="仓库不接收", retryable=False, sku_id="2",
                             run_id=ITEMS)
    store.items.record_failed("SKU-BUSY", error_code="SYSTEM_BUSY", message="busy", retryable=True, sku_id="3",
                             run_id=ITEMS)
    store.items.record_synced("SKU-OK", content_hash="h", sku_id="4", run_id=ITEMS)
    # confirmations
    inbox = store.confirmations
    assert settle(inbox, _confirmation(store, "c1", "SENT1", "EXCEPTION"), "needs_person", reason="EXCEPTION", run_id=SHIP)
    assert settle(inbox, _confirmation(store, "c2", "JY2009260440"), "waiting", reason="no order", run_id=SHIP, overdue=True)
    assert settle(inbox, _confirmation(store, "c3", "NEW1"), "waiting", reason="no order yet", run_id=SHIP)
    assert settle(inbox, _confirmation(store, "c4", "SENT1"), "applied", run_id=SHIP)
    # the warehouse's reports: a shortage waits for a person; one a flow applied does not
    for key, state in (("lack-1", "needs_person"), ("lack-2", "applied")):
        store.reports.receive(method="itemlack.report", key=key, order_code="SENT1", summary="SKU-1: 2 of 3 short",
                              state=state, raw_body="<request/>", inbound=Inbound(
                                  method="itemlack.report", url=None, body="<request/>", answer="ok", http_status=200,
                                  outcome="success"))
    # the warehouse's orderprocess.report: a failed intercept the receiver stored for a person at once
    # (no run decided it), and two courier intercepts (TMSCANCELED) the cancel run settled: one of an
    # order the shop never refunded waits for a person, one it applied does not
    for key, code, state in (("op-1", "RAS1", "needs_person"), ("op-2", "SENT1", "received"),
                             ("op-3", "CROSS1", "received")):
        store.reports.receive(method="orderprocess.report", key=key, order_code=code, summary=f"{code} TMS",
                              state=state, raw_body="<request/>", inbound=Inbound(
                                  method="orderprocess.report", url=None, body="<request/>", answer="ok",
                                  http_status=200, outcome="success"))
    (unasked, intercepted) = store.reports.waiting("orderprocess.report")
    assert store.reports.settle(unasked["id"], "needs_person", summary="the courier intercepted SENT1 (TMSCANCELED) "
                                "but the shop did not refund it", run_id=CANCEL)
    assert store.reports.settle(intercepted["id"], "applied", run_id=CANCEL)
    # returns: refused by our checks, by the warehouse, waiting for a retry (nobody waits), received
    # (the refund is a person's to pay: in part or whole), refunded (nobody waits); RAS1's refund after
    # shipment became a return, so it leaves the refunds a person must handle
    returns = store.returns
    returns.register([{"return_code": code, "shop_return_id": str(n), "delivery_order_code": order}
                      for n, (code, order) in enumerate((("RJ1", "SENT1"), ("RF1", "SENT1"), ("RB1", "SENT1"),
                                                         ("RC1", "SENT1"), ("RP1", "SENT1"), ("RD1", "SENT1"),
                                                         ("RAS1-R", "RAS1")))], run_id=RETURNS)
    returns.mark_rejected("RJ1", "the order never reached the warehouse", run_id=RETURNS)
    for code, retryable in (("RF1", False), ("RB1", True)):
        assert returns.claim(code, run_id=RETURNS)
        returns.mark_failed(code, "B09", "退货单不允许", retryable=retryable, run_id=RETURNS)
    for code, final in (("RC1", True), ("RP1", False), ("RD1", True)):
        assert returns.claim(code, run_id=RETURNS)
        returns.mark_sent(code, "WR1", run_id=RETURNS)
        assert returns.mark_received(code, {"SKU-1": {"ZP": 1}}, final=final, note="SKU-1 good 1", run_id=RETURNS)
    returns.mark_refunded("RD1", run_id=RETURNS)
    # the warehouse's receipts of returns, settled by the returns run: one it could not apply (a
    # return we never announced) waits for a person, one it applied does not
    for key in ("RR-1", "RR-2"):
        store.reports.receive(method="returnorder.confirm", key=key, order_code="RX1" if key == "RR-1" else "RC1",
                              summary="SKU-1 good 1", state="received", raw_body="<request/>", inbound=Inbound(
                                  method="returnorder.confirm", url=None, body="<request/>", answer="ok",
                                  http_status=200, outcome="success"))
    (unknown, known) = store.reports.waiting("returnorder.confirm")
    assert store.reports.settle(unknown["id"], "needs_person", summary="a return we never announced: RX1",
                                run_id=RETURNS)
    assert store.reports.settle(known["id"], "applied", run_id=RETURNS)
    # withdrawn in the shop (decided by another returns run): after the warehouse was told (waits),
    # and before it was (nobody waits)
    withdrawing = RunRef("manual__w", "wms_returns")
    returns.register([{"return_code": code, "shop_return_id": f"w{code}", "delivery_order_code": "SENT1"}
                      for code in ("RW1", "RW2")], run_id=withdrawing)
    assert returns.claim("RW1", run_id=withdrawing)
    returns.mark_sent("RW1", "WR2", run_id=withdrawing)
    assert returns.mark_withdrawn("RW1", "sent", "用户已取消", told=True, run_id=withdrawing)
    assert returns.mark_withdrawn("RW2", "pending", "用户已取消", told=False, run_id=withdrawing)
    # a stock change a run left unfinished (recorded, never finished): unsure once it is old
    store.adjustments.begin("return_received", "RC1", [{"item_code": "SKU-1", "sku_id": "4", "delta": 1}],
                            run_id=RETURNS)
    store.adjustments.begin("stock_change", "OB-1", [{"item_code": "SKU-1", "sku_id": "4", "delta": -2}],
                            run_id=STOCK)
    later = IntegrationStore(engine, clock=lambda: NOW + timedelta(hours=1), bridge_id=bridge_id)
    assert later.adjustments.abandoned(["return_received", "return_add_back"], run_id=RETURNS) == 1
    assert later.adjustments.abandoned(["stock_change"], run_id=STOCK) == 1
    # the warehouse's stock changes: one the guard rail refused, one applied (nobody waits)
    for key, state in (("OB-2", "received"), ("OB-3", "received")):
        store.reports.receive(method="stockchange.report", key=key, order_code=None, summary="SKU-1 -5", state=state,
                              raw_body="<request/>", inbound=Inbound(
                                  method="stockchange.report", url=None, body="<request/>", answer="ok",
                                  http_status=200, outcome="success"))
    (refused, applied) = store.reports.waiting("stockchange.report")
    assert store.reports.settle(refused["id"], "needs_person", summary="would go below zero", run_id=STOCK)
    assert store.reports.settle(applied["id"], "applied", run_id=STOCK)
    assert not store.reports.settle(applied["id"], "applied", run_id=STOCK)  # settled once
    # stock: one day refused by a guard rail, another refused and then written by a later run
    ledger = store.inventory
    refused = ledger.claim_day(date(2026, 11, 30), STOCK, forced=False)
    ledger.finish(refused.run_row_id, "guard_refused", message="would zero 60 % of the SKUs")
    for verdict in ("guard_refused", "completed"):
        claim = ledger.claim_day(date(2026, 11, 29), RunRef(f"manual__{verdict}", "wms_inventory_sync_manual"),
                                 forced=True)
        ledger.finish(claim.run_row_id, verdict)
    return store


def page_counts(engine) -> dict[str, int]:
    """The counts the operations page shows (its data-count attributes), as a person would read them."""
    html = page.waiting_section(queries.waiting(engine), now=NOW, may_act=True, csrf="t", text="", focus=None)
    return {key: int(n) for key, n in re.findall(r"data-category='(\w+)' data-count='(\d+)'", html) if key != "total"}


def test_verdicts_the_view_and_the_page_agree_on_every_category(states, engine):
    counts = attention.counts(engine)
    assert counts == EXPECTED
    assert queries.view_counts(engine) == EXPECTED
    assert page_counts(engine) == EXPECTED
    listed = {c.key: {r["subject"] for r in attention.rows(engine, c.key)} for c in attention.CATEGORIES}
    assert listed["orders_refused"] == {"REFUSED1", "OLD1"} and listed["orders_exists_different"] == {"DIFF1"}
    assert listed["refunds_after_shipment"] == {"CROSS1"} and listed["cancels_refused"] == {"XCAN1"}
    assert listed["returns_to_refund"] == {"RC1", "RP1"} and listed["returns_refused"] == {"RF1"}
    (receipt,) = attention.rows(engine, "returns_receipts")
    assert (receipt["flow"], receipt["detail"]) == ("returns", "RX1")
    (intercept,) = attention.rows(engine, "intercepts_to_check")
    assert (intercept["flow"], intercept["detail"]) == ("cancels", "SENT1") and "did not refund" in intercept["reason"]
    # the shortage and the failed intercept the receiver stored: not the intercept the cancel run settled
    assert {r["detail"] for r in attention.rows(engine, "reports_for_person")} == {"SENT1", "RAS1"}
    assert intercept["subject"] not in {r["subject"] for r in attention.rows(engine, "reports_for_person")}
    with engine.connect() as conn:
        in_view = {tuple(r) for r in conn.execute(sa.text(f"SELECT category, subject FROM {attention.VIEW}"))}
    assert in_view == {(key, subject) for key, subjects in listed.items() for subject in subjects}


def test_a_run_fails_for_what_it_newly_found_and_the_dag_tells_equal_run_ids_apart(states, engine):
    store = states
    assert store.needs_person_by_run("orders", PUSH)[0] == 2  # REFUSED1, DIFF1 (not OLD1, not REJ1: the shop's)
    assert store.needs_person_by_run("orders", EARLIER) == (1, ["OLD1: refused"])
    # XCAN1, CROSS1: the cancel run's request is the last decision stamped on it (RAS1 became a return),
    # and the intercept of SENT1 the shop never refunded
    total, named = store.needs_person_by_run("cancels", CANCEL)
    assert total == 3 and any(n.startswith("SENT1 (#") for n in named), named
    assert store.needs_person_by_run("cancels", PUSH)[0] == 0  # the push's run id, but not the cancel DAG
    assert store.needs_person_by_run("items", ITEMS)[0] == 1
    assert store.needs_person_by_run("shipments", SHIP)[0] == 2
    assert store.needs_person_by_run("inventory", STOCK)[0] == 3  # the refused day and stock changes
    # RF1, the receipt of a return we never announced, the unsure stock change
    total, named = store.needs_person_by_run("returns", RETURNS)
    assert total == 3 and any(n.startswith("RX1 (#") for n in named), named
    # records the shop must fix do not fail runs; they are told apart for the alerts
    assert store.needs_person_by_run("orders", PUSH, failing=False)[0] == 2  # REJ1 and shop order 901
    # refused again by a later run: still the first run's decision, the later run does not fail for it
    store.items.record_failed("SKU-BAD", error_code="B02", message="仓库不接收", retryable=False, sku_id="2",
                             run_id=RunRef("manual__later", "wms_item_sync"))
    assert store.needs_person_by_run("items", RunRef("manual__later", "wms_item_sync"))[0] == 0
    assert store.needs_person_by_run("items", ITEMS)[0] == 1


def test_handled_records_leave_every_list_until_they_change_and_the_act_is_kept(states, engine):
    actions = PersonActions(engine, clock=lambda: NOW + timedelta(minutes=5))
    done = actions.act("handled", "orders_refused", ["REFUSED1", "NOPE"], actor="operator", note="told the warehouse")
    assert (done.done, done.stale) == (["REFUSED1"], ["NOPE"])
    expected = {**EXPECTED, "orders_refused": 1}
    assert attention.counts(engine) == queries.view_counts(engine) == page_counts(engine) == expected
    assert states.needs_person_by_run("orders", PUSH)[0] == 1  # a retried run passes once a person dealt with it
    # handled twice is no second act (it no longer waits)
    assert actions.act("handled", "orders_refused", ["REFUSED1"], actor="operator").stale == ["REFUSED1"]
    # send again: back to pending, out of the list, the next push sends it
    again = actions.act("send_again", "orders_exists_different", ["DIFF1"], actor="operator",
                        start=lambda done: ("wms_order_push_manual", "manual__again"))
    assert again.done == ["DIFF1"] and states.orders.order("DIFF1")["state"] == "pending"
    # a confirmation applied again is due again
    [c2] = [r for r in attention.rows(engine, "confirmations_unmatched")]
    assert actions.act("apply_again", "confirmations_unmatched", [c2["subject"]], actor="operator").done
    with engine.connect() as conn:
        assert conn.execute(sa.select(shipment_inbox.c.state).where(shipment_inbox.c.out_biz_code == "c2")).scalar() \
            == "received"
        acts = conn.execute(sa.select(person_action).order_by(person_action.c.id)).all()
    assert [(a.action, a.subject, a.actor) for a in acts] == [
        ("handled", "REFUSED1", "operator"), ("send_again", "DIFF1", "operator"),
        ("apply_again", c2["subject"], "operator")]
    assert acts[0].note == "told the warehouse" and (acts[1].dag_id, acts[1].run_id) == ("wms_order_push_manual",
                                                                                       "manual__again")
    # a handled order that moves on and is refused again waits again
    with engine.begin() as conn:
        conn.execute(sa.update(order_sync).where(order_sync.c.delivery_order_code == "REFUSED1")
                     .values(state="failed", last_error_retryable=True))
    assert claim(states, "REFUSED1", "manual__retry").owned
    answer(states, "REFUSED1", "failed", error_code="B01", error_message="still refused", retryable=False,
           run_id="manual__retry")
    assert "REFUSED1" in {r["subject"] for r in attention.rows(engine, "orders_refused")}


def test_an_act_that_cannot_start_its_run_changes_nothing(states, engine):
    def broken(done):
        raise RuntimeError("the DAG does not exist")

    with pytest.raises(RuntimeError):
        PersonActions(engine).act("send_again", "orders_refused", ["REFUSED1"], actor="operator", start=broken)
    assert states.orders.order("REFUSED1")["state"] == "failed"
    assert attention.counts(engine) == EXPECTED
    with pytest.raises(ValueError, match="not an action for orders_rejected"):
        PersonActions(engine).act("send_again", "orders_rejected", ["REJ1"], actor="operator")


def test_two_bridges_with_the_same_codes_wait_apart_and_add_up(engine):
    """Two shops whose orders, SKUs, confirmations and returns share every code: each bridge's
    counts, verdicts and acts are its own; the view and the page's totals add them up."""
    a, b = build_states(engine, "shop-a"), build_states(engine, "shop-b")
    assert attention.counts(engine, bridge_id="shop-a") == attention.counts(engine, bridge_id="shop-b") == EXPECTED
    assert attention.counts(engine) == {key: 2 * n for key, n in EXPECTED.items()}
    assert attention.counts_by_bridge(engine) == {"shop-a": EXPECTED, "shop-b": EXPECTED}
    with engine.connect() as conn:
        per_bridge = conn.execute(sa.text(f"SELECT bridge_id, COUNT(*) FROM {attention.VIEW} GROUP BY bridge_id")).all()
    assert dict(per_bridge) == {"shop-a": sum(EXPECTED.values()), "shop-b": sum(EXPECTED.values())}
    assert a.needs_person_by_run("orders", PUSH)[0] == b.needs_person_by_run("orders", PUSH)[0] == 2
    # a person's act in one shop leaves the other shop's record of the same code waiting
    acts = PersonActions(engine, clock=lambda: NOW, bridge_id="shop-a")
    assert acts.act("handled", "orders_refused", ["REFUSED1"], actor="operator").done == ["REFUSED1"]
    assert acts.act("send_again", "orders_exists_different", ["DIFF1"], actor="operator").done == ["DIFF1"]
    assert a.orders.order("DIFF1")["state"] == "pending" and b.orders.order("DIFF1")["state"] == "exists_different"
    assert attention.counts(engine, bridge_id="shop-b") == EXPECTED
    assert attention.counts(engine, bridge_id="shop-a")["orders_refused"] == 1
    assert [r["subject"] for r in acts.history()] == ["DIFF1", "REFUSED1"]
    assert PersonActions(engine, bridge_id="shop-b").history() == []
