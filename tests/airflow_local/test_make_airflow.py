"""`make airflow` from the repo: health answers, every DAG is listed, the preconfigured settings are
there, and Ctrl-C stops every process it started. (Runs after the other tests of this folder, which
share the same Airflow: the last test stops it.)"""

from __future__ import annotations

import json
import signal

import pytest
import requests

from local_airflow_helpers import ONE_AIRFLOW, expected_dag_ids

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
    variable = local_airflow.api("GET", "/api/v2/variables/wms_bridge_config").json()
    assert json.loads(variable["value"])["profile"] == "reference"
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


def test_ctrl_c_stops_everything(local_airflow):
    assert local_airflow.leftovers(), "the marker should find the running components"
    # make itself dies of the SIGINT (-2), as it does on Ctrl-C; the launcher under it exits cleanly
    assert local_airflow.stop() in (0, -signal.SIGINT), local_airflow.output.read_text()[-3000:]
    assert local_airflow.leftovers() == []
    assert "stopped" in local_airflow.output.read_text()
