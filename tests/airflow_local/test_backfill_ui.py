"""A backfill as the UI's dialog posts it (POST /api/v2/backfills), over two intervals, on
PostgreSQL metadata: both runs succeed and each sends only the orders paid in its own interval.
(The dialog itself, clicked in Chromium with its defaults, is test_browser.py's backfill test, on two
other Beijing days.)

The local Airflow of this folder runs wms_order_push daily at 16:00 UTC (WMS_ORDER_PUSH_CRON), so one
interval is one Beijing day. Runs before the page tests push every order (demo_runs): the file name
keeps it first. It leaves wms_order_push unpaused, as the dialog's default would.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from local_airflow_helpers import ONE_AIRFLOW, expected_dag_ids, shop_file

# the first test waits for Airflow to start
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), ONE_AIRFLOW]
BEIJING = timezone(timedelta(hours=8))


def test_backfill_over_two_beijing_days(local_airflow):
    assert expected_dag_ids() <= local_airflow.wait_for_dags(expected_dag_ids())
    assert local_airflow.run_dag("wms_item_sync_manual", {"dry_run": False})["state"] == "success"

    today = datetime.now(BEIJING).date()
    first = datetime.combine(today - timedelta(days=3), datetime.min.time(), BEIJING).astimezone(timezone.utc)
    second = first + timedelta(days=1)
    answer = local_airflow.api("POST", "/api/v2/backfills", json={
        "dag_id": "wms_order_push", "from_date": first.isoformat(), "to_date": second.isoformat(),
        "run_backwards": False, "dag_run_conf": {}, "reprocess_behavior": "none", "max_active_runs": 1})
    assert answer.status_code == 200, answer.text
    backfill_id = answer.json()["id"]
    # The dialog's "unpause": a paused DAG's tasks are never queued, backfill or not. (The test Airflow
    # creates no scheduled runs: AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=False in conftest.)
    local_airflow.api("PATCH", "/api/v2/dags/wms_order_push", json={"is_paused": False}).raise_for_status()

    deadline, runs = time.monotonic() + 420, []
    while time.monotonic() < deadline:
        runs = [r for r in local_airflow.api("GET", "/api/v2/dags/wms_order_push/dagRuns",
                                             params={"run_type": "backfill"}).json()["dag_runs"]]
        if len(runs) == 2 and all(r["state"] in ("success", "failed") for r in runs):
            break
        time.sleep(3)
    assert len(runs) == 2, runs
    assert all(r["state"] == "success" for r in runs), runs
    intervals = {r["dag_run_id"]: (datetime.fromisoformat(r["data_interval_start"].replace("Z", "+00:00")),
                                   datetime.fromisoformat(r["data_interval_end"].replace("Z", "+00:00"))) for r in runs}
    assert sorted(intervals.values()) == [(first, second), (second, second + timedelta(days=1))]
    assert local_airflow.api("GET", f"/api/v2/backfills/{backfill_id}").json()["dag_id"] == "wms_order_push"

    engine = sa.create_engine(f"sqlite:///{shop_file(local_airflow)}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT delivery_order_code, run_id, paid_at, state FROM wms_order_sync")).all()
            # the reference profile's shop keeps naive UTC timestamps
            local = [t.strftime("%Y-%m-%d %H:%M:%S") for t in (first, second + timedelta(days=1))]
            in_shop = conn.execute(sa.text("SELECT count(*) FROM shop_order WHERE status = 'paid' AND paid_at >= :a "
                                           "AND paid_at < :b"), {"a": local[0], "b": local[1]}).scalar()
    finally:
        engine.dispose()
    assert rows, "the backfill touched no order"
    per_run = {run_id: 0 for run_id in intervals}
    for code, run_id, paid_at, state in rows:
        assert run_id in intervals, f"{code} was touched by {run_id}, not by the backfill"
        paid = datetime.fromisoformat(str(paid_at)).replace(tzinfo=timezone.utc)
        start, end = intervals[run_id]
        assert start <= paid < end, f"{code} paid {paid} is outside {run_id}'s interval [{start}, {end})"
        per_run[run_id] += 1
    assert all(per_run.values()), per_run  # each day had orders, and each run took its own
    assert len(rows) == in_shop  # every paid order of those two days, and no other
