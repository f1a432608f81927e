"""Exactly-once order delivery, proven against the two ways a push really goes wrong (issue 5).

Crash: the pushing process is SIGKILLed after the warehouse accepted some orders but before the
store recorded them. The next push re-sends those same deliveryOrderCodes, the warehouse answers
idempotently, and no order is lost or created twice.

Faults: HTTP 5xx, hangs (the client's read timeout fires) and connections dropped after the
warehouse processed the order. Repeated runs converge to every valid order delivered once.

What "created once" means is checked on the warehouse's side, not only in our store: the
simulator's orders, its repeat counters, and its request log (exactly one "order accepted" answer
per code; every other success for that code is an idempotent "order already received").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, bridge, order_sync_rows, paid_order_codes, quick_retry_bridge

from qimen.parsing import parse_request, parse_response
from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import METHOD, _Pusher, group_size, push_orders
from wmsbridge.store.schema import exchange_log

CRASH_SCRIPT = Path(__file__).with_name("crash_push.py")
LATENCY_MS = 150  # answers wait this long AFTER the order is stored: the window the kill aims at
KILL_AFTER_ACCEPTED = 40
POLL_S = 0.02
MAX_FAULT_RUNS = 10
LEASE_S = 10  # the killed push's lease on its `sending` orders


# ----------------------------------------------------------------------------------- helpers


def in_state(rows: dict[str, dict], state: str) -> set[str]:
    return {code for code, row in rows.items() if row["state"] == state}


def successful_exchanges(store) -> Counter:
    """How many successful deliveryorder.create exchanges wms_exchange_log holds per order code."""
    with store.engine.connect() as conn:
        keys = conn.execute(
            sa.select(exchange_log.c.business_key)
            .where(exchange_log.c.method == METHOD, exchange_log.c.outcome == "success")
        ).scalars()
        return Counter(keys)


def warehouse_creations(sim) -> Counter:
    """Per order code, how many requests the warehouse answered "order accepted" (a new order),
    read from its own request log: more than one would be a second order under the same code."""
    created = Counter()
    for request in sim.admin.requests(method=METHOD):
        if request["outcome"] not in ("success", "dropped") or not request["answer"]:
            continue
        answer = parse_response(request["answer"].encode("utf-8"), method=METHOD)
        if answer.success and answer.message == "order accepted":
            document = parse_request(METHOD, request["body"].encode("utf-8"))
            created[document["deliveryOrder"]["deliveryOrderCode"]] += 1
    return created


def assert_delivered_exactly_once(sim, store, good: set[str], bad: set[str]) -> dict[str, int]:
    """Every valid order is at the warehouse once, recorded `sent` with the warehouse's id; every bad
    one is `rejected` and was never sent. Returns the warehouse's repeat counters."""
    orders = sim.admin.orders()
    codes = [o["order_code"] for o in orders]
    assert len(codes) == len(set(codes)), "the warehouse holds two orders under one code"
    assert set(codes) == good, {"missing": sorted(good - set(codes)), "unexpected": sorted(set(codes) - good)}
    creations = warehouse_creations(sim)
    assert set(creations) == good and set(creations.values()) == {1}, {
        c: n for c, n in creations.items() if n != 1}

    rows = order_sync_rows(store)
    assert in_state(rows, "sent") == good, {c: rows[c]["state"] for c in good if rows[c]["state"] != "sent"}
    assert in_state(rows, "rejected") == bad
    wms_ids = {o["order_code"]: o["order_id"] for o in orders}
    assert {c: rows[c]["wms_order_id"] for c in good} == {c: wms_ids[c] for c in good}

    logged = successful_exchanges(store)
    assert set(logged) == good, "an accepted order has no successful exchange in wms_exchange_log"
    return sim.admin.repeats()


def start_push_process(run_id: str, log_path: Path) -> subprocess.Popen:
    """``crash_push.py`` with this process's environment (the connections bridge_env set)."""
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed when the process is reaped
    try:
        return subprocess.Popen([sys.executable, str(CRASH_SCRIPT), run_id], stdout=log_file,
                                stderr=subprocess.STDOUT, env=dict(os.environ))
    finally:
        log_file.close()


def kill_mid_batch(sim, store, run_id: str, log_path: Path, *, timeout_s: float = 180.0) -> None:
    """Run a push in its own process and SIGKILL it once the warehouse has accepted at least
    KILL_AFTER_ACCEPTED orders while the store has recorded fewer of them as sent. ``timeout_s`` only
    bounds a stuck push: on 2 cores shared with the other xdist workers a fresh interpreter that
    imports Airflow and then sends may be many times slower than alone."""
    process = start_push_process(run_id, log_path)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"the push ended ({process.returncode}) before it could be killed:\n"
                            f"{log_path.read_text(errors='replace')[-3000:]}")
            accepted = len(sim.admin.repeats())
            if accepted >= KILL_AFTER_ACCEPTED and len(in_state(order_sync_rows(store), "sent")) < accepted:
                process.send_signal(signal.SIGKILL)
                break
            if time.monotonic() > deadline:
                pytest.fail(f"the warehouse accepted only {accepted} orders in {timeout_s:.0f} s")
            time.sleep(POLL_S)
    finally:
        if process.poll() is None and process.returncode is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL


