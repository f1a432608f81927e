"""Every command of the runbook (docs/operations.md) runs as written: its SQL against a store on
SQLite, PostgreSQL and MariaDB, its shell commands against a real Airflow home (their own copy of
the metadata database, the DAGs serialized into it). A command that stops working fails here, not
in front of an operator at night."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from databases import BACKENDS, throwaway_database
from wmsbridge.store.base import RunRef
from wmsbridge.store.migrate import upgrade
from wmsbridge.store import IntegrationStore

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "operations.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
# what the placeholders of the runbook's commands stand for in this test
PLACEHOLDERS = {"<order code>": "2026110300000355", "<access_token>": "test-token", "<key>": "test-key"}
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)


def blocks(kind: str) -> list[str]:
    found = [body for lang, body in BLOCK.findall(RUNBOOK.read_text(encoding="utf-8")) if lang == kind]
    assert found, f"no {kind} block in {RUNBOOK}"
    return found


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    """A store with a little of everything the runbook's queries look at."""
    with throwaway_database(request.param, tmp_path, prefix="runbook") as url:
        upgrade(url)
        engine = sa.create_engine(url)
        store = IntegrationStore(engine, clock=lambda: NOW)
        run = RunRef("manual__1", "wms_order_push_manual")
        store.orders.ensure_pending([{"delivery_order_code": "R1", "shop_order_id": "1"}], run_id=run)
        store.orders.mark_rejected_many({"R1": ["deliveryOrder.receiverInfo.mobile: required"]}, run_id=run)
        store.unkeyed.record("orders", [{"shop_id": "2", "shop_code": "", "violations": ["x"]}], run_id=run)
        store.items.record_failed("SKU1", error_code="B", message="refused", retryable=False, sku_id="1", run_id=run)
        store.exchanges.log(direction="outbound", method="deliveryorder.create", outcome="success", business_key="R1")
        ledger = store.inventory
        claim = ledger.claim_day(date(2026, 11, 30), run, forced=False)
        ledger.replace_day(date(2026, 11, 30), [{"warehouse_code": "WH", "item_code": "SKU1", "inventory_type": "ZP",
                                                 "quantity": 5, "lock_quantity": 0}], run_id=run)
        ledger.finish(claim.run_row_id, "guard_refused", message="would zero 60 %")
        try:
            yield engine
        finally:
            engine.dispose()


def test_every_runbook_query_runs(store):
    with store.connect() as conn:
        answered = [len(conn.execute(sa.text(sql.strip().rstrip(";"))).all()) for sql in blocks("sql")]
    assert answered[0] >= 3  # the view of everything waiting: the rejected order, the unkeyed one, the SKU...


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    """The environment of `source env.sh`, on a copy of the metadata database with the DAGs in it."""
    home = tmp_path_factory.mktemp("runbook-airflow")
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if not url.startswith("sqlite:///"):
        pytest.skip("the runbook's shell commands are run on a copy of a SQLite metadata database")
    source, target = sqlite3.connect(url.removeprefix("sqlite:///")), sqlite3.connect(home / "airflow.db")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
           "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"), "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    subprocess.run(["airflow", "dags", "reserialize"], env=env, check=True, capture_output=True, timeout=300)
    yield env
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("number", range(len(blocks("bash"))))
def test_every_runbook_shell_command_runs(airflow_env, number):
    script = blocks("bash")[number]
    for placeholder, value in PLACEHOLDERS.items():
        script = script.replace(placeholder, value)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=airflow_env, capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, f"{script}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    if "airflow dags trigger" in script:  # the run is in the metadata database, queued, with that conf
        dag_id = re.search(r"trigger (\S+)", script)[1]
        db = airflow_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
        with sqlite3.connect(db) as conn:
            states = [r[0] for r in conn.execute("SELECT state FROM dag_run WHERE dag_id = ?", (dag_id,))]
        assert "queued" in states, (dag_id, states, done.stdout[-2000:])
