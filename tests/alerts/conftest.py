"""Fixtures of the alert tests: two local robots, and the Airflow connections and bridge settings
pointing at them (environment variables, as a deployment sets them)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from alert_robots import DINGTALK_SECRET, DINGTALK_TOKEN, WECOM_KEY, WECOM_PATH, Robot

from wmsbridge.config import ENV_KEY


@pytest.fixture
def robots():
    """``robots.dingtalk`` and ``robots.wecom``: two local robots answering success."""
    pair = SimpleNamespace(dingtalk=Robot(), wecom=Robot())
    yield pair
    pair.dingtalk.close()
    pair.wecom.close()


@pytest.fixture
def closed_url():
    """An address where nothing listens (a port just released)."""
    robot = Robot()
    url = robot.url
    robot.close()
    return url


@pytest.fixture
def alert_env(monkeypatch):
    """``alert_env(dingtalk_url, wecom_url, signed=False, **alerts)``: the two connections as
    AIRFLOW_CONN_* variables and WMS_BRIDGE_CONFIG naming them; returns the environment it set."""

    def point(dingtalk_url: str | None, wecom_url: str | None, *, signed: bool = False, **alerts) -> dict:
        env = {}
        if dingtalk_url:
            env["AIRFLOW_CONN_ALERT_DINGTALK"] = json.dumps(
                {"conn_type": "dingding", "host": dingtalk_url, "password": DINGTALK_TOKEN,
                 **({"extra": {"secret": DINGTALK_SECRET}} if signed else {})})
            alerts.setdefault("dingtalk_conn_id", "alert_dingtalk")
        if wecom_url:
            env["AIRFLOW_CONN_ALERT_WECOM"] = json.dumps(
                {"conn_type": "http", "host": wecom_url + WECOM_PATH, "password": WECOM_KEY})
            alerts.setdefault("webhook_conn_id", "alert_wecom")
        env[ENV_KEY] = json.dumps({"alerts": alerts})
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return env

    return point
