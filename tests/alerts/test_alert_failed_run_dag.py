"""``notify_failed_run`` the way Airflow calls it: a real DAG whose task fails, run by ``dag.test()``,
which marks the run failed and calls the DAG's ``on_failure_callback`` with the run's context.

``dag.test()`` only runs a DAG that its DAG bundle holds, so the probe DAG lives in a DAGs folder of
its own, run in a subprocess against a copy of the project's Airflow metadata database (``make
airflow-home``): the project's DAG folder and database are left alone."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys

import pytest
from alert_robots import DINGTALK_TOKEN, SECRETS, WECOM_KEY

PROBE_DAG = '''
import pendulum
from airflow.sdk import dag, task

from wmsbridge.alerts import notify_failed_run


@dag(dag_id="wms_alert_probe", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
     catchup=False, on_failure_callback=notify_failed_run)
def wms_alert_probe():
    @task(retries=0)
    def push():
        raise RuntimeError("the warehouse refused the batch")

    push()


probe = wms_alert_probe()

if __name__ == "__main__":
    run = probe.test()
    print(f"RUN {run.run_id} {run.state}")
'''


def metadata_copy(target) -> str:
    """A consistent copy of this process's SQLite metadata database, as a SQLAlchemy URL."""
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if not url.startswith("sqlite:///"):
        pytest.skip("the probe DAG runs on a copy of a SQLite metadata database")
    source_path = url.removeprefix("sqlite:///")
    if not os.path.exists(source_path):
        pytest.fail(f"no Airflow metadata database at {source_path}: run `make airflow-home` first")
    source, copy = sqlite3.connect(source_path), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    return f"sqlite:///{target}"


def run_probe(tmp_path, dag_source: str) -> tuple[subprocess.CompletedProcess, str]:
    """``dag_source`` as wms_alert_probe.py, run with ``dag.test()`` in a subprocess on a copy of the
    metadata database; the finished process and its whole output."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "wms_alert_probe.py").write_text(dag_source, encoding="utf-8")
    env = {**os.environ,
           "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_copy(tmp_path / "airflow.db"),
           "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(tmp_path / "logs"),
           "AIRFLOW__API__BASE_URL": "http://127.0.0.1:8080"}
    done = subprocess.run([sys.executable, str(dags / "wms_alert_probe.py")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=240)
    return done, done.stdout + done.stderr


@pytest.mark.slow
def test_a_failed_dag_run_alerts_both_robots(tmp_path, robots, alert_env):
    alert_env(robots.dingtalk.url, robots.wecom.url)
    done, output = run_probe(tmp_path, PROBE_DAG)

    found = re.search(r"^RUN (\S+) failed$", done.stdout, re.MULTILINE)
    assert done.returncode == 0 and found, output[-4000:]
    run_id = found.group(1)
    assert len(robots.dingtalk.received) == 1 and len(robots.wecom.received) == 1, output[-4000:]
    ding, wecom = robots.dingtalk.received[0], robots.wecom.received[0]
    assert ding.query == {"access_token": DINGTALK_TOKEN} and wecom.query == {"key": WECOM_KEY}
    assert ding.body["markdown"]["title"] == "【WMS】运行失败 / run failed: wms_alert_probe"
    content = wecom.body["markdown"]["content"].splitlines()
    quoted_run = run_id.replace(":", "%3A").replace("+", "%2B")
    assert content[:6] == ["## 【WMS】运行失败 / run failed: wms_alert_probe",
                           "DAG: wms_alert_probe",
                           f"运行 / run: {run_id}",
                           "类型 / run type: 手动 manual",
                           "失败任务 / failed task: push",
                           "原因 / reason: 任务失败 task_failure"]
    assert re.fullmatch(r"北京时间 / Beijing time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", content[6])
    assert content[7:] == [f"[查看运行 / open the run](http://127.0.0.1:8080/dags/wms_alert_probe/runs/{quoted_run})"]
    assert ding.body["markdown"]["text"] == "\n\n".join(["#### " + content[0].removeprefix("## "), *content[1:]])
    assert not [s for s in SECRETS if s in output]


MAPPED_PROBE_DAG = '''
import pendulum
from airflow.sdk import dag, get_current_context, task

from wmsbridge.alerts import notify_failed_run


@dag(dag_id="wms_alert_probe", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
     catchup=False, on_failure_callback=notify_failed_run)
def wms_alert_probe():
    @task(retries=0, map_index_template="{{ bridge }}")
    def push(bridge_id: str):
        get_current_context()["bridge"] = bridge_id  # as the flow tasks name their map index
        if bridge_id == "shop-b":
            raise RuntimeError("shop b's warehouse refused the batch")

    push.expand(bridge_id=["shop-a", "shop-b"])


probe = wms_alert_probe()

if __name__ == "__main__":
    run = probe.test()
    print(f"RUN {run.run_id} {run.state}")
'''


@pytest.mark.slow
def test_a_failed_bridge_task_alerts_that_bridges_channels_only(tmp_path, robots, alert_env, monkeypatch):
    """Two bridges, each with its own channel: shop b's task fails, so shop b's robot (WeCom) hears
    of it, naming the bridge, and shop a's (DingTalk) hears nothing."""
    import json

    from wmsbridge.config import ENV_KEY

    alert_env(robots.dingtalk.url, robots.wecom.url)
    monkeypatch.setenv(ENV_KEY, json.dumps({"bridges": {
        "shop-a": {"qimen_conn_id": "qimen_a", "alerts": {"dingtalk_conn_id": "alert_dingtalk"}},
        "shop-b": {"qimen_conn_id": "qimen_b", "alerts": {"webhook_conn_id": "alert_wecom"}}}}))
    done, output = run_probe(tmp_path, MAPPED_PROBE_DAG)
    assert done.returncode == 0 and re.search(r"^RUN \S+ failed$", done.stdout, re.MULTILINE), output[-4000:]
    assert robots.dingtalk.received == [], output[-4000:]
    [wecom] = robots.wecom.received
    content = wecom.body["markdown"]["content"].splitlines()
    assert content[:2] == ["## 【WMS】运行失败 / run failed: wms_alert_probe", "桥接 / bridge: shop-b"]
