"""The operations page in Airflow's real FastAPI app (built in-process, the project's plugins loaded,
users of the simple auth manager): counts equal the store's, the backlog is read from the shop, and
the actions work for a user who may trigger the bridge's DAGs and are refused to a viewer, a form
from elsewhere, and a page older than the record."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import date

import pytest
import sqlalchemy as sa

from wmsbridge.store import attention
from wmsbridge.store.base import RunRef
from wmsbridge.store import IntegrationStore
from wmsbridge.store.schema import person_action
from wmsbridge_tools.synthetic.generator import generate

from order_steps import answer, claim

PUSH = RunRef("scheduled__2026-11-30T02:00:00+00:00", "wms_order_push")


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A generated reference shop with the store in it, and a few records waiting for a person."""
    from wmsbridge.store.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('ops-page') / 'shop.sqlite'}"
    engine = sa.create_engine(url)
    generate(engine, "reference", orders=40, skus=6, seed=3, bad_share=0.0, date_from=date(2026, 11, 20),
             date_to=date(2026, 11, 28))
    upgrade(engine)
    store = IntegrationStore(engine)
    for code in ("REFUSED1", "REFUSED2", "REJ1"):
        store.orders.ensure_pending([{"delivery_order_code": code, "shop_order_id": code.lower()}], run_id=PUSH)
    for code in ("REFUSED1", "REFUSED2"):
        assert claim(store, code, PUSH).owned
        answer(store, code, "failed", error_code="B01", error_message="货主不存在", retryable=False, run_id=PUSH)
    store.orders.mark_rejected_many({"REJ1": ["deliveryOrder.receiverInfo.mobile: required"]}, run_id=PUSH)
    yield url, engine
    engine.dispose()


@pytest.fixture(scope="module")
def client(shop):
    """Airflow's app (core API and the plugins' apps), the DAGs serialized into its metadata database."""
    from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import create_app

    url, _engine = shop
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_SHOP_DB", json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": url}}))
        patch.setenv("WMS_BRIDGE_CONFIG", json.dumps({"profile": "reference", "live": ["shipments"]}))
        subprocess.run(["airflow", "dags", "reserialize"], check=True, capture_output=True, timeout=300)
        with TestClient(create_app(apps="all")) as test_client:
            yield test_client


def as_user(client, role: str) -> dict:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=f"{role}-user", role=role))
    return {"Authorization": f"Bearer {token}"}


def page_of(client, role: str) -> str:
    answer = client.get("/wms-ops/", headers=as_user(client, role))
    assert answer.status_code == 200, answer.text[:3000]
    return answer.text


def counts_on(html: str) -> dict[str, int]:
    return {key: int(n) for key, n in re.findall(r"data-category='(\w+)' data-count='(\d+)'", html)}


def token_on(html: str) -> str:
    return re.search(r"name='csrf' value='(\w+)'", html)[1]


def test_a_viewer_reads_the_same_counts_as_the_store_and_may_not_act(client, shop):
    _url, engine = shop
    html = page_of(client, "viewer")
    shown = counts_on(html)
    assert {k: shown[k] for k in attention.BY_KEY} == attention.counts(engine)
    assert shown["orders_refused"] == 2 and shown["orders_rejected"] == 1 and shown["total"] == 3
    # the backlog is read from the shop: its paid orders the warehouse does not have (none sent here)
    with engine.connect() as conn:
        paid = conn.execute(sa.text("SELECT COUNT(*) FROM shop_order WHERE status = 'paid'")).scalar_one()
    assert shown["backlog"] == paid > 0
    assert "Read-only" in html and "disabled" in html
    assert re.search(r"data-flow='shipments' data-live='true'", html) and "data-flow='orders' data-live='false'" in html
    refused = client.post("/wms-ops/act", headers=as_user(client, "viewer"), follow_redirects=False,
                          data={"action": "handled", "category": "orders_refused", "subject": ["REFUSED1"],
                                "csrf": token_on(html)})
    assert refused.status_code == 403
    assert attention.counts(engine)["orders_refused"] == 2


