"""`make airflow` from the repo: health answers, every DAG is listed, the preconfigured settings are
there, the demo warehouse ships, confirms and has stock on its own, and Ctrl-C stops every process it
started. (Runs after the other tests of this folder, which share the same Airflow: the last test
stops it.)"""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime, timezone

import pytest
import requests
import sqlalchemy as sa
from wms_simulator import SimulatorAdmin
from wms_simulator.auto_ship import parcels_for

from local_airflow_helpers import ONE_AIRFLOW, expected_dag_ids, shop_file

# the first test waits for Airflow to start
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), ONE_AIRFLOW]


def test_health_answers(local_airflow):
    health = requests.get(f"{local_airflow.base}/api/v2/monitor/health", timeout=30).json()
    assert health["metadatabase"]["status"] == "healthy"
    assert health["scheduler"]["status"] == "healthy"


def test_every_dag_is_listed(local_airflow):
    wanted = expected_dag_ids()
    assert {"wms_order_push", "wms_order_push_manual", "wms_item_sync", "wms_connection_check"} <= wanted
    listed = local_airflow.wait_for_dags(wanted)
    assert wanted <= listed, f"not listed: {sorted(wanted - listed)}"
    errors = local_airflow.api("GET", "/api/v2/importErrors").json()
    assert errors["total_entries"] == 0, errors


def test_home_shows_no_plugin_import_error(local_airflow):
    """Home's "Plugin Import Errors" badge: the api-server runs from the repository root (on its
    sys.path); the project's plugins must be found once there (make install's egg-info cleanup)."""
    errors = local_airflow.api("GET", "/api/v2/plugins/importErrors").json()
    assert errors["total_entries"] == 0, errors
    names = [p["name"] for p in local_airflow.api("GET", "/api/v2/plugins").json()["plugins"]]
    assert sorted(names) == ["wms_ops", "wms_receiver"], names


def test_postgres_metadata_and_local_executor(local_airflow):
    config = local_airflow.api("GET", "/api/v2/config", params={"section": "core"})
    if config.status_code == 200:  # the config endpoint may be switched off ([api] expose_config)
        options = {o["key"]: o["value"] for s in config.json()["sections"] for o in s["options"]}
        assert options["executor"] == "LocalExecutor"
        assert options["test_connection"] == "Enabled"
    out = local_airflow.output.read_text()
    assert "metadata database: postgresql" in out and "falling back" not in out


def test_settings_are_preconfigured(local_airflow):
    shop = local_airflow.api("GET", "/api/v2/connections/shop_db").json()
    assert shop["conn_type"] == "sqlite" and shop["host"].endswith("shop.sqlite")
    qimen = local_airflow.api("GET", "/api/v2/connections/qimen_default").json()
    assert qimen["conn_type"] == "qimen" and qimen["host"].startswith("http://127.0.0.1:")
    variable = json.loads(local_airflow.api("GET", "/api/v2/variables/wms_bridge_config").json()["value"])
    assert variable["profile"] == "reference"
    assert variable["live"] is True, "scheduled runs must do their work against the simulator"
    pool = local_airflow.api("GET", "/api/v2/pools/wms_warehouse").json()
    assert pool["slots"] >= 1


def test_connection_test_button_works(local_airflow):
    """Connection testing is enabled, and the qimen test reaches the simulator."""
    qimen = local_airflow.api("GET", "/api/v2/connections/qimen_default").json()
    body = {k: qimen[k] for k in ("connection_id", "conn_type", "host", "login", "extra")}
    body["password"] = json.loads((local_airflow.home / "local" / "secrets.json").read_text())["simulator_secret"]
    answer = local_airflow.api("POST", "/api/v2/connections/test", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] is True, answer.json()


def test_login_is_printed(local_airflow):
    out = local_airflow.output.read_text()
    assert f"login: admin / {local_airflow.password('admin')}" in out
    assert f"login: operator / {local_airflow.password('operator')}" in out
    assert f"login: viewer / {local_airflow.password('viewer')}  (viewer)" in out


