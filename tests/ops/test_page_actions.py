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
    assert run.conf == {"order_codes": ["REFUSED2"], "dry_run": False} and run.state == "queued"
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
