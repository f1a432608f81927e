"""A mistyped ``wms_bridge_config`` Variable fails the DAG run at once, naming the key, without
Airflow retries; it never falls back to the defaults (profile ``reference``, connection ``shop_db``)."""

from __future__ import annotations

import json

import pytest
from bridge_helpers import OWNER, WAREHOUSE, run_dag


@pytest.mark.parametrize("variable, named", [
    (json.dumps({"profile": "reference", "chunck_size": 50}), "chunck_size"),
    ('{"profile": "reference", "chunk_size": 50', "is not valid JSON"),
    (json.dumps({"profile": "reference", "answer_rules": {"pasing_codes": ["X"]}}), "pasing_codes"),
])
def test_a_mistyped_variable_fails_the_run_at_once_naming_the_key(
        variable, named, make_shop, bridge_env, wms_simulator_factory, monkeypatch, capsys):
    shop = make_shop("sqlite", "reference", orders=10, skus=4, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    bridge_env(shop, sim)
    monkeypatch.setenv("AIRFLOW_VAR_WMS_BRIDGE_CONFIG", variable)
    capsys.readouterr()

    run = run_dag("wms_item_sync")
    out = capsys.readouterr().out
    assert run.state == "failed"
    assert "AirflowFailException: configuration error" in out  # the kind Airflow does not retry
    assert named in out and "wms_bridge_config" in out
    tries = {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    # the run's first task reads the settings (which bridges to serve): it fails, once, and no
    # bridge's task starts
    assert tries["bridges"] == ("failed", 1), tries
    assert tries["sync"][0] == "upstream_failed", tries
    assert not sim.admin.items() and not sim.admin.requests()


def test_a_command_line_tool_reads_the_variable_set_in_airflows_ui(tmp_path):
    """``make migrate`` and ``python -m wmsbridge.alerts`` run beside Airflow, not in a task: the
    Variable an operator saved in the UI (Airflow's metadata database) is what they read, before
    the environment fallback."""
    import os
    import subprocess
    import sys

    from airflow.models.variable import Variable

    saved = {"profile": "litemall", "store_conn_id": "store_from_the_ui"}
    Variable.set("wms_bridge_config", json.dumps(saved))
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("AIRFLOW_VAR_WMS_BRIDGE_CONFIG",)}
        env["WMS_BRIDGE_CONFIG"] = json.dumps({"profile": "reference"})  # the fallback: not used
        done = subprocess.run([sys.executable, "-c", "from wmsbridge.config import load_config; c = load_config(); "
                               "print(c.profile, c.store_conn_id)"], env=env, capture_output=True, text=True,
                              timeout=120)
    finally:
        Variable.delete("wms_bridge_config")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["litemall", "store_from_the_ui"]
