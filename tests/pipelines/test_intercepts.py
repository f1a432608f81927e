"""A courier intercept the warehouse reports (orderprocess.report TMSCANCELED, when switched on), on
the three databases: for a refund after shipment it is what the person was asked to get done, so
the cancels flow ends the order ``cancelled`` and it leaves their list; an intercept of an order the
shop never refunded waits for a person (``intercepts_to_check``, failing the run that settles it);
nothing moves twice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from bridge_helpers import bridge, order_sync_rows, paid_order_codes
from databases import BACKENDS

from wmsbridge.pipelines.cancels import cancel_orders
from wmsbridge.pipelines.shipments import apply_shipments
from wmsbridge.store import attention
from wmsbridge.store.schema import warehouse_report

BEIJING = timezone(timedelta(hours=8))


def waiting(store, category: str) -> list[dict]:
    return attention.rows(store.engine, category)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_intercept_ends_a_refund_after_shipment_and_an_unasked_one_waits(backend, shipped_order):
    shop, sim, store, receiver, code, order_id = shipped_order(backend, enabled_methods=["orderprocess.report"])
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    with shop.engine.begin() as conn:  # the buyer asks for a refund after the parcel left
        conn.execute(sa.text("UPDATE litemall_order SET order_status = 202, update_time = :t WHERE id = :o"),
                     {"o": order_id, "t": datetime.now(BEIJING).replace(tzinfo=None)})
    cancel_orders(bridge("cancel-1"), changed_from_utc=since)
    assert [r["subject"] for r in waiting(store, "refunds_after_shipment")] == [code]

    # a person has the courier stop the parcel; the warehouse reports it (the gateway posts it twice).
    # Another parcel is stopped that nobody asked for.
    other = sorted(paid_order_codes(shop) - {code})[0]
    sim.admin.ship([other], callback_url=receiver.url())
    assert apply_shipments(bridge("ship-2")).sent == 1
    sim.admin.report_process(code, "TMSCANCELED", operate_info="快递拦截成功,包裹退回仓库", repeat=1,
                             callback_url=receiver.url())
    sim.admin.report_process(other, "TMSCANCELED", callback_url=receiver.url())
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(warehouse_report)).scalar_one() == 2

    report = cancel_orders(bridge("cancel-2"), changed_from_utc=since)
    assert report.sent == 1 and report.needs_person >= 1
    rows = order_sync_rows(store)
    assert rows[code]["state"] == "cancelled" and rows[other]["state"] == "shipped"
    assert waiting(store, "refunds_after_shipment") == []
    # the unasked intercept is the cancels flow's to check (not an order the warehouse reports), and
    # the run that put it in front of a person fails for it, once
    (unasked,) = waiting(store, "intercepts_to_check")
    assert unasked["detail"] == other and "did not refund" in unasked["reason"] and unasked["flow"] == "cancels"
    assert waiting(store, "reports_for_person") == []
    assert report.needs_person_verdict == 1, report.summary()
    assert report.verdict_samples[0].startswith(f"{other} (#{unasked['subject']})"), report.verdict_samples

    again = cancel_orders(bridge("cancel-3"), changed_from_utc=since)
    assert again.sent == 0 and order_sync_rows(store)[code]["state"] == "cancelled"
    assert again.needs_person_verdict == 0  # a later run does not fail for it again
    with store.engine.connect() as conn:
        states = sorted(conn.execute(sa.select(warehouse_report.c.state)).scalars())
    assert states == ["applied", "needs_person"]
