"""returnorder.create under the warehouse's faults, on the three databases: a return the shop approved
is never lost, never announced twice, never silently dropped.

- a 5xx, a gateway error (code 50) and a hang before processing: the return stays due (``failed``,
  retryable), counted ``retry_waiting`` and on nobody's list; the next run announces it, once;
- the answer lost after the warehouse stored the return (a dropped connection, a read timeout): the
  next run resends under the same code, the warehouse answers it as a repeat and holds one return;
- a business refusal: the return waits for a person (``returns_refused``, the one definition of
  store/attention.py and its view ``wms_v_needs_person``); that run fails its verdict, the next does not
  and sends nothing;
- two runs at once (two Bridges, two run ids, two threads): every approved return created once;
- returns not switched on: nothing read, nothing sent, the run says so; switched on later, announced.

The warehouse is the simulator over HTTP (faults by its admin API, ``set_faults``); the store and the
shop are real databases. Returns have no retry backoff of their own (wms_return has no
``next_attempt_at``): a retryable failure is due again for the very next run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from bridge_helpers import bridge, paid_order_codes, quick_retry_bridge
from databases import BACKENDS

from qimen.parsing import parse_request, parse_response
from wmsbridge.config import ENV_KEY
from wmsbridge.pipelines.returns import sync_returns
from wmsbridge.store import attention
from wmsbridge.store.attention import VIEW
from wmsbridge.store.schema import exchange_log, return_sync

METHOD = "returnorder.create"
RETURNS_ON = {"enabled_methods": ["returnorder.create", "returnorder.confirm"]}
BEIJING = timezone(timedelta(hours=8))


# ----------------------------------------------------------------------------------- helpers


def approve_return(shop, order_id: int, sn: str) -> None:
    """A litemall after-sale of type 2 (退货退款) the admin approved (status 2)."""
    now = datetime.now(BEIJING).replace(tzinfo=None, microsecond=0)
    with shop.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO litemall_aftersale (aftersale_sn, order_id, user_id, type, reason, amount, comment, status, "
            "add_time, update_time, deleted) VALUES (:sn, :o, 1, 2, '尺码不合适', 10, '', 2, :t, :t, FALSE)"),
            {"sn": sn, "o": order_id, "t": now})
        conn.execute(sa.text("UPDATE litemall_order SET aftersale_status = 2 WHERE id = :o"), {"o": order_id})


def order_ids(shop, codes) -> dict[str, int]:
    with shop.engine.connect() as conn:
        return {code: conn.execute(sa.text("SELECT id FROM litemall_order WHERE order_sn = :c"), {"c": code}
                                   ).scalar_one() for code in codes}


def return_rows(store) -> dict[str, dict]:
    with store.engine.connect() as conn:
        return {r.return_code: dict(r._mapping) for r in conn.execute(sa.select(return_sync))}


def exchanges(store, code: str | None = None) -> list[dict]:
    """Outbound returnorder.create exchanges (of ``code``), oldest first."""
    t = exchange_log.c
    query = sa.select(exchange_log).where(t.method == METHOD, t.direction == "outbound")
    if code is not None:
        query = query.where(t.business_key == code)
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query.order_by(t.id))]


def warehouse_answers(sim) -> dict[str, Counter]:
    """Per return code, the warehouse's answers to returnorder.create from its own request log
    ("return announced": a new return; "return already announced": a repeat)."""
    found: dict[str, Counter] = {}
    for request in sim.admin.requests(method=METHOD):
        code = parse_request(METHOD, request["body"].encode("utf-8"))["returnOrder"]["returnOrderCode"]
        said = None
        if request["answer"] and request["outcome"] in ("success", "dropped"):
            said = parse_response(request["answer"].encode("utf-8"), method=METHOD).message
        found.setdefault(code, Counter())[said or request["outcome"]] += 1
    return found


def wait_for_requests(sim, n: int, timeout_s: float = 15.0) -> None:
    """Until the warehouse logged ``n`` returnorder.create requests (a delayed one is logged when its
    answer would have left)."""
    deadline = time.monotonic() + timeout_s
    while len(sim.admin.requests(method=METHOD)) < n:
        if time.monotonic() > deadline:
            pytest.fail(f"the warehouse logged {len(sim.admin.requests(method=METHOD))} of {n} requests")
        time.sleep(0.05)


def needs_person_view(store) -> list[tuple[str, str]]:
    """(category, subject) of the returns flow in the analysts' view."""
    with store.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.text(
            f"SELECT category, subject FROM {VIEW} WHERE flow = 'returns'")))


