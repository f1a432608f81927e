"""The warehouse's reports and their switches at the receiver, beyond test_warehouse_reports.py:

- every orderprocess.report status a person must act on (PROCESS_FOR_PERSON) waits for one, shown
  everywhere a person looks (the attention list and counts, wms_v_needs_person, the operations page)
  and announced; progress is kept and shown nowhere;
- each switchable report not switched on is refused (``method-not-enabled``), stored nowhere, and the
  refused exchange logged, also when every other report is switched on;
- two bridges with different switches behind one receiver: one refuses what the other stores, and
  the other stores it as its own only.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from qimen.parsing import parse_response
from receivers import CUSTOMER, TOKEN, ThreadedReceiver, receiver, store_url, tables  # noqa: F401 (fixtures)
from test_receiver import post
from test_warehouse_reports import reports

from wmsbridge.config import SWITCHABLE_METHODS, Deployment
from wmsbridge.ops import page, queries
from wmsbridge.receiver.app import create_app
from wmsbridge.receiver.composition import build_receiver
from wmsbridge.receiver.reports import PROCESS_APPLIED_BY_FLOW, PROCESS_FOR_PERSON
from wmsbridge.store import attention
from wmsbridge.store.engine import create_store_engine
from wmsbridge.store.schema import exchange_log, metadata, warehouse_report

FIXTURES = Path(__file__).parents[1] / "protocol" / "fixtures"
LACK = (FIXTURES / "itemlack_report_request.xml").read_bytes()
PROCESS = (FIXTURES / "orderprocess_report_request.xml").read_bytes()  # TMSCANCELED, order JY2009260440
RETURN = (FIXTURES / "returnorder_confirm_request.xml").read_bytes()
STOCK = (FIXTURES / "stockchange_report_request.xml").read_bytes()
ORDER = "JY2009260440"
BODIES = {"returnorder.confirm": RETURN, "orderprocess.report": PROCESS, "itemlack.report": LACK,
          "stockchange.report": STOCK}
# the reports a warehouse posts to us (returnorder.create is ours to send, switched on with its confirm)
REPORTED = ("returnorder.confirm", "orderprocess.report", "itemlack.report", "stockchange.report")
PERSON = ("REJECT", "EXCEPTION", "TMSCANCELFAILED", "CANCELEDFAIL", "REFUSE")
XML = {"Content-Type": "text/xml; charset=utf-8"}


def process(status: str, order: str = ORDER) -> bytes:
    return PROCESS.replace(b"TMSCANCELED", status.encode()).replace(ORDER.encode(), order.encode())


def where_a_person_looks(store_url, bridge_id: str | None = None) -> dict:
    """What each place a person looks at shows for ``reports_for_person``."""
    engine = create_store_engine(store_url)
    try:
        kinds = queries.waiting(engine, bridge_id=bridge_id)
        return {
            "rows": attention.rows(engine, "reports_for_person", bridge_id=bridge_id),
            "count": attention.counts(engine, ["reports_for_person"], bridge_id=bridge_id)["reports_for_person"],
            "view": queries.view_counts(engine, bridge_id)["reports_for_person"],
            "page": page.waiting_section(kinds, now=datetime.now(timezone.utc), may_act=False, csrf="", text="",
                                         focus=None, bridge=bridge_id),
        }
    finally:
        engine.dispose()


@pytest.fixture
def robot(monkeypatch):
    """A WeCom robot the receiver's alerts go to (connection ``alert_wecom``)."""
    from alerts.alert_robots import WECOM_KEY, WECOM_PATH, Robot

    running = Robot()
    monkeypatch.setenv("AIRFLOW_CONN_ALERT_WECOM", json.dumps(
        {"conn_type": "http", "host": running.url + WECOM_PATH, "password": WECOM_KEY}))
    yield running
    running.close()


def alerts_once(robot, n: int) -> list[str]:
    """The texts of the alerts once ``n`` arrived (they go out after the answer), and a moment more."""
    deadline = time.monotonic() + 10
    while len(robot.received) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    return [a.body["markdown"]["content"] for a in robot.received]


# --- 1. orderprocess.report: which statuses wait for a person ----------------------------------


def test_the_tested_statuses_are_the_documented_ones():
    assert set(PERSON) == PROCESS_FOR_PERSON and not PROCESS_FOR_PERSON & PROCESS_APPLIED_BY_FLOW


