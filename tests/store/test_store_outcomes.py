"""The batched outcome writer (store/outcomes.py) writes exactly what the one-by-one calls write."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from wmsbridge.store import InvalidTransition, UnknownOrder
from wmsbridge.store.outcomes import OutcomeWriter
from wmsbridge.store.schema import exchange_log, order_sync

SECRET_URL = "http://wms.example/router?app_key=k&sign=ABCDEF0123&secret=s3cret&method=deliveryorder.create"


def rows(engine, table, order_by):
    with engine.connect() as conn:
        out = [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(order_by))]
    for row in out:
        row.pop("id", None)
    return out


def outcomes(target, prefix: str) -> None:
    """The same three exchanges and outcomes, through ``target`` (the store or a writer)."""
    target.log_exchange(direction="outbound", method="deliveryorder.create", outcome="success",
                        business_key=f"{prefix}1", request_body="<request>sign=abc 秋冬</request>",
                        response_body="<response><flag>success</flag></response>", http_status=200,
                        duration_ms=21, run_id="r1", url=SECRET_URL)
    target.mark_sent(f"{prefix}1", "W1", content_hash="h1", run_id="r1")
    target.log_exchange(direction="outbound", method="deliveryorder.create", outcome="business_failure",
                        business_key=f"{prefix}2", request_body="<request/>", error_code="SYSTEM_BUSY",
                        error_message="busy " + "x" * 5000, run_id="r1", url=SECRET_URL)
    target.mark_failed(f"{prefix}2", "SYSTEM_BUSY", "busy secret=zzz " + "y" * 5000, True, run_id="r1")
    target.mark_failed(f"{prefix}3", "E" * 200, None, False, run_id="r1")


def test_the_writer_writes_what_the_store_calls_write(store, engine):
    for prefix in ("A", "B"):
        store.ensure_pending([{"delivery_order_code": f"{prefix}{i}", "shop_order_id": f"{prefix}{i}"} for i in (1, 2, 3)])
        for i in (1, 2, 3):
            assert store.claim_for_sending(f"{prefix}{i}", "r1")
    outcomes(store, "A")
    with OutcomeWriter(store) as writer:
        outcomes(writer, "B")

    orders = {r["delivery_order_code"]: r for r in rows(engine, order_sync, order_sync.c.delivery_order_code)}
    for i in (1, 2, 3):
        a, b = dict(orders[f"A{i}"]), dict(orders[f"B{i}"])
        for row in (a, b):
            row.pop("delivery_order_code"), row.pop("shop_order_id")
        assert a == b
    assert orders["B1"]["state"] == "sent" and orders["B2"]["state"] == "failed"
    logged = rows(engine, exchange_log, exchange_log.c.id)
    assert len(logged) == 4
    by_key = {r["business_key"]: r for r in logged}
    for i in (1, 2):
        a, b = by_key[f"A{i}"], by_key[f"B{i}"]
        a.pop("business_key"), b.pop("business_key")
        assert a == b
    assert "ABCDEF0123" not in str(logged) and "s3cret" not in str(logged)


def test_refused_and_unknown_outcomes_raise_at_close_after_the_others_are_written(store, engine):
    store.ensure_pending([{"delivery_order_code": c, "shop_order_id": c} for c in ("OK", "IDLE")])
    assert store.claim_for_sending("OK", "r1")
    writer = OutcomeWriter(store)
    writer.mark_sent("IDLE", "W0", run_id="r1")  # never claimed: pending -> sent is refused
    writer.mark_sent("NOPE", "W0", run_id="r1")
    writer.mark_sent("OK", "W1", run_id="r1")
    with pytest.raises(InvalidTransition):
        writer.close()
    assert store.order("OK")["state"] == "sent"
    assert store.order("IDLE")["state"] == "pending"

    writer = OutcomeWriter(store)
    writer.mark_failed("NOPE", "X", "m", True)
    with pytest.raises(UnknownOrder):
        writer.close()


def test_many_threads_many_batches(store, engine):
    codes = [f"T{i:04d}" for i in range(300)]
    store.ensure_pending([{"delivery_order_code": c, "shop_order_id": c} for c in codes])
    for code in codes:
        assert store.claim_for_sending(code, "r1")
    with OutcomeWriter(store, max_batch=16, max_wait=0.01) as writer:
        def work(part):
            for code in part:
                writer.log_exchange(direction="outbound", method="deliveryorder.create", outcome="success",
                                    business_key=code, run_id="r1")
                writer.mark_sent(code, "W" + code, run_id="r1")
        threads = [threading.Thread(target=work, args=(codes[i::6],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert store.order_states(codes) == dict.fromkeys(codes, "sent")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(exchange_log)).scalar_one() == len(codes)
