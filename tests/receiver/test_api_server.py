"""The same route inside a real ``airflow api-server`` (the plugin from the distribution's
``airflow.plugins`` entry point), and the Asset event that starts wms_shipments at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from receivers import ROOT, SAMPLE, TOKEN, Subprocess, free_port

from qimen.parsing import parse_response
from wmsbridge.store.engine import create_store_engine
from wmsbridge.store.migrate import upgrade
from wmsbridge.store.schema import shipment_inbox

# migrates a metadata DB, serializes the DAGs and starts the api-server: slow on a busy machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture
def airflow_env(tmp_path):
    """An isolated Airflow metadata DB (a copy of the project's migrated one, else a fresh
    migration) with the DAGs serialized and unpaused, and a migrated store."""
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade(store_url)
    metadata = tmp_path / "airflow.db"
    env = dict(
        os.environ,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{metadata}",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW_CONN_SHOP_DB=json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": store_url}}),
        WMS_BRIDGE_CONFIG=json.dumps({"callback_token": TOKEN, "callback_customer_id": "82073683308314625"}),
    )
    project_db = ROOT / ".airflow" / "airflow.db"
    if project_db.exists():
        shutil.copyfile(project_db, metadata)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    subprocess.run([AIRFLOW, "dags", "reserialize"], env=env, check=True, capture_output=True, timeout=300)
    # the copied DB may know the DAG already, paused (dag.test in other tests registers it)
    subprocess.run([AIRFLOW, "dags", "unpause", "wms_shipments"], env=env, check=True, capture_output=True,
                   timeout=300)
    return env, store_url, metadata


def test_callback_route_inside_the_api_server(airflow_env, tmp_path):
    env, store_url, metadata = airflow_env
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Subprocess([AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                         "--apps", "core"], env, tmp_path / "api-server.log", f"{base}/api/v2/monitor/health",
                        timeout=180)
    with server:
        url = f"{base}/wms/qimen/callback"
        ok = httpx.post(url, params={"token": TOKEN, "method": "deliveryorder.confirm"}, content=SAMPLE,
                        headers={"Content-Type": "text/xml;charset=utf-8"}, timeout=30)
        answer = parse_response(ok.content)
        assert (ok.status_code, answer.flag, answer.message) == (200, "success", "stored")
        bad = httpx.post(url, params={"token": "not-the-token-0123456789"}, content=SAMPLE, timeout=30)
        assert (bad.status_code, parse_response(bad.content).code) == (401, "invalid-token")
        assert httpx.get(f"{base}/wms/health", timeout=30).json() == {"ready": True}
        # the Asset event is recorded after the answer: wait for it, bounded
        airflow_db = sa.create_engine(f"sqlite:///{metadata}")
        query = sa.text("SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id"
                        " WHERE a.uri = 'wms://bridge/shipment-inbox'")
        queued = sa.text("SELECT q.target_dag_id FROM asset_dag_run_queue q JOIN asset a ON a.id = q.asset_id"
                         " WHERE a.uri = 'wms://bridge/shipment-inbox'")
        for _ in range(100):
            with airflow_db.connect() as conn:
                events, targets = conn.execute(query).all(), conn.execute(queued).scalars().all()
            if events:
                break
            time.sleep(0.2)
        assert len(events) == 1 and "wms receiver" in events[0][0]
        assert targets == ["wms_shipments"]
        airflow_db.dispose()
    engine = create_store_engine(store_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(shipment_inbox.c.out_biz_code, shipment_inbox.c.raw_body)).all()
    engine.dispose()
    assert rows == [("1601100137", SAMPLE.decode())]
    assert TOKEN not in server.output  # the access log shows token=*** (Airflow's and ours)