@pytest.mark.parametrize("status, sent", [(s, s) for s in PERSON] + [
    ("TMSCANCELFAILED", " tmscancelfailed ")])  # as a lenient WMS may write it
def test_a_process_status_for_a_person_waits_for_one_everywhere_and_is_announced(receiver, tables, store_url,
                                                                                 robot, status, sent):
    r = receiver(enabled_methods=["orderprocess.report"], alerts={"webhook_conn_id": "alert_wecom"})
    for _ in range(2):  # a gateway repeats itself: stored and announced once
        code, answer = post(r, process(sent), method="orderprocess.report", customerId=CUSTOMER)
        assert code == 200 and answer.success
    (row,) = reports(store_url)
    assert (row["method"], row["order_code"], row["state"]) == ("orderprocess.report", ORDER, "needs_person")
    assert row["summary"].startswith(f"warehouse progress / 仓库作业状态: {status} - ")
    seen = where_a_person_looks(store_url)
    assert [(w["subject"], w["detail"], w["state"]) for w in seen["rows"]] == [(str(row["id"]), ORDER,
                                                                                 "needs_person")]
    assert status in seen["rows"][0]["reason"]
    assert seen["count"] == seen["view"] == 1
    assert "data-category='reports_for_person' data-count='1'" in seen["page"]
    assert ORDER in seen["page"] and status in seen["page"]
    [text] = alerts_once(robot, 1)
    assert ORDER in text and status in text and "orderprocess.report" in text
    assert [e["outcome"] for e in tables.exchanges()] == ["success", "duplicate"]
    assert not tables.inbox()


@pytest.mark.parametrize("status, state", [("ACCEPT", "applied"), ("PRINT", "applied"), ("PICK", "applied"),
                                           ("DELIVERED", "applied"), ("TMSCANCELED", "received")])
def test_progress_is_kept_but_shown_to_nobody_and_not_announced(receiver, store_url, robot, status, state):
    r = receiver(enabled_methods=["orderprocess.report"], alerts={"webhook_conn_id": "alert_wecom"})
    assert post(r, process(status), method="orderprocess.report", customerId=CUSTOMER)[1].success
    (row,) = reports(store_url)
    assert (row["order_code"], row["state"]) == (ORDER, state) and status in row["summary"]
    seen = where_a_person_looks(store_url)
    assert (seen["rows"], seen["count"], seen["view"]) == ([], 0, 0)
    assert "data-category='reports_for_person' data-count='0'" in seen["page"] and ORDER not in seen["page"]
    # a rejection after it is the only alert: the progress announced nothing
    assert post(r, process("REJECT", "JY-LATER-1"), method="orderprocess.report", customerId=CUSTOMER)[1].success
    [text] = alerts_once(robot, 1)
    assert "JY-LATER-1" in text and ORDER not in text


# --- 2. every report, not switched on: refused and stored nowhere -----------------------------


def counts_of_every_table(store_url) -> dict[str, int]:
    engine = create_store_engine(store_url)
    try:
        with engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in metadata.sorted_tables}
    finally:
        engine.dispose()


def others_on(method: str) -> list[str]:
    """Every other switch on (a return's two go together: both off with returnorder.confirm)."""
    off = {method, "returnorder.create"} if method == "returnorder.confirm" else {method}
    return [m for m in SWITCHABLE_METHODS if m not in off]


@pytest.mark.parametrize("others", [False, True], ids=["nothing-on", "everything-else-on"])
@pytest.mark.parametrize("method", REPORTED)
def test_a_report_not_switched_on_is_refused_and_stored_nowhere(receiver, tables, store_url, method, others):
    r = receiver(enabled_methods=others_on(method)) if others else receiver()
    before = counts_of_every_table(store_url)
    status, answer = post(r, BODIES[method], method=method, customerId=CUSTOMER)
    assert status == 400 and not answer.success and answer.code == "method-not-enabled"
    assert method in answer.message and "enabled_methods" in answer.message
    after = counts_of_every_table(store_url)
    assert after.pop(exchange_log.name) == before.pop(exchange_log.name) + 1
    assert after == before  # nothing else anywhere
    assert reports(store_url) == [] and not tables.inbox()
    (logged,) = tables.exchanges()
    assert (logged["outcome"], logged["method"], logged["error_code"], logged["http_status"]) == (
        "refused", method, "method-not-enabled", 400)
    assert logged["request_body"] == BODIES[method].decode("utf-8")  # what was refused, for a person to read
    assert TOKEN not in str(logged)
    # switched on, the same message is stored: the refusal was the switch
    on = receiver(enabled_methods=[method, *(["returnorder.create"] if method == "returnorder.confirm" else [])])
    assert post(on, BODIES[method], method=method, customerId=CUSTOMER)[1].success
    assert [x["method"] for x in reports(store_url)] == [method]


