"""The push's batched store work: a group of claims in one transaction, a batch of answers in another.

Both must decide exactly as their one-order forms do (the state machine is the same), and racing
runs must still never both own an order.
"""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import sqlalchemy as sa

from wmsbridge.store.orders import OrderOutcome
from wmsbridge.store.schema import exchange_log, order_sync

from order_steps import answer, claim


def register(store, *codes: str) -> None:
    store.orders.ensure_pending([{"delivery_order_code": c, "shop_order_id": f"id-{c}"} for c in codes])


def test_claim_many_decides_each_order_by_its_state(store, clock):
    register(store, "P1", "F1", "F2", "F3", "S1", "S2", "S3", "D1")
    for code in ("F1", "F2", "F3", "S1", "S2", "D1"):
        assert claim(store, code, "earlier").owned
    answer(store, "F1", "failed", error_code="TIMEOUT", error_message="read timed out", retryable=True)
    answer(store, "F3", "failed", error_code="isv.invalid-parameter", error_message="bad mobile", retryable=False)
    answer(store, "D1", "sent", wms_order_id="W1")
    clock.advance(store.orders.retry_delay(1) + timedelta(seconds=1))  # F1 due again; S2's lease ran out
    answer(store, "F2", "failed", error_code="SYSTEM_BUSY", error_message="busy", retryable=True)  # due later
    assert claim(store, "S1", "live").owned  # a live run's fresh lease
    assert claim(store, "S3", "run-x").owned  # an earlier try of the same run

    claims = store.orders.claim_many(["P1", "F1", "F2", "F3", "S1", "S2", "S3", "D1", "U1"], "run-x")

    assert {code: claim.outcome for code, claim in claims.items()} == {
        "P1": "claimed", "F1": "claimed", "F2": "not_due", "F3": "waits_for_person", "S1": "in_flight",
        "S2": "recovered", "S3": "recovered", "D1": "settled", "U1": "unknown",
    }
    for code in ("P1", "F1", "S2", "S3"):
        row = store.orders.order(code)
        assert (row["state"], row["run_id"]) == ("sending", "run-x")
        assert row["lease_expires_at"] == clock.now + store.orders.lease
        assert claims[code].row["attempts"] == row["attempts"]  # the attempt is counted once
    assert store.orders.order("P1")["attempts"] == 1 and store.orders.order("F1")["attempts"] == 2
    assert claims["F2"].row["next_attempt_at"] > clock.now  # why not: the time of the next attempt
    assert store.orders.order("S1")["run_id"] == "live" and store.orders.order("D1")["state"] == "sent"
    assert store.orders.claim_many([], "run-x") == {}


def test_racing_groups_of_claims_give_every_order_to_exactly_one_run(store):
    codes = [f"R{i:03d}" for i in range(120)]
    register(store, *codes)
    owned: dict[str, list[str]] = {}
    start = threading.Barrier(4)

    def run(name: str, seed: int) -> None:
        mine = owned.setdefault(name, [])
        shuffled = random.Random(seed).sample(codes, len(codes))
        start.wait()
        for i in range(0, len(shuffled), 30):  # overlapping groups, in different orders per run
            mine += [c for c, claim in store.orders.claim_many(shuffled[i:i + 30], name).items() if claim.owned]

    threads = [threading.Thread(target=run, args=(f"run-{n}", n)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    everyone = [c for mine in owned.values() for c in mine]
    assert sorted(everyone) == codes  # each order claimed once, none lost
    rows = {c: store.orders.order(c) for c in codes}
    assert all(rows[c]["attempts"] == 1 and rows[c]["run_id"] == run
               for run, mine in owned.items() for c in mine)


def exchange(code: str, outcome: str = "success") -> dict:
    return {"direction": "outbound", "method": "deliveryorder.create", "outcome": outcome, "business_key": code,
            "url": f"http://wms.example/router?method=deliveryorder.create&sign=ABCDEF{code}&v=2.0",
            "request_body": f"<request><deliveryOrderCode>{code}</deliveryOrderCode></request>",
            "response_body": "<response><flag>success</flag></response>", "http_status": 200,
            "logged_at": None}


def test_a_batch_of_answers_is_recorded_in_one_go_and_a_refused_one_stops_nothing(store, engine, clock):
    register(store, "A", "B", "C", "D", "X")
    claims = store.orders.claim_many(["A", "B", "C", "D", "X"], "run-x")
    answer(store, "X", "sent", wms_order_id="W-other")  # another run recorded X meanwhile
    logged = clock.now
    answers = [
        OrderOutcome("A", "sent", {**exchange("A"), "logged_at": logged}, wms_order_id=4711, content_hash="h-A"),
        OrderOutcome("B", "failed", {**exchange("B", "business_failure"), "logged_at": logged},
                     error_code="SYSTEM_BUSY", error_message="busy, sign=ABCDEF", retryable=True,
                     attempts=claims["B"].row["attempts"]),
        OrderOutcome("C", "failed", {**exchange("C", "business_failure"), "logged_at": logged},
                     error_code="isv.invalid-parameter", error_message="receiver mobile"),
        OrderOutcome("D", "exists_different", {**exchange("D", "business_failure"), "logged_at": logged},
                     error_code="order-exists", error_message="another version"),
        OrderOutcome("X", "failed", {**exchange("X", "transport_error"), "logged_at": logged},
                     error_code="ReadTimeout", retryable=True),
    ]
    clock.advance(timedelta(seconds=5))

    refused = store.orders.record_order_outcomes(answers, run_id="run-x")

    assert refused == {"X": "sent"}
    a, b, c, d, x = (store.orders.order(code) for code in "ABCDX")
    assert (a["state"], a["wms_order_id"], a["content_hash"], a["sent_at"]) == ("sent", "4711", "h-A", clock.now)
    assert a["lease_expires_at"] is None and a["first_sent_at"] == clock.now
    assert (b["state"], b["last_error_retryable"]) == ("failed", True)
    assert b["next_attempt_at"] == clock.now + store.orders.retry_delay(1)
    assert "ABCDEF" not in b["last_error_message"]
    assert (c["state"], c["last_error_retryable"], c["next_attempt_at"]) == ("failed", False, None)
    assert (d["state"], d["last_error_code"]) == ("exists_different", "order-exists")
    assert (x["state"], x["wms_order_id"]) == ("sent", "W-other")  # untouched
    assert {r["run_id"] for r in (a, b, c, d)} == {"run-x"}
    with engine.connect() as conn:
        logs = conn.execute(sa.select(exchange_log).order_by(exchange_log.c.id)).mappings().all()
    assert [r["business_key"] for r in logs] == ["A", "B", "C", "D", "X"]  # X's request happened: logged
    assert all(r["logged_at"] == logged for r in logs)
    assert not any("ABCDEF" in (r["request_url"] or "") for r in logs)
    # a forced resend's answer changes no state, only its exchange is logged
    assert store.orders.record_order_outcomes([OrderOutcome("A", None, {**exchange("A"), "logged_at": clock.now})]) == {}
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(exchange_log)).scalar_one() == 6
        assert conn.execute(sa.select(order_sync.c.state).where(order_sync.c.delivery_order_code == "A")).scalar() == "sent"
