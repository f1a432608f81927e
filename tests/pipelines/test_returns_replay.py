"""Returns, when the warehouse's receipts do not arrive as planned, on the three databases (litemall):

- a run that dies after the receipt reached the shop's stock but before the receipt was recorded
  as applied: the next run (a retried or cleared task) moves nothing a second time;
- the same receipt posted again under a new outBizCode (a resend with a fresh key), or receipts
  adding up to more than the return announced: what fits the announcement is applied, the excess
  never reaches the shop's stock and waits for a person with its reason;
- partial receipts adding up to at most what was announced are applied as they come.

The warehouse is the simulator over HTTP, the receiver the real app on a socket; the only stand-in
is the crash (``WarehouseReports.settle`` raising once), as tests/pipelines/test_stock_changes.py does.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from bridge_helpers import bridge
from databases import BACKENDS
from test_returns import RETURNS_ON, lines, litemall_aftersale, post, stock, waiting

from wmsbridge.pipelines.returns import sync_returns
from wmsbridge.store import attention
from wmsbridge.store.reports import WarehouseReports
from wmsbridge.store.schema import return_sync, stock_adjustment, warehouse_report

CONFIRM = "returnorder.confirm"


def announced(shipped_order, backend: str):
    """A shipped litemall order whose after-sale AS-1 was approved and announced to the warehouse:
    ``(shop, sim, store, receiver, aftersale_id, order_id, stock_before)``."""
    shop, sim, store, receiver, _code, order_id = shipped_order(backend, **RETURNS_ON)
    aftersale = litemall_aftersale(shop, order_id)
    assert sync_returns(bridge("returns-announce")).sent == 1
    assert [r["return_code"] for r in sim.admin.returns()] == ["AS-1"]
    return shop, sim, store, receiver, aftersale, order_id, stock(shop, order_id)


def comment(shop, aftersale: int) -> str:
    with shop.engine.connect() as conn:
        return conn.execute(sa.text("SELECT comment FROM litemall_aftersale WHERE id = :a"),
                            {"a": aftersale}).scalar_one()


def receipts(store) -> list:
    """Every stored returnorder.confirm, oldest first."""
    with store.engine.connect() as conn:
        return conn.execute(sa.select(warehouse_report).where(warehouse_report.c.method == CONFIRM)
                            .order_by(warehouse_report.c.id)).all()


def the_return(store):
    with store.engine.connect() as conn:
        return conn.execute(sa.select(return_sync).where(return_sync.c.return_code == "AS-1")).one()


def ledger(store) -> list[tuple[str, str, str, int, str]]:
    """wms_stock_adjustment as (source, key, item, delta, state), in the order written."""
    with store.engine.connect() as conn:
        return [(r.source, r.source_key, r.item_code, r.delta, r.state) for r in conn.execute(
            sa.select(stock_adjustment).order_by(stock_adjustment.c.id))]


def resend(receiver, raw_body: str, key: str) -> None:
    """The same receipt, posted again under a new outBizCode (a fresh key)."""
    body, n = re.subn(r"<outBizCode>[^<]*</outBizCode>", f"<outBizCode>{key}</outBizCode>", raw_body)
    assert n == 1
    assert post(receiver.url(method=CONFIRM), body)


def crash_once_on_settle(monkeypatch, state: str) -> list[int]:
    """The worker dies once, just before the returns flow records a receipt as ``state``."""
    real, crashed = WarehouseReports.settle, []

    def settle(self, report_id, to, **kwargs):
        if to == state and not crashed:
            crashed.append(report_id)
            raise RuntimeError("the worker died before the receipt was recorded")
        return real(self, report_id, to, **kwargs)

    monkeypatch.setattr(WarehouseReports, "settle", settle)
    return crashed


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_crash_after_the_stock_moved_before_the_receipt_was_recorded_moves_nothing_twice(
        backend, shipped_order, monkeypatch):
    shop, sim, store, receiver, aftersale, order_id, before = announced(shipped_order, backend)
    sim.admin.receive_return("AS-1", callback_url=receiver.url())
    crashed = crash_once_on_settle(monkeypatch, "applied")
    with pytest.raises(RuntimeError, match="worker died"):
        sync_returns(bridge("returns-2"))
    # the shop's stock and its after-sale record moved, the receipt is still `received`
    received = {sku: before[sku] + n for sku, _item, n in lines(shop, order_id)}
    assert crashed and stock(shop, order_id) == received
    note = comment(shop, aftersale)
    assert note.count("仓库已收货") == 1
    (stored,) = receipts(store)
    assert stored.state == "received"

    # the task is retried (same run id), then the next runs: the receipt is recorded, nothing moves again
    retried = sync_returns(bridge("returns-2"))
    assert (retried.sent, retried.needs_person) == (0, 0)
    for n in (3, 4):
        assert sync_returns(bridge(f"returns-{n}")).sent == 0
    assert stock(shop, order_id) == received
    assert comment(shop, aftersale) == note
    (stored,) = receipts(store)
    assert stored.state == "applied"
    assert the_return(store).state == "received"
    assert [(r["subject"], r["detail"]) for r in attention.rows(store.engine, "returns_to_refund")] == \
        [("AS-1", the_return(store).delivery_order_code)]
    assert ledger(store) == [("return_received", stored.report_key, item, n, "applied")
                             for _sku, item, n in lines(shop, order_id)]
    assert not attention.rows(store.engine, "returns_receipts")
    assert not attention.rows(store.engine, "stock_adjustments_unsure")


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_same_receipt_under_a_new_out_biz_code_never_moves_the_stock_again(backend, shipped_order):
    shop, sim, store, receiver, aftersale, order_id, before = announced(shipped_order, backend)
    sim.admin.receive_return("AS-1", callback_url=receiver.url())
    (original,) = receipts(store)
    # the gateway resends it under a fresh key before the bridge ran: both are stored
    resend(receiver, original.raw_body, "RESEND-1")
    first = sync_returns(bridge("returns-2"))
    assert (first.sent, first.needs_person, first.needs_person_verdict) == (1, 1, 1), first.summary()
    assert "AS-1 (#" in first.verdict_samples[0] and "more than the return announced" in first.verdict_samples[0]
    # Airflow retries that run: the same verdict, nothing moves again
    assert sync_returns(bridge("returns-2")).needs_person_verdict == 1
    received = {sku: before[sku] + n for sku, _item, n in lines(shop, order_id)}
    assert stock(shop, order_id) == received
    note = comment(shop, aftersale)
    assert note.count("仓库已收货") == 1
    applied, repeat = receipts(store)
    assert (applied.id, applied.state, repeat.report_key, repeat.state) == \
        (original.id, "applied", "RESEND-1", "needs_person")
    assert "more than the return announced" in repeat.summary
    assert f"repeats receipt #{original.id}" in repeat.summary
    for _sku, item, n in lines(shop, order_id):
        assert f"{item}: {2 * n} received in all, {n} announced" in repeat.summary

    # ... and once more after it was applied
    resend(receiver, original.raw_body, "RESEND-2")
    again = sync_returns(bridge("returns-3"))
    assert (again.sent, again.needs_person, again.needs_person_verdict) == (0, 1, 1)  # RESEND-2 only
    assert [r.state for r in receipts(store)] == ["applied", "needs_person", "needs_person"]
    for n in (4, 5):  # later runs: nothing more, and they do not fail for the receipts still waiting
        later = sync_returns(bridge(f"returns-{n}"))
        assert (later.sent, later.needs_person, later.needs_person_verdict) == (0, 0, 0)
    assert stock(shop, order_id) == received
    assert comment(shop, aftersale) == note
    assert [r[1] for r in ledger(store)] == [original.report_key] * len(lines(shop, order_id))
    # a person sees both repeats (return receipts to check, flow returns: not an order's report), and
    # the return to refund once
    assert {(r["subject"], r["detail"], r["flow"]) for r in attention.rows(store.engine, "returns_receipts")} == \
        {(str(r.id), "AS-1", "returns") for r in receipts(store)[1:]}
    assert not attention.rows(store.engine, "reports_for_person")
    assert waiting(store, "returns_to_refund") == {"AS-1"}
    assert len(attention.rows(store.engine, "returns_to_refund")) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_receipts_beyond_what_was_announced_apply_the_announced_part_and_the_excess_waits(
        backend, shipped_order, monkeypatch):
    shop, sim, store, receiver, aftersale, order_id, before = announced(shipped_order, backend)
    order_lines = lines(shop, order_id)
    sku, item, qty = order_lines[-1]
    # a first, partial receipt of one unit: applied as it is
    sim.admin.receive_return("AS-1", [{"itemCode": item, "good": 1}], confirm_type=1, callback_url=receiver.url())
    assert sync_returns(bridge("returns-2")).sent == 1
    assert stock(shop, order_id) == {**before, sku: before[sku] + 1}
    assert the_return(store).state == "partially_received"
    # the final one: every announced unit still due, and two more of that item (one good, one defective)
    rest = [{"itemCode": i, "good": n - (1 if i == item else 0)} for _s, i, n in order_lines]
    rest = [{**r, "good": r["good"] + 1, "defective": 1} if r["itemCode"] == item else r for r in rest]
    sim.admin.receive_return("AS-1", rest, callback_url=receiver.url())
    crashed = crash_once_on_settle(monkeypatch, "needs_person")  # and the worker dies before recording it
    with pytest.raises(RuntimeError, match="worker died"):
        sync_returns(bridge("returns-3"))
    assert crashed
    report = sync_returns(bridge("returns-3"))
    assert (report.sent, report.needs_person, report.needs_person_verdict) == (0, 1, 1)
    announced_stock = {s: before[s] + n for s, _i, n in order_lines}
    assert stock(shop, order_id) == announced_stock  # the announced units, not one more
    partial, final = receipts(store)
    assert (partial.state, final.state) == ("applied", "needs_person")
    assert "more than the return announced" in final.summary
    assert f"{item}: {qty + 2} received in all, {qty} announced (2 more: good 1, defective 1)" in final.summary
    assert "not put into the shop's stock" in final.summary
    row = the_return(store)
    assert row.state == "received" and "more than announced" in row.note and item in row.note
    note = comment(shop, aftersale)
    assert note.count("仓库部分收货") == 1 and note.count("仓库已收货") == 1
    assert f"良品 {sum(n for _s, _i, n in order_lines)} 次品 0" in note  # what the return announced
    assert {(r[1], r[2]): (r[3], r[4]) for r in ledger(store)} == {
        (partial.report_key, item): (1, "applied"),
        **{(final.report_key, i): (n - (1 if i == item else 0), "applied") for _s, i, n in order_lines
           if n - (1 if i == item else 0)}}
    for n in (4, 5):
        later = sync_returns(bridge(f"returns-{n}"))
        assert (later.sent, later.needs_person, later.needs_person_verdict) == (0, 0, 0)
    assert stock(shop, order_id) == announced_stock and comment(shop, aftersale) == note
    assert {r["subject"] for r in attention.rows(store.engine, "returns_receipts")} == {str(final.id)}
    assert not attention.rows(store.engine, "reports_for_person")
    assert waiting(store, "returns_to_refund") == {"AS-1"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_partial_receipts_up_to_what_was_announced_are_applied_as_they_come(backend, shipped_order):
    shop, sim, store, receiver, aftersale, order_id, before = announced(shipped_order, backend)
    order_lines = lines(shop, order_id)
    assert len(order_lines) >= 2 and order_lines[-1][2] >= 2, order_lines  # two lines, the last of 2 units or more
    first_sku, first_item, first_qty = order_lines[0]
    sku, item, qty = order_lines[-1]
    # one unit of the last line, good; then the first line, one unit defective; then the rest but one
    sim.admin.receive_return("AS-1", [{"itemCode": item, "good": 1}], confirm_type=1, callback_url=receiver.url())
    sim.admin.receive_return("AS-1", [{"itemCode": first_item, "good": first_qty - 1, "defective": 1}],
                             confirm_type=1, callback_url=receiver.url())
    assert sync_returns(bridge("returns-2")).sent == 2
    assert stock(shop, order_id) == {**before, sku: before[sku] + 1, first_sku: before[first_sku] + first_qty - 1}
    assert the_return(store).state == "partially_received"
    # the final receipt: one unit never came back (short, not more)
    sim.admin.receive_return("AS-1", [{"itemCode": i, "good": n - (2 if i == item else 0)}
                                      for _s, i, n in order_lines[1:]], callback_url=receiver.url())
    final = sync_returns(bridge("returns-3"))
    assert (final.sent, final.needs_person) == (1, 0)
    expected = {s: before[s] + n for s, _i, n in order_lines}
    expected[first_sku] -= 1  # defective
    expected[sku] -= 1        # never came back
    assert stock(shop, order_id) == expected
    assert [r.state for r in receipts(store)] == ["applied"] * 3
    row = the_return(store)
    assert row.state == "received" and "more than announced" not in row.note
    assert f"{item} 良品 good {qty - 1} 次品 defective 0 / 应退 planned {qty}" in row.note
    assert not attention.rows(store.engine, "returns_receipts")
    assert waiting(store, "returns_to_refund") == {"AS-1"}
    assert sync_returns(bridge("returns-4")).sent == 0 and stock(shop, order_id) == expected
