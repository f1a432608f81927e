"""The warehouse's own reports at the receiver: stored once when switched on, for a person when
that is what they mean, refused (and stored nowhere but the exchange log) when not agreed."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from receivers import CUSTOMER, TOKEN, receiver, store_url, tables  # noqa: F401 (fixtures)
from test_receiver import post

from wmsbridge.config import SWITCHABLE_METHODS, BridgeConfig
from wmsbridge.errors import ConfigError
from wmsbridge.receiver.app import REPORTS
from wmsbridge.store import attention
from wmsbridge.store.actions import PersonActions
from wmsbridge.store.engine import create_store_engine
from wmsbridge.store.schema import warehouse_report

FIXTURES = Path(__file__).parents[1] / "protocol" / "fixtures"
LACK = (FIXTURES / "itemlack_report_request.xml").read_bytes()
PROCESS = (FIXTURES / "orderprocess_report_request.xml").read_bytes()  # TMSCANCELED, parcel back
ON = {"enabled_methods": ["itemlack.report", "orderprocess.report"]}


def reports(store_url) -> list[dict]:
    engine = create_store_engine(store_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(warehouse_report).order_by(warehouse_report.c.id))]
    finally:
        engine.dispose()


def test_a_shortage_is_stored_once_and_waits_for_a_person(receiver, tables, store_url):
    r = receiver(**ON)
    for _ in range(2):  # a gateway repeats itself
        status, answer = post(r, LACK, method="itemlack.report", customerId=CUSTOMER)
        assert status == 200 and answer.success
    (row,) = reports(store_url)
    assert (row["method"], row["state"], row["raw_body"]) == ("itemlack.report", "needs_person", LACK.decode("utf-8"))
    assert row["order_code"] and row["order_code"] in LACK.decode("utf-8")
    assert "short" in row["summary"] and "仓库报缺" in row["summary"]
    assert [e["outcome"] for e in tables.exchanges()] == ["success", "duplicate"]
    assert all(e["business_key"] == row["order_code"] and TOKEN not in str(e) for e in tables.exchanges())
    engine = create_store_engine(store_url)
    try:
        waiting = attention.rows(engine, "reports_for_person")
        assert [(w["subject"], w["detail"]) for w in waiting] == [(str(row["id"]), row["order_code"])]
        with engine.connect() as conn:  # the analysts' view says the same
            assert conn.execute(sa.text(f"SELECT count(*) FROM {attention.VIEW} WHERE category = 'reports_for_person'")
                                ).scalar_one() == 1
        # a person dealt with it (the warehouse ships what it has): it leaves the list, the act is kept
        done = PersonActions(engine).act("handled", "reports_for_person", [str(row["id"])], actor="operator",
                                         note="ships 1 of 3, rest cancelled")
        assert done.done == [str(row["id"])] and attention.counts(engine, ["reports_for_person"]) == {
            "reports_for_person": 0}
        assert PersonActions(engine).history(subject=str(row["id"]))[0]["note"] == "ships 1 of 3, rest cancelled"
    finally:
        engine.dispose()
    assert not tables.inbox()  # not a shipment confirmation


def test_progress_is_kept_and_a_rejected_order_waits_for_a_person_and_is_announced(receiver, store_url,
                                                                                  monkeypatch):
    import json
    import time

    from alerts.alert_robots import WECOM_KEY, WECOM_PATH, Robot

    robot = Robot()
    monkeypatch.setenv("AIRFLOW_CONN_ALERT_WECOM", json.dumps(
        {"conn_type": "http", "host": robot.url + WECOM_PATH, "password": WECOM_KEY}))
    try:
        r = receiver(**ON, alerts={"webhook_conn_id": "alert_wecom"})
        for status in ("TMSCANCELED", "PICK", "REJECT", "REJECT"):  # the last: a repeat of the same report
            body = PROCESS.replace(b"TMSCANCELED", status.encode())
            assert post(r, body, method="orderprocess.report", customerId=CUSTOMER)[1].success
        rows = reports(store_url)
        # a successful intercept waits for the cancels flow (it may end a refund after shipment),
        # progress is kept, a rejection waits for a person
        assert [(x["method"], x["order_code"], x["state"]) for x in rows] == [
            ("orderprocess.report", "JY2009260440", state) for state in ("received", "applied", "needs_person")]
        assert rows[0]["summary"] == ("warehouse progress / 仓库作业状态: TMSCANCELED - 快递拦截成功,包裹退回仓库; "
                                      "parcel YT4815765342047")
        engine = create_store_engine(store_url)
        try:
            assert [w["subject"] for w in attention.rows(engine, "reports_for_person")] == [str(rows[2]["id"])]
        finally:
            engine.dispose()
        deadline = time.monotonic() + 10  # the alert goes out after the answer
        while not robot.received and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        [alert] = robot.received  # one: the repeat announces nothing again, progress nothing at all
        text = alert.body["markdown"]["content"]
        assert "JY2009260440" in text and "REJECT" in text and "orderprocess.report" in text
    finally:
        robot.close()


def test_a_report_not_switched_on_is_refused_and_stored_nowhere(receiver, tables, store_url):
    r = receiver()
    status, answer = post(r, LACK, method="itemlack.report", customerId=CUSTOMER)
    assert status == 400 and not answer.success and answer.code == "method-not-enabled"
    assert "enabled_methods" in answer.message
    assert reports(store_url) == [] and not tables.inbox()
    (logged,) = tables.exchanges()
    assert (logged["outcome"], logged["method"]) == ("refused", "itemlack.report")


def test_a_report_without_its_order_is_refused_naming_the_field(receiver, tables, store_url):
    r = receiver(**ON)
    body = LACK.replace(b"<deliveryOrderCode>", b"<other>").replace(b"</deliveryOrderCode>", b"</other>")
    status, answer = post(r, body, method="itemlack.report", customerId=CUSTOMER)
    assert status == 400 and answer.code == "missing-field" and "deliveryOrderCode" in answer.message
    assert reports(store_url) == []


def test_only_methods_this_version_handles_can_be_switched_on():
    assert set(REPORTS) <= set(SWITCHABLE_METHODS)  # every switch has a handler at the receiver
    with pytest.raises(ConfigError, match=r"enabled_methods: \['entryorder.create'\] cannot be switched on"):
        BridgeConfig.from_mapping({"enabled_methods": ["entryorder.create"]})
    # a return announced is followed to what the warehouse received: both switches, or neither
    with pytest.raises(ConfigError, match="returnorder.create and returnorder.confirm go together"):
        BridgeConfig.from_mapping({"enabled_methods": ["returnorder.create"]})
    assert BridgeConfig.from_mapping({"enabled_methods": ["returnorder.confirm", "returnorder.create"]}
                                     ).method_enabled("returnorder.confirm")
    with pytest.raises(ConfigError, match="enabled_methods"):
        BridgeConfig.from_mapping({"enabled_methods": "itemlack.report"})
    config = BridgeConfig.from_mapping({"enabled_methods": ["taobao.qimen.itemlack.report"]})  # the long name too
    assert config.method_enabled("itemlack.report") and config.method_enabled("deliveryorder.create")
    assert not BridgeConfig().method_enabled("itemlack.report")


def test_the_simulated_warehouse_reports_a_shortage_and_it_waits_here(receiver, store_url, wms_simulator_factory):
    """Interoperation over HTTP both ways: the simulator signs and posts itemlack.report (twice, as
    gateways repeat) to the receiver's URL with its token; one report is stored, named by order."""
    import requests
    from simulator.helpers import call, item_document, order_document

    r = receiver(**ON)
    sim = wms_simulator_factory(customer_id=CUSTOMER)
    with requests.Session() as session:
        session.trust_env = False
        for code in ("A", "B"):
            assert call(session, sim, "singleitem.synchronize", item_document(code)).success
        sim.admin.seed_stock([{"itemCode": c, "quantity": 10} for c in ("A", "B")])
        assert call(session, sim, "deliveryorder.create", order_document("LACK-1", [("A", 2), ("B", 3)])).success
    posted = sim.admin.report_lack("LACK-1", {"B": 2}, repeat=1, callback_url=r.url())
    assert [d["http_status"] for d in posted["deliveries"]] == [200, 200]
    (row,) = reports(store_url)
    assert (row["order_code"], row["report_key"], row["state"]) == ("LACK-1", posted["out_biz_code"], "needs_person")
    assert row["summary"] == "warehouse reports a shortage / 仓库报缺: B: 2 of 3 short (实物报缺)"
