"""One real local Airflow (``make airflow``) for this folder: PostgreSQL metadata in a throwaway
database, its own AIRFLOW_HOME, the demo shop and the simulator, on free ports.

Started once for the folder; test_make_airflow.py's last test stops it and checks nothing is left.
"""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest

from airflow_stack import LocalAirflow, free_port
from databases import throwaway_database
from local_airflow_helpers import ROOT, expected_dag_ids

START_TIMEOUT = 420  # a cold start on a busy 2-core machine: migrate, shop, four components


@pytest.fixture(scope="package")
def local_airflow(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local-airflow")
    with throwaway_database("postgresql", tmp, prefix="airflow_meta") as db_url:
        home, output, marker = tmp / "home", tmp / "make-airflow.out", f"test-{secrets.token_hex(6)}"
        port = free_port()
        env = dict(os.environ)
        for key in [k for k in env if k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "WMS_"))]:
            del env[key]  # only what `make airflow` sets itself
        env.update({
            "AIRFLOW_HOME": str(home),
            "WMS_AIRFLOW_DB_URL": db_url.render_as_string(hide_password=False),
            "WMS_LOCAL_AIRFLOW": marker,
            # a daily push at Beijing midnight: a backfill interval is then one Beijing day
            "WMS_ORDER_PUSH_CRON": "0 16 * * *",
            "WMS_RETRY_DELAY_SECONDS": "1",
            # No scheduled or asset-triggered runs: a test's runs are the ones it starts (manual, backfill).
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        })
        args = f"--port {port} --simulator-port 0 --orders 300"
        with output.open("w") as out:
            process = subprocess.Popen(["make", "--no-print-directory", "airflow", f"AIRFLOW_ARGS={args}"],
                                       cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        airflow = LocalAirflow(process, home, f"http://127.0.0.1:{port}", marker, output, env,
                               db_url.render_as_string(hide_password=False))
        try:
            airflow.wait_up(START_TIMEOUT)
            yield airflow
        finally:
            airflow.stop()


@pytest.fixture(scope="package")
def demo_runs(local_airflow):
    """SKUs and orders pushed through the UI's REST path (the manual DAGs, dry run off): data for the
    operations page. Returns the two runs."""
    assert expected_dag_ids() <= local_airflow.wait_for_dags(expected_dag_ids())
    items = local_airflow.run_dag("wms_item_sync_manual", {"dry_run": False})
    orders = local_airflow.run_dag("wms_order_push_manual", {"dry_run": False})
    return items, orders