def wait_until_warehouse_is_quiet(sim, *, timeout_s: float = 10.0) -> None:
    """Requests the killed process had already sent are still being answered (into a dead socket):
    wait until the warehouse's orders and request log stop changing."""
    quiet_for = 3 * LATENCY_MS / 1000
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = (len(sim.admin.repeats()), sim.admin.counters().get(METHOD, {}).get("received", 0))
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return
        time.sleep(POLL_S * 5)
    pytest.fail("the warehouse kept receiving orders after the push process was killed")


def wait_for_leases_to_expire(store, codes: set[str], *, timeout_s: float = 3 * LEASE_S) -> None:
    """Until the store's own lease times of ``codes`` are past: a dead run renews nothing."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = order_sync_rows(store)
        if all(rows[c]["lease_expires_at"] < datetime.now(timezone.utc) for c in codes if rows[c]["state"] == "sending"):
            return
        time.sleep(0.2)
    pytest.fail("the leases of a dead run kept being renewed")


# ------------------------------------------------------------------------------------- crash


@pytest.mark.timeout(400)  # kill_mid_batch's bound, plus the rerun
@pytest.mark.parametrize(
    "backend, rerun",
    [("postgresql", "another run, once the lease ran out"), ("sqlite", "the same run, retried"),
     ("mariadb", "another run, once the lease ran out")],
)
def test_a_push_killed_mid_batch_loses_no_order_and_creates_none_twice(
    backend, rerun, make_shop, bridge_env, wms_simulator_factory, tmp_path
):
    shop = make_shop(backend, "reference", orders=800, skus=15)  # about a quarter of them paid
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER,
                                faults={"latency_ms": LATENCY_MS, "methods": [METHOD]})
    # The killed process renews its leases every LEASE_S / 3 while it lives; the long stale delay
    # (sending_stale_minutes) must play no part: it is an hour here.
    store = bridge_env(shop, sim, push_concurrency=4, sending_lease_seconds=LEASE_S, sending_stale_minutes=60)
    bad = set(shop.manifest.bad_orders)
    good = paid_order_codes(shop) - bad
    assert len(good) > 2 * KILL_AFTER_ACCEPTED
    # Items first, so the process we kill is busy with nothing but orders.
    assert sync_items(bridge("items")).undelivered == 0

    kill_mid_batch(sim, store, "push-killed", tmp_path / "push-killed.log")
    wait_until_warehouse_is_quiet(sim)

    accepted = set(sim.admin.repeats())
    rows = order_sync_rows(store)
    left_sending = in_state(rows, "sending")
    unrecorded = accepted - in_state(rows, "sent")
    assert KILL_AFTER_ACCEPTED <= len(accepted) < len(good), "the kill did not land mid-batch"
    assert unrecorded, "the kill did not land between the warehouse's answer and our record"
    assert unrecorded <= left_sending, "an accepted order was left in a state other than sending"
    assert all(rows[c]["lease_expires_at"] for c in left_sending)
    # what a kill can leave in flight is bounded: the groups handed to the pool, plus the one claimed
    assert len(left_sending) <= (_Pusher.DEPTH + 1) * group_size(4)
    assert not any(sim.admin.repeats().values())
    sim.admin.set_faults(latency_ms=0)

    if rerun == "the same run, retried":
        # Airflow's retry of the same task: its own `sending` rows are reclaimed at once.
        rerun_id = "push-killed"
        report = push_orders(bridge(rerun_id))
    else:
        # Another run while the dead run's leases still hold must keep its hands off (it cannot
        # tell a dead run from a slow one yet): it sends everything else and counts them held.
        nxt = push_orders(bridge("push-next"))
        rows = order_sync_rows(store)
        if max(rows[c]["lease_expires_at"] for c in left_sending) > datetime.now(timezone.utc):
            assert in_state(rows, "sending") == left_sending
            assert nxt.held == len(left_sending) and nxt.recovered == 0
        assert in_state(rows, "sent") >= good - left_sending
        # (a code the dead run claimed but never sent is not in repeats at all: the warehouse never saw it)
        assert not any(sim.admin.repeats().get(c, 0) for c in good - unrecorded), \
            "an order nobody had left in flight was sent twice"
        # One lease after the dead run's last heartbeat, the next run recovers them: no stale delay.
        wait_for_leases_to_expire(store, left_sending)
        rerun_id = "push-after-lease"
        report = push_orders(bridge(rerun_id))
        left_sending = left_sending - in_state(rows, "sent")  # push-next may have outlived the lease
    assert report.recovered == len(left_sending), report.summary()
    assert "recovered" in report.summary()

    repeats = assert_delivered_exactly_once(sim, store, good, bad)
    resent = {code: n for code, n in repeats.items() if n}
    # The idempotent re-sends are exactly the orders the warehouse took while the killed process
    # waited for the answer; the ones it claimed but never got out are created fresh, not repeated.
    assert resent == {code: 1 for code in unrecorded}
    logged = successful_exchanges(store)
    assert all(logged[code] == 1 for code in good - unrecorded)
    assert all(1 <= logged[code] <= 2 for code in unrecorded)  # 2: killed after logging, before recording
    with store.engine.connect() as conn:
        rerun_logged = set(conn.execute(
            sa.select(exchange_log.c.business_key).where(
                exchange_log.c.method == METHOD, exchange_log.c.run_id == rerun_id,
                exchange_log.c.outcome == "success")
        ).scalars())
    assert left_sending <= rerun_logged


# ------------------------------------------------------------------------------------ faults


@pytest.mark.timeout(120)
def test_repeated_runs_under_5xx_hangs_and_drops_deliver_every_order_exactly_once(
    make_shop, bridge_env, wms_simulator_factory
):
    shop = make_shop("sqlite", "reference", orders=300, skus=12)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER, faults={
        "fail_5xx": 0.20, "hang": 0.05, "hang_seconds": 5, "drop_after": 0.05, "seed": 20261120,
    })
    # A hang must cost the client one short read timeout, far below the warehouse's hang.
    # No backoff between runs: the runs below follow each other at once (backoff: test_passing_failures).
    store = bridge_env(shop, sim, push_concurrency=4, retry_backoff_seconds=0,
                       qimen_extra={"read_timeout": 1, "connect_timeout": 2})
    bad = set(shop.manifest.bad_orders)
    good = paid_order_codes(shop) - bad

    runs = 0
    for runs in range(1, MAX_FAULT_RUNS + 1):
        # One resend per call: some orders fail for this run and must be picked up by a later one.
        push_orders(quick_retry_bridge(f"faulty-{runs}", max_retries=1))
        rows = order_sync_rows(store)
        if in_state(rows, "sent") == good and in_state(rows, "rejected") == bad:
            break
    else:
        pytest.fail(f"not converged after {MAX_FAULT_RUNS} runs: "
                    f"{Counter(r['state'] for c, r in rows.items() if c in good)}")

    counters = sim.admin.counters()[METHOD]
    print(f"converged after {runs} runs; deliveryorder.create at the warehouse: {counters}")
    assert counters.get("http_5xx") and counters.get("hang") and counters.get("dropped"), counters
    assert runs > 1, "every order got through in one run: the faults proved nothing about later runs"
    repeats = assert_delivered_exactly_once(sim, store, good, bad)
    # Orders the warehouse processed but whose answer was dropped came back as idempotent repeats.
    assert any(repeats.values())


# ------------------------------------------------------------------------------------- leases


@pytest.mark.timeout(120)
def test_a_live_run_keeps_its_orders_beyond_one_lease_while_another_run_pushes(
    make_shop, bridge_env, wms_simulator_factory
):
    """Every answer takes longer than a whole lease: only the heartbeat keeps the second run from
    taking over (and re-sending) the first run's orders in flight."""
    shop = make_shop("sqlite", "reference", orders=40, skus=6, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, push_concurrency=1, sending_lease_seconds=0.6)
    good = paid_order_codes(shop)
    assert sync_items(bridge("items")).undelivered == 0
    sim.admin.set_faults(latency_ms=1500, methods=[METHOD])

    import threading

    reports = {}
    first = threading.Thread(target=lambda: reports.setdefault("a", push_orders(bridge("live-a"))))
    first.start()
    deadline = time.monotonic() + 30
    while not in_state(order_sync_rows(store), "sending") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the first order of live-a has been in flight longer than its lease
    reports["b"] = push_orders(bridge("live-b"))
    first.join(timeout=90)
    assert not first.is_alive()

    a, b = reports["a"], reports["b"]
    assert b.held >= 1 and b.recovered == 0 and a.recovered == 0, (a.summary(), b.summary())
    assert a.sent + b.sent == len(good)
    assert in_state(order_sync_rows(store), "sent") == good
    assert not any(sim.admin.repeats().values()), "an order in flight in a live run was sent again"