def returns_waiting(store) -> dict[str, int]:
    return {k: n for k, n in attention.counts(store.engine, [c.key for c in attention.categories_of("returns")]
                                              ).items() if n}


def with_timeouts(monkeypatch, *, read: float, connect: float = 2) -> None:
    """The Qimen connection's client timeouts (its extras), as a deployment sets them."""
    conn = json.loads(os.environ["AIRFLOW_CONN_QIMEN_DEFAULT"])
    conn["extra"] = {**conn["extra"], "read_timeout": read, "connect_timeout": connect}
    monkeypatch.setenv("AIRFLOW_CONN_QIMEN_DEFAULT", json.dumps(conn))


def with_config(monkeypatch, **changes) -> None:
    config = json.loads(os.environ[ENV_KEY])
    monkeypatch.setenv(ENV_KEY, json.dumps({**config, **changes}))


def assert_announced_once(sim, store, codes: set[str]) -> None:
    """The warehouse holds each of ``codes`` once, created by one request; the store has it ``sent``
    with the warehouse's id, after exactly one successful exchange."""
    held = sim.admin.returns()
    assert sorted(r["return_code"] for r in held) == sorted(codes)
    answers = warehouse_answers(sim)
    assert {c: answers[c]["return announced"] for c in codes} == dict.fromkeys(codes, 1), answers
    rows = return_rows(store)
    assert {c: rows[c]["state"] for c in codes} == dict.fromkeys(codes, "sent")
    assert {c: rows[c]["wms_return_id"] for c in codes} == {r["return_code"]: r["return_id"] for r in held}
    assert Counter(e["business_key"] for e in exchanges(store) if e["outcome"] == "success") == \
        dict.fromkeys(codes, 1)


# --------------------------------------------------------------------- 1. passing faults


@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_return_refused_by_passing_faults_stays_due_and_the_next_run_announces_it_once(
        backend, shipped_order, monkeypatch):
    shop, sim, store, _receiver, code, order_id = shipped_order(backend, **RETURNS_ON)
    with_timeouts(monkeypatch, read=1)
    approve_return(shop, order_id, "AS-1")
    outcomes = {"fail_5xx": "http_error", "error_response": "gateway_error", "hang": "transport_error",
                "failure": "business_failure"}  # flag=failure, SYSTEM_BUSY: a passing refusal
    for run, fault in enumerate(outcomes, start=1):
        sim.admin.replace_faults(**{fault: 1.0}, hang_seconds=3, failure_codes=["SYSTEM_BUSY"], methods=[METHOD])
        report = sync_returns(quick_retry_bridge(f"faulty-{run}", max_retries=1))
        # counted as the push counts it: retry-waiting, nobody's to deal with, the run does not fail
        assert (report.sent, report.retry_waiting, report.needs_person, report.needs_person_verdict) == \
            (0, 1, 0, 0), report.summary()
        assert report.samples["retry_waiting"][0].startswith("AS-1: passing")
        row = return_rows(store)["AS-1"]
        assert (row["state"], row["last_error_retryable"], row["attempts"]) == ("failed", True, run)
        assert returns_waiting(store) == {} and needs_person_view(store) == []
        assert sim.admin.returns() == []  # not at the warehouse, not lost: due for the next run
        # one exchange per send (the hook's own resend within it is not a row of its own)
        assert [(e["outcome"], e["run_id"]) for e in exchanges(store, "AS-1")][-1] == (outcomes[fault], f"faulty-{run}")
    assert len(exchanges(store)) == len(outcomes)
    assert sim.admin.counters()[METHOD]["received"] == 2 * len(outcomes)  # the hook's resends did reach it

    sim.admin.replace_faults()
    later = sync_returns(bridge("clear"))
    assert (later.sent, later.retry_waiting, later.needs_person_verdict) == (1, 0, 0), later.summary()
    assert_announced_once(sim, store, {"AS-1"})
    (held,) = sim.admin.returns()
    assert (held["pre_order_code"], held["repeats"]) == (code, 0)
    again = sync_returns(bridge("after"))
    assert (again.sent, again.unchanged) == (0, 1) and len(sim.admin.returns()) == 1


# ------------------------------------------------------- 2. the answer lost after processing


