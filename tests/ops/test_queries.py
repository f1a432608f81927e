"""The operations page's read-only queries on the three real backends: Beijing-day buckets, the
rejected list with its filter, what waits for a person, and several bridges in one store (each
read apart, the totals adding up)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from confirm_steps import receive
from databases import BACKENDS, throwaway_database
from wmsbridge.config import Deployment
from wmsbridge.ops import page, queries
from wmsbridge.store import IntegrationStore, attention
from wmsbridge.store.actions import PersonActions
from wmsbridge.store.base import RunRef
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


# -- several bridges in one store --------------------------------------------------------------------

BRIDGES = {"profile": "reference", "bridges": {
    "shop-a": {"shop_conn_id": "shop_a", "store_conn_id": "shared", "qimen_conn_id": "qimen_a"},
    "shop-b": {"shop_conn_id": "shop_b", "store_conn_id": "shared", "qimen_conn_id": "qimen_b"},
    "shop-c": {"shop_conn_id": "shop_c", "store_conn_id": "own", "enabled": False},
    "shop-d": {"shop_conn_id": "shop_d", "store_conn_id": "down"}}}
TODAY_PAID = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)  # Beijing 11-30


def two_shops(engine) -> None:
    """Two shops in one store whose order codes collide (and a third, read through another
    connection), each with its own confirmations, stock run and waiting records."""
    with engine.begin() as conn:
        conn.execute(sa.insert(order_sync), [
            order("1001", "rejected", TODAY_PAID, bridge_id="shop-a", violations='["mobile"]'),
            order("1002", "failed", TODAY_PAID, bridge_id="shop-a", last_error_retryable=False),
            order("1003", "pending", TODAY_PAID, bridge_id="shop-a"),
            order("1001", "sent", TODAY_PAID, bridge_id="shop-b"),
            order("1002", "failed", TODAY_PAID, bridge_id="shop-b", last_error_retryable=False),
            order("1005", "failed", TODAY_PAID, bridge_id="shop-b", last_error_retryable=False),
            order("1006", "rejected", TODAY_PAID, bridge_id="shop-b", violations='["address"]'),
            order("1001", "rejected", TODAY_PAID, bridge_id="shop-c", violations='["mobile"]'),
        ])
    run = RunRef("manual__v", "wms_inventory_sync_manual")
    for bridge, verdict, stock in (("shop-a", "completed", [5]), ("shop-b", "guard_refused", [3, 4])):
        store = IntegrationStore(engine, bridge_id=bridge, clock=lambda: NOW)
        claim = store.inventory.claim_day(date(2026, 11, 30), run, forced=False)
        store.inventory.replace_day(date(2026, 11, 30), [
            {"warehouse_code": "WH", "item_code": f"SKU{n}", "inventory_type": "ZP", "quantity": q, "lock_quantity": 0}
            for n, q in enumerate(stock)], run_id=run)
        store.inventory.finish(claim.run_row_id, verdict, message="would zero 60 %")
        for n in range(len(stock)):  # bridge b: two confirmations of the same code as bridge a's one
            receive(store.confirmations, "1001", key=f"OB-{n}")


def test_two_bridges_in_one_store_read_apart_and_add_up(engine):
    two_shops(engine)
    a, b = {w.category.key: w for w in queries.waiting(engine, bridge_id="shop-a")}, \
        {w.category.key: w for w in queries.waiting(engine, bridge_id="shop-b")}
    assert {k: w.count for k, w in a.items() if w.count} == {"orders_rejected": 1, "orders_refused": 1}
    assert {k: w.count for k, w in b.items() if w.count} == {"orders_rejected": 1, "orders_refused": 2,
                                                             "inventory_refused": 1}  # its guard_refused run
    assert [(r["bridge_id"], r["subject"]) for r in b["orders_refused"].rows] == [("shop-b", "1002"), ("shop-b", "1005")]
    assert [r["subject"] for r in a["orders_rejected"].rows] == ["1001"]  # shop b's 1001 was sent: not here
    assert queries.view_counts(engine, "shop-a") == {k: w.count for k, w in a.items()}
    assert queries.view_counts(engine, "shop-b") == {k: w.count for k, w in b.items()}
    everything = attention.counts(engine)
    assert queries.view_counts(engine) == everything and everything["orders_rejected"] == 3

    assert queries.all_states(engine, bridge_id="shop-a") == {"rejected": 1, "failed": 1, "pending": 1}
    assert queries.orders_by_state(engine, date(2026, 11, 30), bridge_id="shop-b")[0].states == {
        "sent": 1, "failed": 2, "rejected": 1}
    assert queries.backlog(engine, None, None, now=NOW, bridge_id="shop-a").pending == 1
    assert queries.backlog(engine, None, None, now=NOW, bridge_id="shop-b").total == 0
    assert len(queries.latest_confirmations(engine, bridge_id="shop-a")) == 1
    assert len(queries.latest_confirmations(engine, bridge_id="shop-b")) == 2
    assert len(queries.latest_confirmations(engine)) == 3
    run_a = queries.last_inventory_run(engine, queries.present_tables(engine), bridge_id="shop-a")
    run_b = queries.last_inventory_run(engine, queries.present_tables(engine), bridge_id="shop-b")
    assert (run_a.verdict, run_a.snapshot_rows, run_a.snapshot_quantity) == ("completed", 1, 5)
    assert (run_b.verdict, run_b.snapshot_rows, run_b.snapshot_quantity) == ("guard_refused", 2, 7)

    # an act in shop a leaves shop b's record of the same code waiting, and its history is a's
    done = PersonActions(engine, clock=lambda: NOW, bridge_id="shop-a").act(
        "handled", "orders_refused", ["1002"], actor="operator")
    assert done.done == ["1002"]
    assert attention.counts(engine, bridge_id="shop-b")["orders_refused"] == 2
    assert [h["subject"] for h in queries.recent_actions(engine, bridge_id="shop-a")] == ["1002"]
    assert queries.recent_actions(engine, bridge_id="shop-b") == []
    assert [h["bridge_id"] for h in queries.recent_actions(engine)] == ["shop-a"]


def test_the_totals_read_each_store_once(engine):
    two_shops(engine)
    read = []

    def engine_of(conn_id: str):
        read.append(conn_id)
        if conn_id == "down":
            raise RuntimeError("connection refused")
        return engine  # "own" is another connection to the same database: counted for shop-c only

    totals = queries.bridge_totals(Deployment.from_mapping(BRIDGES).bridges.values(), engine_of)
    assert read == ["shared", "own", "down"]
    assert [(t.bridge_id, t.enabled, t.store_conn_id, t.waiting) for t in totals] == [
        ("shop-a", True, "shared", 2), ("shop-b", True, "shared", 4), ("shop-c", False, "own", 1),
        ("shop-d", True, "down", None)]
    assert "connection refused" in totals[3].error
    assert sum(t.waiting or 0 for t in totals) == sum(attention.counts(engine).values()) == 7
    html = page.bridges_section(totals, "shop-b", {"q": "10", "focus": ""})
    shown = dict(re.findall(r"data-bridge='([\w-]+)' data-waiting='(\d*)'", html))
    assert shown == {"shop-a": "2", "shop-b": "4", "shop-c": "1", "shop-d": ""}
    assert "data-bridge-total='7'" in html and "7+?" in html  # shop-d's store could not be read
    assert "href='./?bridge=shop-a&amp;q=10'" in html
