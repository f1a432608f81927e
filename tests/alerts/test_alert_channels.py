"""Alerts over real HTTP: DingTalk through Airflow's Dingding provider and a WeCom group robot, both
local servers; the connections and settings come from the environment as in a deployment."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from alert_robots import DINGTALK_SECRET, DINGTALK_TOKEN, SECRETS, WECOM_KEY, WECOM_PATH, Robot

from wmsbridge.alerts import dingtalk_signature, notify_failed_run, notify_needs_person, send_alert
from wmsbridge.config import ENV_KEY

BEIJING = timezone(timedelta(hours=8))
TIME_LINE = re.compile(r"北京时间 / Beijing time: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
RUN_ID = "scheduled__2026-11-30T06:00:00+00:00"


@pytest.fixture(autouse=True)
def no_airflow_link(monkeypatch):
    """No UI address (empty wins over airflow.cfg too): a test that wants the link sets one."""
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")


@pytest.fixture
def logs(caplog, capfd):
    """Everything logged while the test ran: stdlib records at DEBUG and what reached the terminal
    (Airflow's hooks log through structlog)."""
    caplog.set_level(logging.DEBUG)

    def read() -> str:
        out, err = capfd.readouterr()
        return caplog.text + out + err

    return read


def assert_no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"secrets in the log: {leaked}"


def beijing_time_in(text: str, before: datetime, after: datetime) -> str:
    """The Beijing time line's value; it must lie between ``before`` and ``after`` (UTC)."""
    found = TIME_LINE.search(text)
    assert found, text
    stamp = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    assert before.replace(microsecond=0) <= stamp <= after, (stamp, before, after)
    return found.group(1)


def failed_run_context(**overrides) -> dict:
    """What the DAG processor hands an on_failure_callback after a task failed (the parts we read)."""
    dag_id = "wms_order_push"
    context = {"dag": SimpleNamespace(dag_id=dag_id), "run_id": RUN_ID, "reason": "task_failure",
               "dag_run": SimpleNamespace(dag_id=dag_id, run_id=RUN_ID, run_type="scheduled"),
               "ti": SimpleNamespace(dag_id=dag_id, task_id="push", map_index=-1)}
    return {**context, **overrides}


def test_one_message_reaches_both_robots_in_their_formats(robots, alert_env, logs):
    alert_env(robots.dingtalk.url, robots.wecom.url, at_mobiles=["13800000000"])

    reached = send_alert("【WMS】测试 / test", ["第一行 / line 1", "第二行 / line 2"])

    assert reached == ["dingtalk", "wecom"]
    [ding] = robots.dingtalk.received
    assert (ding.path, ding.query, ding.content_type) == (
        "/robot/send", {"access_token": DINGTALK_TOKEN}, "application/json")
    assert ding.body == {
        "msgtype": "markdown",
        "markdown": {"title": "【WMS】测试 / test",
                     "text": "#### 【WMS】测试 / test\n\n第一行 / line 1\n\n第二行 / line 2\n\n@13800000000"},
        "at": {"atMobiles": ["13800000000"], "isAtAll": False},
    }
    [wecom] = robots.wecom.received
    assert (wecom.path, wecom.query, wecom.content_type) == (WECOM_PATH, {"key": WECOM_KEY}, "application/json")
    assert wecom.body == {"msgtype": "markdown",
                          "markdown": {"content": "## 【WMS】测试 / test\n第一行 / line 1\n第二行 / line 2"}}
    assert_no_secret(logs())


def test_signed_dingtalk_robot_gets_timestamp_and_sign(robots, alert_env):
    """A robot set to 加签: the connection's extra ``secret`` signs each request."""
    alert_env(robots.dingtalk.url, None, signed=True)

    before = int(time.time() * 1000)
    assert send_alert("t", ["x"]) == ["dingtalk"]
    after = int(time.time() * 1000)

    [ding] = robots.dingtalk.received
    assert set(ding.query) == {"access_token", "timestamp", "sign"}
    timestamp = int(ding.query["timestamp"])
    assert before <= timestamp <= after
    assert ding.query["sign"] == dingtalk_signature(DINGTALK_SECRET, timestamp)[1]


def test_failed_run_alert_names_dag_run_task_reason_time_and_link(robots, alert_env, monkeypatch):
    alert_env(robots.dingtalk.url, robots.wecom.url)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.shop.example/")

    before = datetime.now(timezone.utc)
    notify_failed_run(failed_run_context())
    after = datetime.now(timezone.utc)

    [ding], [wecom] = robots.dingtalk.received, robots.wecom.received
    at = beijing_time_in(wecom.body["markdown"]["content"], before, after)
    title = "【WMS】运行失败 / run failed: wms_order_push"
    lines = ["DAG: wms_order_push",
             f"运行 / run: {RUN_ID}",
             "类型 / run type: 定时 scheduled",
             "失败任务 / failed task: push",
             "原因 / reason: 任务失败 task_failure",
             f"北京时间 / Beijing time: {at}",
             "[查看运行 / open the run](https://airflow.shop.example/dags/wms_order_push/runs/"
             "scheduled__2026-11-30T06%3A00%3A00%2B00%3A00)"]
    assert wecom.body == {"msgtype": "markdown", "markdown": {"content": f"## {title}\n" + "\n".join(lines)}}
    assert ding.body == {"msgtype": "markdown",
                         "markdown": {"title": title, "text": f"#### {title}\n\n" + "\n\n".join(lines)},
                         "at": {"atMobiles": [], "isAtAll": False}}


def test_failed_run_alert_from_a_minimal_context(robots, alert_env):
    """A run that failed without a task to blame (dagrun_timeout): the DAG processor passes only
    the DAG, the run id and the reason; no base URL, no link."""
    alert_env(None, robots.wecom.url)

    notify_failed_run({"dag": SimpleNamespace(dag_id="wms_inventory_sync"),
                       "run_id": "manual__2026-11-30T01:02:03+00:00", "reason": "timed_out"})

    content = robots.wecom.received[0].body["markdown"]["content"]
    assert content.splitlines()[:5] == ["## 【WMS】运行失败 / run failed: wms_inventory_sync",
                                        "DAG: wms_inventory_sync",
                                        "运行 / run: manual__2026-11-30T01:02:03+00:00",
                                        "类型 / run type: 手动 manual",
                                        "原因 / reason: 运行超时 timed_out"]
    assert TIME_LINE.search(content.splitlines()[-1])
    assert "open the run" not in content


def test_an_error_in_the_context_is_one_line_without_secrets(robots, alert_env):
    """Passed as a task's on_failure_callback, the context also holds the exception."""
    alert_env(None, robots.wecom.url)
    error = RuntimeError("refused by http://wms.example/send?key=abc123&x=1\n  second line")

    notify_failed_run(failed_run_context(exception=error))

    lines = robots.wecom.received[0].body["markdown"]["content"].splitlines()
    assert "错误 / error: RuntimeError: refused by http://wms.example/send?key=***&x=1 second line" in lines


def test_needs_person_alert(robots, alert_env):
    alert_env(robots.dingtalk.url, robots.wecom.url)

    before = datetime.now(timezone.utc)
    reached = notify_needs_person(
        "cancels", 2, ["2026103100000102: refund after shipment: intercept or return the parcel"],
        run_id=RUN_ID, dag_id="wms_order_cancel")
    after = datetime.now(timezone.utc)

    assert reached == ["dingtalk", "wecom"]
    content = robots.wecom.received[0].body["markdown"]["content"]
    at = beijing_time_in(content, before, after)
    assert content == "\n".join([
        "## 【WMS】2 条需要人工处理 / 2 need a person: cancels",
        "流程 / flow: cancels",
        "新增待人工处理 / newly waiting for a person: 2",
        "- 2026103100000102: refund after shipment: intercept or return the parcel",
        "另有 1 条 / and 1 more",
        "DAG: wms_order_cancel",
        f"运行 / run: {RUN_ID}",
        f"北京时间 / Beijing time: {at}",
        "处理办法 / what to do: docs/operations.md",
    ])
    assert robots.dingtalk.received[0].body["markdown"]["title"] == "【WMS】2 条需要人工处理 / 2 need a person: cancels"


@pytest.mark.parametrize("failing", ["dingtalk", "wecom"])
@pytest.mark.parametrize("how", ["http_500", "not_listening", "robot_error"])
def test_a_failing_channel_neither_raises_nor_stops_the_other(failing, how, robots, alert_env, closed_url, logs,
                                                             caplog):
    bad = Robot(status=500, answer={"message": "internal error"}) if how == "http_500" else \
        Robot(answer={"errcode": 310000, "errmsg": "keywords not in content"}) if how == "robot_error" else None
    try:
        bad_url = closed_url if bad is None else bad.url
        good = robots.wecom if failing == "dingtalk" else robots.dingtalk
        if failing == "dingtalk":
            alert_env(bad_url, robots.wecom.url)
        else:
            alert_env(robots.dingtalk.url, bad_url)

        reached = send_alert("【WMS】测试 / test", ["x"])
        notify_failed_run(failed_run_context())  # a callback: returns, never raises
        notify_needs_person("orders", 1, ["A1: refused"], run_id=RUN_ID, dag_id="wms_order_push")

        assert reached == ["wecom" if failing == "dingtalk" else "dingtalk"]
        assert len(good.received) == 3
        if bad is not None:
            assert len(bad.received) == 3  # it was asked, and answered badly
        text = logs()
        # once per message (caplog), whether or not Airflow's logging also echoes it to the terminal
        warned = [r for r in caplog.records
                  if f"alert not sent to {failing} (connection alert_{failing})" in r.getMessage()]
        assert len(warned) == 3, text
        assert_no_secret(text)
    finally:
        if bad is not None:
            bad.close()


def test_both_channels_down_sends_nothing_and_raises_nothing(alert_env, closed_url, logs):
    alert_env(closed_url, closed_url)

    assert send_alert("t", ["x"]) == []
    assert notify_failed_run(failed_run_context()) is None
    assert notify_needs_person("orders", 3, [], run_id=RUN_ID, dag_id="wms_order_push") == []
    text = logs()
    assert "access_token=***" in text or "alert not sent to dingtalk" in text
    assert_no_secret(text)


def test_events_not_enabled_send_nothing(robots, alert_env):
    alert_env(robots.dingtalk.url, robots.wecom.url, events=["needs_person"])
    notify_failed_run(failed_run_context())
    assert robots.dingtalk.received == [] and robots.wecom.received == []

    alert_env(robots.dingtalk.url, robots.wecom.url, events=["failed_run"])
    assert notify_needs_person("orders", 5, ["A1: refused"], run_id=RUN_ID, dag_id="wms_order_push") == []
    assert robots.dingtalk.received == [] and robots.wecom.received == []

    alert_env(robots.dingtalk.url, robots.wecom.url)
    assert notify_needs_person("orders", 0, [], run_id=RUN_ID, dag_id="wms_order_push") == []
    assert robots.dingtalk.received == [] and robots.wecom.received == []


def test_no_channel_configured_does_nothing(robots, monkeypatch):
    monkeypatch.setenv(ENV_KEY, json.dumps({"alerts": {"events": ["failed_run", "needs_person"]}}))
    assert send_alert("t", ["x"]) == []
    notify_failed_run(failed_run_context())
    monkeypatch.delenv(ENV_KEY)
    assert send_alert("t", ["x"]) == []  # no settings at all: the defaults name no channel
    assert robots.dingtalk.received == [] and robots.wecom.received == []


def test_unreadable_settings_or_missing_connection_never_raise(robots, alert_env, monkeypatch, logs):
    monkeypatch.setenv(ENV_KEY, "{not json")
    assert send_alert("t", ["x"]) == []
    assert notify_failed_run(failed_run_context()) is None
    assert "settings not readable" in logs()

    alert_env(None, robots.wecom.url, dingtalk_conn_id="no_such_connection")
    assert send_alert("t", ["x"]) == ["wecom"]
    assert "alert not sent to dingtalk (connection no_such_connection)" in logs()


def test_a_wecom_connection_without_key_is_refused_before_sending(robots, alert_env, monkeypatch, logs):
    alert_env(None, robots.wecom.url)
    monkeypatch.setenv("AIRFLOW_CONN_ALERT_WECOM",
                       json.dumps({"conn_type": "http", "host": robots.wecom.url + WECOM_PATH}))
    assert send_alert("t", ["x"]) == []
    assert robots.wecom.received == []
    assert "has no robot key" in logs()


def test_long_messages_are_cut_to_what_the_robots_take(robots, alert_env):
    alert_env(robots.dingtalk.url, robots.wecom.url)
    samples = [f"20261130{i:08d}: 收件人地址无法识别 / address not recognised " + "很长" * 200 for i in range(40)]
    assert notify_needs_person("orders", 40, samples, run_id=RUN_ID, dag_id="wms_order_push") == ["dingtalk", "wecom"]
    assert len(robots.wecom.received[0].body["markdown"]["content"].encode()) <= 4096
    assert len(robots.dingtalk.received[0].body["markdown"]["text"].encode()) <= 20000


def test_importing_the_module_loads_no_airflow():
    """DAG files import it at parse time for the callback."""
    code = ("import sys, wmsbridge.alerts; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'requests', 'sqlalchemy'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("wecom_up", [True, False])
def test_the_test_command_reads_the_variable_and_says_what_it_reached(wecom_up, robots, alert_env, closed_url):
    """``python -m wmsbridge.alerts``, settings in the Variable (here as AIRFLOW_VAR_*, the first
    place Airflow looks), connections as AIRFLOW_CONN_*."""
    env = alert_env(robots.dingtalk.url, robots.wecom.url if wecom_up else closed_url)
    run_env = {**os.environ, "AIRFLOW_VAR_WMS_BRIDGE_CONFIG": env.pop(ENV_KEY), ENV_KEY: ""}

    done = subprocess.run([sys.executable, "-m", "wmsbridge.alerts"], env=run_env, capture_output=True,
                          text=True, timeout=120)

    assert done.returncode == (0 if wecom_up else 1), done.stdout + done.stderr[-3000:]
    verdicts = [line for line in done.stdout.splitlines() if line.startswith(("dingtalk:", "wecom:"))]
    assert verdicts == ["dingtalk: reached",
                                        "wecom: reached" if wecom_up else "wecom: NOT reached (see the warning above)"]
    assert robots.dingtalk.received[0].body["markdown"]["title"] == "【WMS】告警测试 / alert test"
    assert len(robots.wecom.received) == (1 if wecom_up else 0)
    assert not [s for s in SECRETS if s in done.stdout + done.stderr]


def test_the_test_command_without_channels(monkeypatch):
    run_env = {**os.environ, "AIRFLOW_VAR_WMS_BRIDGE_CONFIG": "{}", ENV_KEY: ""}
    done = subprocess.run([sys.executable, "-m", "wmsbridge.alerts"], env=run_env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "no alert channel configured" in done.stderr