def test_an_operator_marks_handled_and_sends_again(client, shop):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    _url, engine = shop
    html = page_of(client, "op")
    assert "Read-only" not in html
    headers = as_user(client, "op")
    no_token = client.post("/wms-ops/act", headers=headers, follow_redirects=False,
                           data={"action": "handled", "category": "orders_refused", "subject": ["REFUSED1"]})
    assert no_token.status_code == 403

    handled = client.post("/wms-ops/act", headers=headers, follow_redirects=False, data={
        "action": "handled", "category": "orders_refused", "subject": ["REFUSED1"], "note": "told the warehouse",
        "csrf": token_on(html)})
    assert handled.status_code == 303 and "1+done" in handled.headers["location"]
    sent = client.post("/wms-ops/act", headers=headers, follow_redirects=False, data={
        "action": "send_again", "category": "orders_refused", "subject": ["REFUSED2", "REFUSED1"],
        "csrf": token_on(html)})
    assert sent.status_code == 303
    assert "started+wms_order_push_manual" in sent.headers["location"]  # REFUSED1 was handled: not waiting

    counts = attention.counts(engine)
    assert counts["orders_refused"] == 0 and IntegrationStore(engine).orders.order("REFUSED2")["state"] == "pending"
    with engine.connect() as conn:
        acts = conn.execute(sa.select(person_action).order_by(person_action.c.id)).all()
    assert [(a.action, a.subject, a.actor, a.note, a.dag_id) for a in acts] == [
        ("handled", "REFUSED1", "op-user", "told the warehouse", None),
        ("send_again", "REFUSED2", "op-user", None, "wms_order_push_manual")]
    with create_session() as session:  # the run the act started, with exactly that order
        run = session.query(DagRun).filter(DagRun.dag_id == "wms_order_push_manual",
                                           DagRun.run_id == acts[1].run_id).one()
    assert run.conf == {"order_codes": ["REFUSED2"], "dry_run": False, "bridge": "default"} and run.state == "queued"
    after = page_of(client, "op")
    assert counts_on(after)["orders_refused"] == 0 and "told the warehouse" in after  # the history shows it


def test_the_runbook_and_the_csv_behind_the_login(client, shop):
    assert client.get("/wms-ops/runbook").status_code == 401
    book = client.get("/wms-ops/runbook", headers=as_user(client, "viewer")).text
    for category in attention.CATEGORIES:
        assert f"id='{category.runbook}'" in book, category.runbook
    answer = client.get("/wms-ops/waiting.csv", params={"category": "orders_rejected"}, headers=as_user(client, "viewer"))
    rows = answer.content.decode("utf-8-sig").splitlines()
    assert rows[0].startswith("category,subject") and rows[1].startswith("orders_rejected,REJ1,")


# -- several bridges: one page per bridge, their totals, acts that stay in their bridge ---------------

TWO_BRIDGES = {"profile": "reference", "live": ["shipments"], "bridges": {
    "shop-a": {"shop_conn_id": "shop_a_db", "store_conn_id": "two_store", "live": ["orders"]},
    "shop-b": {"shop_conn_id": "shop_b_db", "store_conn_id": "two_store"},
    "shop-c": {"shop_conn_id": "shop_c_db", "store_conn_id": "c_store", "enabled": False}}}


def _refused(store, code: str) -> None:
    store.orders.ensure_pending([{"delivery_order_code": code, "shop_order_id": code}], run_id=PUSH)
    assert claim(store, code, PUSH).owned
    answer(store, code, "failed", error_code="B01", error_message="货主不存在", retryable=False, run_id=PUSH)


@pytest.fixture
def bridges(shop, tmp_path, monkeypatch):
    """Three bridges on the reference shop: shop-a and shop-b share a store and the order code 1001
    (b also has 1002 refused, and 1003 rejected), shop-c (disabled) has its own store."""
    from wmsbridge.store.migrate import upgrade

    shop_url, _engine = shop
    engines = {}
    for conn_id, bridge_codes in (("two_store", {"shop-a": ["1001"], "shop-b": ["1001", "1002"]}),
                                  ("c_store", {"shop-c": ["1001"]})):
        url = f"sqlite:///{tmp_path / conn_id}.sqlite"
        engines[conn_id] = engine = sa.create_engine(url)
        upgrade(engine)
        for bridge_id, codes in bridge_codes.items():
            for code in codes:
                _refused(IntegrationStore(engine, bridge_id=bridge_id), code)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(
            {"conn_type": "generic", "extra": {"sqlalchemy_url": url}}))
    b = IntegrationStore(engines["two_store"], bridge_id="shop-b")
    b.orders.ensure_pending([{"delivery_order_code": "1003", "shop_order_id": "1003"}], run_id=PUSH)
    b.orders.mark_rejected_many({"1003": ["mobile"]}, run_id=PUSH)
    for conn_id in ("shop_a_db", "shop_b_db", "shop_c_db"):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(
            {"conn_type": "generic", "extra": {"sqlalchemy_url": shop_url}}))
    monkeypatch.setenv("WMS_BRIDGE_CONFIG", json.dumps(TWO_BRIDGES))
    yield engines
    for engine in engines.values():
        engine.dispose()


def subjects_on(html: str, category: str) -> list[str]:
    form = html[html.index(f"data-form='{category}'"):]
    return re.findall(r"name='subject' value='([^']+)'", form[:form.index("</form>")])