@pytest.mark.timeout(240)
@pytest.mark.parametrize("fault", ["drop_after", "read_timeout"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_return_whose_answer_was_lost_is_resent_under_its_code_and_held_once(
        backend, fault, shipped_order, monkeypatch):
    shop, sim, store, _receiver, code, order_id = shipped_order(backend, **RETURNS_ON)
    with_timeouts(monkeypatch, read=1)
    approve_return(shop, order_id, "AS-1")
    if fault == "drop_after":
        sim.admin.replace_faults(drop_after=1.0, methods=[METHOD])
    else:  # stored at once, answered after the client gave up
        sim.admin.replace_faults(latency_ms=3000, methods=[METHOD])
    first = sync_returns(quick_retry_bridge("lost-1", max_retries=0))
    assert (first.sent, first.retry_waiting, first.needs_person_verdict) == (0, 1, 0), first.summary()
    assert return_rows(store)["AS-1"]["state"] == "failed" and return_rows(store)["AS-1"]["last_error_retryable"]
    (held,) = sim.admin.returns()  # the warehouse has it although we could not know
    assert held["return_code"] == "AS-1" and held["repeats"] == 0
    (lost,) = exchanges(store, "AS-1")
    assert lost["outcome"] == "transport_error"

    sim.admin.replace_faults()
    wait_for_requests(sim, 1)
    second = sync_returns(bridge("lost-2"))
    assert (second.sent, second.retry_waiting, second.needs_person_verdict) == (1, 0, 0), second.summary()
    (held,) = sim.admin.returns()
    assert (held["return_code"], held["pre_order_code"], held["repeats"]) == ("AS-1", code, 1)
    # the same code and the same document: the warehouse answered the resend as a repeat
    _lost, resent = exchanges(store, "AS-1")
    assert resent["outcome"] == "success" and resent["run_id"] == "lost-2"
    sent_first = parse_request(METHOD, lost["request_body"].encode("utf-8"))
    assert parse_request(METHOD, resent["request_body"].encode("utf-8")) == sent_first
    assert sent_first["returnOrder"]["returnOrderCode"] == "AS-1"
    assert warehouse_answers(sim) == {"AS-1": Counter({"return announced": 1, "return already announced": 1})}
    assert_announced_once(sim, store, {"AS-1"})
    assert sync_returns(bridge("lost-3")).sent == 0 and len(sim.admin.returns()) == 1


# ---------------------------------------------------------------- 3. a business refusal


@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_return_the_warehouse_refuses_waits_for_a_person_and_fails_one_run(backend, shipped_order):
    shop, sim, store, _receiver, _code, order_id = shipped_order(backend, **RETURNS_ON)
    approve_return(shop, order_id, "AS-1")
    sim.admin.replace_faults(failure=1.0, failure_codes=["RETURN_REFUSED"], methods=[METHOD])
    first = sync_returns(quick_retry_bridge("refused-1", max_retries=2))
    assert (first.sent, first.retry_waiting, first.needs_person) == (0, 0, 1), first.summary()
    assert first.needs_person_verdict == 1
    assert first.verdict_samples and first.verdict_samples[0].startswith("AS-1:")
    assert "simulated failure" in first.verdict_samples[0]
    (tried,) = exchanges(store, "AS-1")  # a refusal for good is not resent within the run either
    assert (tried["outcome"], tried["error_code"]) == ("business_failure", "RETURN_REFUSED")
    row = return_rows(store)["AS-1"]
    assert (row["state"], row["last_error_retryable"], row["last_error_code"]) == ("failed", False, "RETURN_REFUSED")
    # the one definition of "needs a person": its counts and the analysts' view agree
    assert returns_waiting(store) == {"returns_refused": 1}
    assert needs_person_view(store) == [("returns_refused", "AS-1")]
    (listed,) = attention.rows(store.engine, "returns_refused")
    assert "simulated failure" in listed["reason"] and listed["run_id"] == "refused-1"
    assert sim.admin.returns() == []
    # Airflow retries that run (the same run id): the same verdict, nothing sent again
    retried = sync_returns(bridge("refused-1"))
    assert (retried.sent, retried.needs_person_verdict) == (0, 1) and len(exchanges(store, "AS-1")) == 1

    # the next run, the warehouse well again: the refusal is a person's, not resent, not failing again
    sim.admin.replace_faults()
    second = sync_returns(bridge("refused-2"))
    assert (second.sent, second.needs_person_verdict) == (0, 0), second.summary()
    assert len(exchanges(store, "AS-1")) == 1 and sim.admin.returns() == []
    assert returns_waiting(store) == {"returns_refused": 1}
    assert needs_person_view(store) == [("returns_refused", "AS-1")]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_retried_return_lands_in_one_bucket_of_the_run_that_retries_it(backend, shipped_order):
    shop, sim, store, _receiver, _code, order_id = shipped_order(backend, **RETURNS_ON)
    approve_return(shop, order_id, "AS-1")
    sim.admin.replace_faults(fail_5xx=1.0, methods=[METHOD])
    first = sync_returns(quick_retry_bridge("busy-1", max_retries=0))
    assert (first.extracted, first.retry_waiting, sum(first.counts.values())) == (1, 1, 1)
    busy = sync_returns(quick_retry_bridge("busy-2", max_retries=0))  # still refused: waiting, not "nothing to do"
    sim.admin.replace_faults()
    later = sync_returns(bridge("busy-3"))
    assert later.sent == 1 and len(sim.admin.returns()) == 1  # what the flow does is right ...
    # ... what it says is not: each run read one return, and each names it in one bucket only
    assert [(r.extracted, {k: n for k, n in r.counts.items() if n}) for r in (busy, later)] == \
        [(1, {"retry_waiting": 1}), (1, {"sent": 1})]


# -------------------------------------------------------------------- 4. two runs at once


@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", BACKENDS)
def test_two_runs_at_once_announce_every_approved_return_exactly_once(backend, shipped_order):
    shop, sim, store, _receiver, code, _order_id = shipped_order(backend, **RETURNS_ON)
    # the shipped order and three accepted (unshipped) ones: the warehouse has them all
    codes = [code, *sorted(paid_order_codes(shop) - {code})[:3]]
    returns = {f"AS-{n}": order for n, order in enumerate(codes, start=1)}
    ids = order_ids(shop, codes)
    for sn, order in returns.items():
        approve_return(shop, ids[order], sn)
    sim.admin.replace_faults(latency_ms=300, methods=[METHOD])  # the runs overlap at the warehouse

    bridges = {"a": bridge("together-a"), "b": bridge("together-b")}
    start = threading.Barrier(len(bridges))
    reports, errors = {}, {}

    def run(name: str) -> None:
        try:
            start.wait(timeout=30)
            reports[name] = sync_returns(bridges[name])
        except BaseException as exc:  # noqa: BLE001 - shown by the assertion below
            errors[name] = exc

    threads = [threading.Thread(target=run, args=(name,)) for name in bridges]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == {}, errors
    a, b = reports["a"], reports["b"]
    assert a.sent + b.sent == len(returns), (a.summary(), b.summary())
    assert a.needs_person_verdict == b.needs_person_verdict == 0
    assert a.retry_waiting == b.retry_waiting == 0
    assert_announced_once(sim, store, set(returns))
    assert not any(r["repeats"] for r in sim.admin.returns())
    assert {r["return_code"]: r["pre_order_code"] for r in sim.admin.returns()} == returns
    assert returns_waiting(store) == {}

    sim.admin.replace_faults()
    after = sync_returns(bridge("after"))
    assert (after.sent, after.unchanged) == (0, len(returns))
    assert len(sim.admin.returns()) == len(returns)


# ------------------------------------------------------------------ 5. not switched on


@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", BACKENDS)
def test_returns_not_switched_on_send_nothing_and_say_so(backend, shipped_order, monkeypatch):
    shop, sim, store, _receiver, code, order_id = shipped_order(backend, enabled_methods=["stockchange.report"])
    approve_return(shop, order_id, "AS-1")
    report = sync_returns(bridge("off"))
    assert (report.extracted, report.sent, report.needs_person_verdict) == (0, 0, 0)
    assert any("returnorder.create is not switched on" in note for note in report.notes), report.notes
    assert return_rows(store) == {} and exchanges(store) == []
    assert sim.admin.returns() == [] and METHOD not in sim.admin.counters()

    # switched on later (the warehouse agreed): the return approved meanwhile is announced, once
    with_config(monkeypatch, enabled_methods=RETURNS_ON["enabled_methods"])
    on = sync_returns(bridge("on"))
    assert (on.extracted, on.sent) == (1, 1), on.summary()
    assert_announced_once(sim, store, {"AS-1"})
    assert sim.admin.returns()[0]["pre_order_code"] == code
