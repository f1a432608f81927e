"""Order state machine: every transition allowed and refused, exclusive claims, bulk registration."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from wmsbridge.store import InvalidTransition, UnknownOrder
from wmsbridge.store.schema import order_sync

from order_steps import answer, cancelled_by_confirmation, claim, drive_to, reject, ship, shop_written

STATES = (
    "pending", "sending", "sent", "rejected", "failed", "exists_different",
    "cancel_requested", "cancelled", "cancel_failed", "shipped", "partially_shipped",
)


# operation -> {state it is allowed from: resulting state}; written out by hand from the design
# (docs/data-dictionary.md), deliberately not derived from wmsbridge.store.states.
SHIPPABLE = ("sending", "sent", "failed", "exists_different", "cancel_requested", "cancel_failed",
             "partially_shipped")
EXPECTED = {
    "mark_sent": {"sending": "sent"},
    "mark_failed": {"sending": "failed"},
    "mark_exists_different": {"sending": "exists_different", "sent": "exists_different"},
    "mark_rejected": {"pending": "rejected", "sending": "rejected", "failed": "rejected"},
    "requeue": {"failed": "pending", "rejected": "pending", "exists_different": "pending"},
    "request_cancel": {
        "pending": "cancelled", "rejected": "cancelled",
        "sent": "cancel_requested", "failed": "cancel_requested", "cancel_failed": "cancel_requested",
        "exists_different": "cancel_requested",
    },
    "mark_cancelled": {"sent": "cancelled", "cancel_requested": "cancelled", "cancel_failed": "cancelled"},
    "cancelled_by_confirmation": {"sent": "cancelled", "cancel_requested": "cancelled", "cancel_failed": "cancelled"},
    # shipped/partially_shipped: a refund after shipment (pipelines/cancels.py)
    "mark_cancel_failed": {"cancel_requested": "cancel_failed", "shipped": "cancel_failed",
                           "partially_shipped": "cancel_failed"},
    "ship": {s: "shipped" for s in SHIPPABLE},
    "ship_partially": {s: "partially_shipped" for s in SHIPPABLE},
    "shop_written": {"shipped": "shipped", "partially_shipped": "partially_shipped"},
}

OPERATIONS = {
    "mark_sent": lambda s, c: answer(s, c, "sent", wms_order_id="W1", content_hash="h" * 64),
    "mark_failed": lambda s, c: answer(s, c, "failed", error_code="E", error_message="boom", retryable=False),
    "mark_exists_different": lambda s, c: answer(s, c, "exists_different", error_code="order-exists-different",
                                                 error_message="older version"),
    "mark_rejected": lambda s, c: reject(s, c, ["x: required"]),
    "requeue": lambda s, c: s.orders.requeue(c),
    "request_cancel": lambda s, c: s.orders.request_cancel(c),
    "mark_cancelled": lambda s, c: s.orders.mark_cancelled(c),
    "cancelled_by_confirmation": cancelled_by_confirmation,
    "mark_cancel_failed": lambda s, c: s.orders.mark_cancel_failed(c, "E", "no"),
    "ship": lambda s, c: ship(s, c, carrier_code="SF", tracking_numbers=["SF9"]),
    "ship_partially": lambda s, c: ship(s, c, carrier_code="SF", tracking_numbers=["SF9"], partial=True),
    "shop_written": shop_written,
}


@pytest.mark.parametrize("operation", sorted(EXPECTED))
def test_every_transition_is_allowed_or_refused_as_designed(store, clock, operation):
    for state in STATES:
        code = f"{operation[:12]}-{state}"
        drive_to(store, code, state)
        before = store.orders.order(code)
        clock.advance(timedelta(seconds=1))
        allowed = EXPECTED[operation].get(state)
        if allowed is None:
            with pytest.raises(InvalidTransition) as refused:
                OPERATIONS[operation](store, code)
            assert (refused.value.current, refused.value.code) == (state, code)
            assert store.orders.order(code) == before, f"{operation} from {state} changed the row"
        else:
            OPERATIONS[operation](store, code)
            after = store.orders.order(code)
            assert after["state"] == allowed, f"{operation} from {state}"
            assert after["updated_at"] == clock.now


def test_unknown_order_is_reported(store):
    with pytest.raises(UnknownOrder):
        answer(store, "NOPE", "sent", wms_order_id="W")
    with pytest.raises(UnknownOrder):
        store.orders.request_cancel("NOPE")
    assert claim(store, "NOPE", "run").owned is False


def test_a_chunks_rejects_are_one_call_and_a_moved_order_is_left_as_it_is(store):
    for code, state in (("R1", "pending"), ("R2", "failed"), ("R3", "sent"), ("R4", "sending")):
        drive_to(store, code, state)
    refused = store.orders.mark_rejected_many({
        "R1": ["deliveryOrder.receiverInfo.mobile: required"], "R2": ["orderLines: the order has no lines"],
        "R3": ["x: required"], "R4": ["a: one", "b: two"], "NOPE": ["x: required"],
    }, run_id="run-9")
    assert refused == {"R3": "sent", "NOPE": None}  # another run sent R3 meanwhile: not touched
    for code in ("R1", "R2", "R4"):
        row = store.orders.order(code)
        assert (row["state"], row["last_error_code"], row["last_error_retryable"], row["run_id"]) == (
            "rejected", "VALIDATION", False, "run-9")
    assert store.orders.order("R4")["last_error_message"] == "a: one; b: two"
    assert store.orders.order("R3")["state"] == "sent" and store.orders.order("R3")["violations"] is None
    assert store.orders.mark_rejected_many({}) == {}


def test_claim_counts_the_attempt_and_commits_before_the_request(store, engine, clock):
    store.orders.ensure_pending([{"delivery_order_code": "A1", "shop_order_id": "1"}])
    assert claim(store, "A1", "run-1").owned is True
    with engine.connect() as other:  # a separate connection sees the claim: it is committed
        row = other.execute(sa.select(order_sync).where(order_sync.c.delivery_order_code == "A1")).one()
    assert (row.state, row.attempts, row.run_id, row.last_attempt_at) == ("sending", 1, "run-1", clock.now)
    assert claim(store, "A1", "run-2").owned is False  # held, not stale

    answer(store, "A1", "failed", error_code="HTTP503", error_message="busy", retryable=True)
    assert claim(store, "A1", "run-2").outcome == "not_due"  # backoff between runs
    clock.advance(store.orders.retry_delay(1))
    assert claim(store, "A1", "run-2").owned is True
    assert store.orders.order("A1")["attempts"] == 2
    answer(store, "A1", "sent", wms_order_id="WMS-77", content_hash="c" * 64, run_id="run-2")
    sent = store.orders.order("A1")
    assert (sent["wms_order_id"], sent["content_hash"], sent["last_error_code"]) == ("WMS-77", "c" * 64, None)
    assert sent["first_sent_at"] == sent["sent_at"] == clock.now


def test_non_retryable_failures_and_attempt_limits_are_not_claimed(store, clock):
    store.orders.ensure_pending([{"delivery_order_code": c, "shop_order_id": c} for c in ("P", "R", "N")])
    for code in ("R", "N"):
        assert claim(store, code, "r").owned
    answer(store, "R", "failed", error_code="HTTP503", error_message="busy", retryable=True)
    answer(store, "N", "failed", error_code="B01", error_message="商品不存在", retryable=False)
    clock.advance(store.orders.retry_delay(1))
    limited = store.orders.claim_many(["P", "R", "N"], "r", max_attempts=1)
    assert {code: c.outcome for code, c in limited.items()} == {
        "P": "claimed", "R": "not_due", "N": "waits_for_person"}  # R spent its one attempt
    assert claim(store, "R", "r").owned is True
    assert claim(store, "N", "r").owned is False
    store.orders.requeue("N")  # an operator fixed it
    assert claim(store, "N", "r").owned is True


def test_sending_is_recovered_once_its_lease_ran_out_and_renewals_keep_it(store, clock):
    store.orders.ensure_pending([{"delivery_order_code": "S1", "shop_order_id": "1"}])
    assert claim(store, "S1", "live-run").outcome == "claimed"
    for _ in range(5):  # a live run renews its lease: it keeps the order far beyond one lease
        clock.advance(store.orders.lease / 2)
        assert store.orders.renew_leases("live-run") == 1
        assert claim(store, "S1", "next-run").outcome == "in_flight"
    clock.advance(store.orders.lease - timedelta(seconds=1))  # no renewal: the run died
    assert claim(store, "S1", "next-run").owned is False
    clock.advance(timedelta(seconds=2))
    assert claim(store, "S1", "next-run").outcome == "recovered"
    row = store.orders.order("S1")
    assert (row["run_id"], row["attempts"]) == ("next-run", 2)
    assert row["lease_expires_at"] == clock.now + store.orders.lease


def test_the_same_run_recovers_its_own_sending_orders_at_once(store):
    store.orders.ensure_pending([{"delivery_order_code": "T1", "shop_order_id": "1"}])
    assert claim(store, "T1", "run-a").outcome == "claimed"
    assert claim(store, "T1", "run-b").outcome == "in_flight"
    assert claim(store, "T1", "run-a").outcome == "recovered"  # the task's next try


def test_sending_without_a_lease_falls_back_to_the_stale_delay(store, engine, clock):
    store.orders.ensure_pending([{"delivery_order_code": "S2", "shop_order_id": "1"}])
    assert claim(store, "S2", "old-code-run").owned
    with engine.begin() as conn:  # a row claimed before leases existed (revision 0001)
        conn.execute(sa.update(order_sync).values(lease_expires_at=None))
    clock.advance(store.orders.stale_sending_after - timedelta(seconds=1))
    assert claim(store, "S2", "next-run").owned is False
    clock.advance(timedelta(seconds=2))
    assert claim(store, "S2", "next-run").outcome == "recovered"


def test_passing_failures_back_off_exponentially_capped_and_are_never_dropped(store, clock):
    store.orders.ensure_pending([{"delivery_order_code": "B1", "shop_order_id": "1"}])
    delays = []
    for attempt in range(1, 12):
        taken = claim(store, "B1", f"run-{attempt}")
        assert taken.outcome == "claimed" and taken.row["attempts"] == attempt
        answer(store, "B1", "failed", error_code="SYSTEM_BUSY", error_message="系统繁忙", retryable=True,
               attempts=taken.row["attempts"], run_id=f"run-{attempt}")
        row = store.orders.order("B1")
        delays.append(row["next_attempt_at"] - clock.now)
        clock.advance(timedelta(seconds=1))
        not_due = claim(store, "B1", "early")
        assert not_due.outcome == "not_due" and not_due.row["last_error_code"] == "SYSTEM_BUSY"
        clock.now = row["next_attempt_at"]
    assert delays[:3] == [store.orders.retry_backoff, 2 * store.orders.retry_backoff, 4 * store.orders.retry_backoff]
    assert delays[-1] == store.orders.retry_backoff_max
    assert claim(store, "B1", "last").outcome == "claimed"  # still claimed after 11 in a row


def test_a_runs_verdict_counts_the_orders_it_left_for_a_person(store):
    codes = ("V1", "V2", "V3", "V4")
    store.orders.ensure_pending([{"delivery_order_code": c, "shop_order_id": c} for c in codes])
    for code in codes:
        assert claim(store, code, "run-x").owned
    answer(store, "V1", "failed", error_code="B01", error_message="refused", retryable=False, run_id="run-x")
    answer(store, "V2", "exists_different", error_code="order-exists-different", error_message="older version",
           run_id="run-x")
    answer(store, "V3", "failed", error_code="SYSTEM_BUSY", error_message="busy", retryable=True, run_id="run-x")
    answer(store, "V4", "sent", wms_order_id="W4", run_id="run-x")
    count, sample = store.needs_person_by_run("orders", "run-x")
    assert count == 2 and sorted(s.split(":")[0] for s in sample) == ["V1", "V2"]
    assert claim(store, "V1", "run-x").outcome == "waits_for_person"  # a retry of run-x: same verdict
    assert store.needs_person_by_run("orders", "run-x")[0] == 2
    assert store.needs_person_by_run("orders", "run-y") == (0, [])


@pytest.mark.timeout(120)
def test_racing_threads_exactly_one_claims(store):
    codes = [f"RACE-{i}" for i in range(5)]
    store.orders.ensure_pending([{"delivery_order_code": c, "shop_order_id": c} for c in codes])
    threads_per_code = 8
    for code in codes:
        barrier = threading.Barrier(threads_per_code)
        wins: list[str] = []
        errors: list[BaseException] = []

        def contender(run_id: str) -> None:
            try:
                barrier.wait()
                if claim(store, code, run_id).owned:
                    wins.append(run_id)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=contender, args=(f"run-{i}",)) for i in range(threads_per_code)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(wins) == 1, wins
        row = store.orders.order(code)
        assert (row["state"], row["attempts"], row["run_id"]) == ("sending", 1, wins[0])


def test_ensure_pending_is_bulk_and_idempotent(store):
    paid = datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=8)))
    rows = [{"delivery_order_code": f"SO{i:07d}", "shop_order_id": i, "paid_at": paid} for i in range(12_000)]
    assert store.orders.ensure_pending(rows) == 12_000
    assert claim(store, "SO0000042", "r").owned
    assert store.orders.ensure_pending(rows + [{"delivery_order_code": "NEW1", "shop_order_id": "x"}]) == 1
    states = store.orders.states([r["delivery_order_code"] for r in rows])
    assert len(states) == 12_000
    assert states["SO0000042"] == "sending"  # a known order keeps its state
    assert sum(1 for s in states.values() if s == "pending") == 11_999
    row = store.orders.order("SO0000007")
    assert row["paid_at"] == paid and row["paid_at"].tzinfo == timezone.utc


def test_shipments_accumulate_tracking_numbers(store, clock):
    drive_to(store, "T1", "sent")
    confirm_at = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    ship(store, "T1", carrier_code="YUNDA", tracking_numbers=["YD1", "YD2"], partial=True)
    ship(store, "T1", carrier_code=None, tracking_numbers=["YD2", "YD3"], shipped_at=confirm_at)
    row = store.orders.order("T1")
    assert (row["state"], row["carrier_code"], row["tracking_numbers"]) == ("shipped", "YUNDA", "YD1,YD2,YD3")
    assert row["shipped_at"] == confirm_at
    shop_written(store, "T1")
    assert store.orders.order("T1")["shop_written_at"] == clock.now


def test_database_refuses_unknown_states_and_naive_times(store, engine):
    store.orders.ensure_pending([{"delivery_order_code": "C1", "shop_order_id": "1"}])
    with pytest.raises(sa.exc.DBAPIError):
        with engine.begin() as conn:
            conn.execute(sa.update(order_sync).values(state="lost"))
    assert store.orders.order("C1")["state"] == "pending"
    with pytest.raises(sa.exc.StatementError) as naive:
        store.orders.ensure_pending([{"delivery_order_code": "C2", "shop_order_id": "2", "paid_at": datetime(2026, 1, 1)}])
    assert isinstance(naive.value.orig, ValueError)
    assert store.orders.order("C2") is None


@pytest.mark.timeout(120)
def test_concurrent_registration_of_the_same_orders(store, engine):
    rows = [{"delivery_order_code": f"CC{i:05d}", "shop_order_id": i} for i in range(3000)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def register() -> None:
        try:
            barrier.wait()
            store.orders.ensure_pending(rows, run_id="parallel")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        counts = conn.execute(
            sa.select(order_sync.c.state, sa.func.count()).group_by(order_sync.c.state)
        ).all()
    assert [tuple(c) for c in counts] == [("pending", 3000)]
