"""The operations page under the api-server, over HTTP: behind Airflow's login, every section there,
counts that match the store, a category's list filtered, as CSV. (What a person clicks on it, as
``operator`` and as ``viewer``, is in test_browser.py, which runs before this file.)"""

from __future__ import annotations

import csv
import io

import pytest
import requests
import sqlalchemy as sa

from local_airflow_helpers import ONE_AIRFLOW, shop_file

# the first test waits for Airflow to start
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), ONE_AIRFLOW]

CSV_HEAD = ["category", "subject", "detail", "state", "reason", "since_beijing", "dag_id", "run_id", "bridge_id"]


def store_counts(local_airflow) -> dict[str, int]:
    """Orders per state, and ``rejected_waiting``: rejected ones nobody marked handled (the page's
    "Orders our checks refused")."""
    engine = sa.create_engine(f"sqlite:///{shop_file(local_airflow)}")
    try:
        with engine.connect() as conn:
            counts = dict(conn.execute(sa.text("SELECT state, count(*) FROM wms_order_sync GROUP BY state")).all())
            counts["rejected_waiting"] = conn.execute(sa.text(
                "SELECT count(*) FROM wms_order_sync WHERE state = 'rejected' AND handled_at IS NULL")).scalar()
            return counts
    finally:
        engine.dispose()


def test_the_page_needs_a_login(local_airflow):
    for path in ("/wms-ops/", "/wms-ops/rejected.csv", "/wms-ops/waiting.csv?category=orders_rejected",
                 "/wms-ops/runbook"):
        assert requests.get(f"{local_airflow.base}{path}", timeout=30).status_code == 401, path
    answer = requests.post(f"{local_airflow.base}/wms-ops/act", timeout=30,
                           data={"action": "handled", "category": "orders_rejected", "subject": ["x"]})
    assert answer.status_code == 401


def test_the_menu_entry_is_registered(local_airflow):
    plugins = local_airflow.api("GET", "/api/v2/plugins").json()["plugins"]
    ops = next(p for p in plugins if p["name"] == "wms_ops")
    assert ops["external_views"][0]["href"] == "/wms-ops/"
    assert ops["fastapi_apps"][0]["url_prefix"] == "/wms-ops"


def test_the_page_shows_the_store(local_airflow, demo_runs):
    items, orders = demo_runs
    assert items["state"] == "success", items
    counts = store_counts(local_airflow)
    assert counts.get("sent") and counts.get("rejected_waiting"), counts
    page = local_airflow.api("GET", "/wms-ops/")
    assert page.status_code == 200, page.text[:2000]
    html = page.text
    for label in ("Now / 现在", "Paid, not at the warehouse yet / 已付款未推送", "Scheduled flows / 定时流程",
                  "Waiting for a person / 待人工处理", "Orders our checks refused / 未通过校验的订单",
                  "Orders by state", "订单状态", "Latest confirmations", "Last inventory run",
                  "What people did / 人工处理记录", "Recent runs"):
        assert label in html, label
    assert f"data-category='orders_rejected' data-count='{counts['rejected_waiting']}'" in html
    assert "/dags/wms_order_push_manual/runs/" in html  # rejected orders link to the run that decided them
    assert "href='runbook#rejected-orders-fix-and-resend'" in html
    assert "Read-only" not in html  # admin may act


def test_rejected_orders_filter_and_csv(local_airflow, demo_runs):
    counts = store_counts(local_airflow)
    answer = local_airflow.api("GET", "/wms-ops/rejected.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith("\ufeff".encode())  # a BOM: Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == CSV_HEAD and len(rows) - 1 == counts["rejected_waiting"]
    assert {r[0] for r in rows[1:]} == {"orders_rejected"}
    code = rows[1][1]
    filtered = list(csv.reader(io.StringIO(local_airflow.api(
        "GET", "/wms-ops/waiting.csv", params={"category": "orders_rejected", "q": code}).content.decode("utf-8-sig"))))
    assert [r[1] for r in filtered[1:]] == [code]
    html = local_airflow.api("GET", "/wms-ops/", params={"q": code, "focus": "orders_rejected"}).text
    assert f"1 of {counts['rejected_waiting']} shown" in html and code in html