# --- 3. two bridges, different switches -------------------------------------------------------

TOKEN_A, TOKEN_B = "token-of-shop-a-0123456789", "token-of-shop-b-0123456789"
ALL = ["returnorder.create", "returnorder.confirm", "orderprocess.report", "itemlack.report", "stockchange.report"]
SHAPES = {
    # each bridge its own switches: b names none
    "own": ({}, {"enabled_methods": ALL}, {}),
    # shared switches on, b switches them off with its own (empty) list: it replaces the default whole
    "b-overrides": ({"enabled_methods": ALL}, {}, {"enabled_methods": []}),
}


def two_bridges(shape: str) -> Deployment:
    shared, a, b = SHAPES[shape]
    return Deployment.from_mapping({**shared, "bridges": {
        "shop-a": {"callback_token": TOKEN_A, "callback_customer_id": "CUST-A", "qimen_conn_id": "qimen_a", **a},
        "shop-b": {"callback_token": TOKEN_B, "callback_customer_id": "CUST-B", "qimen_conn_id": "qimen_b", **b},
    }})


def post_as(running, body, method, token, customer):
    response = httpx.post(running.url(token, method=method, customerId=customer), content=body, headers=XML,
                          timeout=30)
    return response.status_code, parse_response(response.content)


def rows(engine, table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.id))]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_one_bridge_refuses_what_the_other_stores_as_its_own(store_url, shape):
    deployment = two_bridges(shape)
    assert not any(deployment.bridge("shop-b").method_enabled(m) for m in REPORTED)
    assert all(deployment.bridge("shop-a").method_enabled(m) for m in REPORTED)
    bodies = {**BODIES, "orderprocess.report": process("REFUSE")}  # the buyer refused the parcel
    engine = create_store_engine(store_url)
    try:
        with ThreadedReceiver(create_app(receiver=build_receiver(deployment))) as running:
            for method, body in bodies.items():
                # b first, then a, then b again: a's stored report does not make b's a duplicate
                status, answer = post_as(running, body, method, TOKEN_B, "CUST-B")
                assert (status, answer.success, answer.code) == (400, False, "method-not-enabled"), method
                status, answer = post_as(running, body, method, TOKEN_A, "CUST-A")
                assert (status, answer.success, answer.message) == (200, True, "stored"), method
                assert post_as(running, body, method, TOKEN_B, "CUST-B")[1].code == "method-not-enabled"
        stored = rows(engine, warehouse_report)
        assert [(x["bridge_id"], x["method"]) for x in stored] == [("shop-a", m) for m in bodies]
        assert [x["raw_body"] for x in stored] == [b.decode("utf-8") for b in bodies.values()]
        assert [(x["bridge_id"], x["method"], x["outcome"], x["error_code"]) for x in rows(engine, exchange_log)] == [
            row for m in bodies for row in (("shop-b", m, "refused", "method-not-enabled"),
                                            ("shop-a", m, "success", None),
                                            ("shop-b", m, "refused", "method-not-enabled"))]
        # what waits for a person is a's (the refused parcel, the shortage), none of it b's
        assert attention.counts(engine, ["reports_for_person"], bridge_id="shop-a") == {"reports_for_person": 2}
        assert attention.counts(engine, bridge_id="shop-b") == {c.key: 0 for c in attention.CATEGORIES}
        assert queries.view_counts(engine, "shop-b")["reports_for_person"] == 0
        assert {w["detail"] for w in attention.rows(engine, "reports_for_person", bridge_id="shop-a")} == {
            ORDER, stored[2]["order_code"]}
    finally:
        engine.dispose()
