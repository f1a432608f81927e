"""The operations page's read-only queries on the three real backends: Beijing-day buckets, the
rejected list with its filter, and what waits for a person."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from databases import BACKENDS, throwaway_database
from wmsbridge.ops import queries
from wmsbridge.store import attention
from wmsbridge.store.migrate import upgrade
from wmsbridge.store.schema import item_sync, order_sync

UTC = timezone.utc
NOW = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # 2026-11-30 07:00 in Beijing


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    with throwaway_database(request.param, tmp_path, prefix="wmsops") as url:
        upgrade(url)
        eng = sa.create_engine(url)
        try:
            yield eng
        finally:
            eng.dispose()


def order(code, state, paid_at, **extra):
    """One row; every row names the same columns (an executemany takes the first row's keys)."""
    row = {"delivery_order_code": code, "shop_order_id": code[-4:], "state": state, "attempts": 1,
           "paid_at": paid_at, "created_at": NOW - timedelta(hours=1), "updated_at": NOW, "violations": None,
           "last_error_retryable": None, "last_error_code": None, "last_error_message": None}
    return {**row, **extra}


def test_the_page_queries(engine):
    with engine.begin() as conn:
        conn.execute(sa.insert(order_sync), [
            order("A-0001", "sent", datetime(2026, 11, 29, 16, 0, tzinfo=UTC)),      # Beijing 11-30 00:00: today
            order("A-0002", "sent", datetime(2026, 11, 29, 15, 59, tzinfo=UTC)),     # Beijing 11-29 23:59
            order("A-0003", "rejected", datetime(2026, 11, 29, 20, 0, tzinfo=UTC),
                  violations=json.dumps(["receiverInfo.mobile: required"])),
            order("A-0004", "rejected", datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
                  violations=json.dumps(["收货地址 too long"], ensure_ascii=False)),  # as the store writes it
            order("A-0005", "failed", datetime(2026, 11, 28, 1, 0, tzinfo=UTC), last_error_retryable=False,
                  last_error_code="ORDER_EXISTS", last_error_message="exists with other content"),
            order("A-0006", "failed", datetime(2026, 11, 28, 2, 0, tzinfo=UTC), last_error_retryable=True),
            order("A-0007", "sending", datetime(2026, 11, 28, 3, 0, tzinfo=UTC), updated_at=NOW - timedelta(hours=2)),
            order("A-0008", "cancel_failed", datetime(2026, 11, 20, 3, 0, tzinfo=UTC)),
        ])
        conn.execute(sa.insert(item_sync), [{"item_code": "SKU-1", "state": "rejected", "attempts": 0,
                                              "created_at": NOW, "updated_at": NOW, "violations": "[\"bad\"]"}])

    today = queries.beijing_today(NOW)
    assert today == date(2026, 11, 30)
    days = queries.orders_by_state(engine, today)
    assert [d.day for d in days][:2] == [date(2026, 11, 30), date(2026, 11, 29)]
    assert days[0].states == {"sent": 1, "rejected": 1}
    assert days[1].states == {"sent": 1}
    assert sum(d.total for d in days) == 6  # A-0004 (11-23) and A-0008 (11-20) are older than 7 days

    rejected = {r["subject"] for r in attention.rows(engine, "orders_rejected")}
    assert rejected == {"A-0003", "A-0004"}
    assert [r["reason"] for r in attention.rows(engine, "orders_rejected", text="MOBILE")] == [
        '["receiverInfo.mobile: required"]']
    assert [r["subject"] for r in attention.rows(engine, "orders_rejected", text="收货地址")] == ["A-0004"]
    assert [r["subject"] for r in attention.rows(engine, "orders_rejected", text="a-0004")] == ["A-0004"]

    waiting = {w.category.key: w.count for w in queries.waiting(engine)}
    assert {k: n for k, n in waiting.items() if n} == {"orders_rejected": 2, "orders_refused": 1,
                                                       "cancels_refused": 1, "items_rejected": 1}
    # A-0007 is in flight (no lease: written before leases), not waiting for a person: the backlog shows it
    found = queries.backlog(engine, None, None, now=NOW)
    assert (found.sending, found.retrying, found.total) == (1, 1, 2) and found.error
    assert queries.latest_confirmations(engine) == []
    assert queries.last_inventory_run(engine, queries.present_tables(engine)).beijing_date is None
