"""Passing failures converge: busy, rate-limited, 5xx and dropped answers never strand an order.

The simulator answers ``flag=failure`` with passing codes (SYSTEM_BUSY, SYSTEM_ERROR, RATE_LIMITED)
for a share of requests, on top of 5xx answers, gateway error responses and answers dropped after
the order was stored.
The hook resends each request once; what still fails is recorded ``failed`` and retryable with a
``next_attempt_at``, counted ``retry_waiting``, and claimed again by later runs once due. Repeated
runs end with every valid order at the warehouse exactly once and none ``failed``.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, bridge, order_sync_rows, paid_order_codes, quick_retry_bridge
from test_exactly_once import assert_delivered_exactly_once, in_state

from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import METHOD, push_orders
from wmsbridge.store.schema import exchange_log, order_sync

MAX_RUNS = 15
PASSING_CODES = ["SYSTEM_BUSY", "SYSTEM_ERROR", "RATE_LIMITED"]


def passing_refusals(store) -> Counter:
    with store.engine.connect() as conn:
        return Counter(conn.execute(sa.select(exchange_log.c.error_code).where(
            exchange_log.c.method == METHOD, exchange_log.c.outcome == "business_failure")).scalars())


@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_repeated_runs_under_passing_failure_codes_deliver_every_order_exactly_once(
        backend, make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop(backend, "reference", orders=200, skus=10)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, push_concurrency=4, retry_backoff_seconds=0)
    bad = set(shop.manifest.bad_orders)
    good = paid_order_codes(shop) - bad
    assert sync_items(bridge("items")).undelivered == 0
    sim.admin.set_faults(failure=0.3, failure_codes=PASSING_CODES, fail_5xx=0.1, error_response=0.05,
                         drop_after=0.05, methods=[METHOD], seed=20261129)

    reports = []
    for run in range(1, MAX_RUNS + 1):
        report = push_orders(quick_retry_bridge(f"busy-{run}", max_retries=1))
        reports.append(report)
        assert report.needs_person == 0, report.samples.get("needs_person")  # never mistaken for a refusal
        assert report.verdict_needs_person == 0
        rows = order_sync_rows(store)
        if in_state(rows, "sent") == good:
            break
    else:
        pytest.fail(f"not converged after {MAX_RUNS} runs: {Counter(r['state'] for r in rows.values())}")

    assert len(reports) > 1 and reports[0].retry_waiting, "the faults never outlived a run's own retries"
    assert not in_state(order_sync_rows(store), "failed")
    refusals = passing_refusals(store)
    assert set(refusals) <= set(PASSING_CODES) and sum(refusals.values()) > 0, refusals
    assert_delivered_exactly_once(sim, store, good, bad)
    print(f"converged after {len(reports)} runs; passing refusals logged: {dict(refusals)}")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_passing_failures_wait_for_their_backoff_and_are_then_claimed_again(
        backend, make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop(backend, "reference", orders=60, skus=8, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, retry_backoff_seconds=1, retry_backoff_max_seconds=2)
    good = paid_order_codes(shop)
    assert sync_items(bridge("items")).undelivered == 0

    sim.admin.set_faults(failure=1.0, failure_codes=["SYSTEM_BUSY"], methods=[METHOD], seed=1)
    first = push_orders(quick_retry_bridge("busy-1", max_retries=0))
    assert (first.sent, first.retry_waiting, first.needs_person) == (0, len(good), 0)
    rows = order_sync_rows(store)
    assert {rows[c]["state"] for c in good} == {"failed"}
    assert all(rows[c]["last_error_retryable"] and rows[c]["next_attempt_at"] for c in good)

    # At once: nothing is due, nothing is sent, and nothing is hidden as "unchanged".
    sim.admin.set_faults(failure=0.0)
    received = sim.admin.counters()[METHOD]["received"]
    early = push_orders(bridge("busy-2"))
    if early.retry_waiting == len(good):  # the 1 s backoff may already be over on a slow machine
        assert early.sent == 0 and early.unchanged == 0
        assert sim.admin.counters()[METHOD]["received"] == received
        assert all("next attempt after" in s for s in early.samples["retry_waiting"])

    # Once due, the next run claims and delivers them.
    with store.engine.connect() as conn:
        due = conn.execute(sa.select(sa.func.max(order_sync.c.next_attempt_at))).scalar()
    while due is not None and datetime.now(timezone.utc) <= due:
        time.sleep(0.1)
    later = push_orders(bridge("busy-3"))
    assert later.sent + early.sent == len(good) and later.retry_waiting == 0
    assert in_state(order_sync_rows(store), "sent") == good
    assert sorted(o["order_code"] for o in sim.admin.orders()) == sorted(good)
    assert not any(sim.admin.repeats().values())
