"""The operations page under the api-server: behind Airflow's login, read-only, counts that match
the store, rejected orders as CSV."""

from __future__ import annotations

import csv
import io

import pytest
import requests
import sqlalchemy as sa

from local_airflow_helpers import ONE_AIRFLOW, shop_file

# the first test waits for Airflow to start
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), ONE_AIRFLOW]


def store_counts(local_airflow) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{shop_file(local_airflow)}")
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT state, count(*) FROM wms_order_sync GROUP BY state")).all())
    finally:
        engine.dispose()


def test_the_page_needs_a_login(local_airflow):
    assert requests.get(f"{local_airflow.base}/wms-ops/", timeout=30).status_code == 401
    assert requests.get(f"{local_airflow.base}/wms-ops/rejected.csv", timeout=30).status_code == 401


def test_the_menu_entry_is_registered(local_airflow):
    plugins = local_airflow.api("GET", "/api/v2/plugins").json()["plugins"]
    ops = next(p for p in plugins if p["name"] == "wms_ops")
    assert ops["external_views"][0]["href"] == "/wms-ops/"
    assert ops["fastapi_apps"][0]["url_prefix"] == "/wms-ops"


def test_the_page_shows_the_store(local_airflow, demo_runs):
    items, orders = demo_runs
    assert items["state"] == "success", items
    counts = store_counts(local_airflow)
    assert counts.get("sent") and counts.get("rejected"), counts
    page = local_airflow.api("GET", "/wms-ops/")
    assert page.status_code == 200, page.text[:2000]
    html = page.text
    for label in ("Orders by state", "订单状态", "Rejected orders / 被拒订单", "Waiting for a person / 待人工处理",
                  "Latest confirmations", "Last inventory run", "Recent runs"):
        assert label in html, label
    assert f"Rejected orders / 被拒订单 ({counts['rejected']})" in html
    assert f"/dags/wms_order_push_manual/runs/" in html  # rejected orders link to the run that saw them


def test_rejected_orders_filter_and_csv(local_airflow, demo_runs):
    counts = store_counts(local_airflow)
    answer = local_airflow.api("GET", "/wms-ops/rejected.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][0] == "delivery_order_code" and len(rows) - 1 == counts["rejected"]
    code = rows[1][0]
    filtered = list(csv.reader(io.StringIO(
        local_airflow.api("GET", "/wms-ops/rejected.csv", params={"q": code}).content.decode("utf-8-sig"))))
    assert [r[0] for r in filtered[1:]] == [code]
    html = local_airflow.api("GET", "/wms-ops/", params={"q": code}).text
    assert f"1 of 1 shown" in html and code in html