def shop_rows(local_airflow, sql: str) -> list:
    engine = sa.create_engine(f"sqlite:///{shop_file(local_airflow)}")
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).all()
    finally:
        engine.dispose()


def simulator(local_airflow) -> SimulatorAdmin:
    return SimulatorAdmin(local_airflow.api("GET", "/api/v2/connections/qimen_default").json()["host"])


def test_the_demo_shop_holds_nothing_in_the_future(local_airflow):
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # the reference shop keeps naive UTC times
    [latest] = shop_rows(local_airflow, "SELECT max(created_at), max(paid_at), max(shipped_at), max(updated_at)"
                                        " FROM shop_order")
    assert all(latest), latest
    for column, value in zip(("created_at", "paid_at", "shipped_at", "updated_at"), latest):
        assert datetime.fromisoformat(str(value)) <= now, f"{column} {value} is after {now} (UTC)"


def test_confirmations_and_tracking_numbers_arrive_on_their_own(local_airflow, demo_runs):
    """The simulator ships every accepted order a minute after accepting it and posts the confirmation
    to the api-server's receiver; a wms_shipments run writes the tracking numbers to the shop."""
    admin = simulator(local_airflow)
    lines = {o["order_code"]: len(o["lines"]) for o in admin.orders()}
    accepted = set(lines)
    assert accepted, "the demo pushes sent nothing"
    deadline, confirmations = time.monotonic() + 300, []
    while time.monotonic() < deadline:
        confirmations = admin.confirmations()
        if {c["order_code"] for c in confirmations} == accepted and all(c["last_http_status"] for c in confirmations):
            break
        time.sleep(3)
    shipped = {c["order_code"]: c["express_codes"] for c in confirmations}
    assert set(shipped) == accepted, f"{len(accepted - set(shipped))} accepted orders not shipped in 5 minutes"
    assert {c["last_http_status"] for c in confirmations} == {200}, [c["last_answer"] for c in confirmations][:3]
    two_parcels = {code for code, numbers in shipped.items() if len(numbers) == 2}
    assert two_parcels == {code for code in accepted if parcels_for(None, code, lines[code], 0.1) == 2}
    assert len(two_parcels) < len(accepted) / 4, "most orders go in one parcel"
    inbox = dict(shop_rows(local_airflow, "SELECT delivery_order_code, out_biz_code FROM wms_shipment_inbox"))
    assert set(inbox) == accepted

    run = local_airflow.run_dag("wms_shipments")
    assert run["state"] == "success", run
    states = dict(shop_rows(local_airflow, "SELECT state, count(*) FROM wms_shipment_inbox GROUP BY state"))
    assert states == {"applied": len(accepted)}, states
    tracking = dict(shop_rows(local_airflow, "SELECT order_no, tracking_no FROM shop_order WHERE status = 'shipped'"))
    assert {code: tracking.get(code, "").split(",") for code in accepted} == shipped


def test_the_daily_inventory_sync_passes_its_guard_rails(local_airflow, demo_runs):
    """Every item arrived at the simulator with the shop's stock (plus what paid orders hold, a few
    SKUs 3 more): the day's sync writes those few and refuses nothing."""
    run = local_airflow.run_dag("wms_inventory_sync")
    assert run["state"] == "success", run
    outcomes = dict(shop_rows(local_airflow, "SELECT outcome, count(*) FROM wms_stock_writeback GROUP BY outcome"))
    assert outcomes.get("applied"), outcomes
    assert outcomes["applied"] < sum(outcomes.values()) / 2, "only the SKUs counted differently change"


def test_ctrl_c_stops_everything(local_airflow):
    assert local_airflow.leftovers(), "the marker should find the running components"
    # make itself dies of the SIGINT (-2), as it does on Ctrl-C; the launcher under it exits cleanly
    assert local_airflow.stop() in (0, -signal.SIGINT), local_airflow.output.read_text()[-3000:]
    assert local_airflow.leftovers() == []
    assert "stopped" in local_airflow.output.read_text()