def test_each_bridge_its_own_page_and_the_totals_add_up(client, bridges, monkeypatch):
    read = []
    counts_by_bridge = attention.counts_by_bridge
    monkeypatch.setattr(attention, "counts_by_bridge", lambda engine: read.append(engine.url.database)
                        or counts_by_bridge(engine))
    store = bridges["two_store"]
    html = page_of(client, "viewer")  # no bridge asked, none named default: the first one
    assert "data-selected-bridge='shop-a'" in html
    assert {k: counts_on(html)[k] for k in attention.BY_KEY} == attention.counts(store, bridge_id="shop-a")
    assert counts_on(html)["total"] == 1 and subjects_on(html, "orders_refused") == ["1001"]
    assert "name='bridge' value='shop-a'" in html
    assert "data-flow='orders' data-live='true'" in html  # shop-a's own live list
    totals = dict(re.findall(r"data-bridge='([\w-]+)' data-waiting='(\d+)'", html))
    assert totals == {"shop-a": "1", "shop-b": "3", "shop-c": "1"}
    assert "data-bridge-total='5'" in html and sorted(read) == sorted(
        [bridges["two_store"].url.database, bridges["c_store"].url.database])  # each store read once

    answer = client.get("/wms-ops/", params={"bridge": "shop-b", "q": "100", "focus": "orders_refused"},
                        headers=as_user(client, "viewer"))
    assert answer.status_code == 200, answer.text[:3000]
    b = answer.text
    assert "data-selected-bridge='shop-b'" in b and counts_on(b)["total"] == 3
    assert sorted(subjects_on(b, "orders_refused")) == ["1001", "1002"] and subjects_on(b, "orders_rejected") == ["1003"]
    assert "data-flow='orders' data-live='false'" in b and "data-flow='shipments' data-live='true'" in b
    assert "href='./?bridge=shop-a&amp;q=100&amp;focus=orders_refused'" in b  # the selector keeps the filter
    csv = client.get("/wms-ops/rejected.csv", params={"bridge": "shop-b"}, headers=as_user(client, "viewer"))
    rows = csv.content.decode("utf-8-sig").splitlines()
    assert [r.split(",")[1] for r in rows[1:]] == ["1003"] and rows[1].endswith(",shop-b")
    assert "shop-b-orders_rejected-" in csv.headers["content-disposition"]

    unknown = client.get("/wms-ops/", params={"bridge": "shop-x"}, headers=as_user(client, "viewer"))
    assert unknown.status_code == 400
    assert "shop-x" in unknown.text and all(f"./?bridge={b}" in unknown.text for b in TWO_BRIDGES["bridges"])
    unknown_csv = client.get("/wms-ops/waiting.csv", params={"category": "orders_refused", "bridge": "shop-x"},
                             headers=as_user(client, "viewer"))
    assert unknown_csv.status_code == 400 and "shop-a, shop-b, shop-c" in unknown_csv.text


def test_an_act_on_one_bridge_leaves_the_other_bridge_of_the_same_code(client, bridges):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    store = bridges["two_store"]
    headers = as_user(client, "op")
    html = client.get("/wms-ops/", params={"bridge": "shop-b"}, headers=headers).text
    unknown = client.post("/wms-ops/act", headers=headers, follow_redirects=False, data={
        "action": "send_again", "category": "orders_refused", "subject": ["1001"], "csrf": token_on(html),
        "bridge": "shop-x"})
    assert unknown.status_code == 400 and "shop-x" in unknown.text
    sent = client.post("/wms-ops/act", headers=headers, follow_redirects=False, data={
        "action": "send_again", "category": "orders_refused", "subject": ["1001"], "csrf": token_on(html),
        "bridge": "shop-b"})
    assert sent.status_code == 303 and "bridge=shop-b" in sent.headers["location"]
    assert "started+wms_order_push_manual" in sent.headers["location"]

    assert IntegrationStore(store, bridge_id="shop-b").orders.order("1001")["state"] == "pending"
    assert IntegrationStore(store, bridge_id="shop-a").orders.order("1001")["state"] == "failed"  # still waiting
    assert attention.counts(store, bridge_id="shop-a")["orders_refused"] == 1
    assert attention.counts(store, bridge_id="shop-b")["orders_refused"] == 1  # 1002
    with store.connect() as conn:
        act = conn.execute(sa.select(person_action)).one()
    assert (act.bridge_id, act.subject, act.action) == ("shop-b", "1001", "send_again")
    with create_session() as session:  # the run serves shop-b only
        run = session.query(DagRun).filter(DagRun.dag_id == "wms_order_push_manual", DagRun.run_id == act.run_id).one()
    assert run.conf == {"order_codes": ["1001"], "dry_run": False, "bridge": "shop-b"}
    after = client.get("/wms-ops/", params={"bridge": "shop-a"}, headers=headers).text
    assert subjects_on(after, "orders_refused") == ["1001"] and "What people did" in after
    assert "nothing yet / 暂无" in after[after.index("id='history'"):]  # the act was shop-b's
