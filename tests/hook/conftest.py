"""Fixtures for the hook tests: a scripted loopback server and ``qimen`` connections from env vars."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest
from hook_test_values import APP_KEY, APP_SECRET, CUSTOMER_ID, FAST_RETRIES, OWNER_CODE, WAREHOUSE_CODE
from scripted_server import ScriptedServer

from qimen_provider.hooks.qimen import QimenHook


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def qimen_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define a ``qimen`` connection as ``AIRFLOW_CONN_<ID>`` JSON; returns its conn id."""
    counter = iter(range(1_000_000))

    def define(base_url: str, conn_id: str | None = None, **extra: object) -> str:
        conn_id = conn_id or f"qimen_test_{next(counter)}"
        extras = {
            "customer_id": CUSTOMER_ID,
            "owner_code": OWNER_CODE,
            "warehouse_code": WAREHOUSE_CODE,
            "connect_timeout": 2,
            "read_timeout": 2,
            "max_requests_per_second": 0,
        }
        extras.update(extra)
        conn = {"conn_type": "qimen", "host": base_url, "login": APP_KEY, "password": APP_SECRET, "extra": extras}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    return define


@pytest.fixture
def make_hook(server: ScriptedServer, qimen_conn: Callable[..., str]) -> Callable[..., QimenHook]:
    """A hook on a fresh connection to ``server``; extras and hook kwargs may be overridden."""
    hooks: list[QimenHook] = []

    def make(max_retries: int = 3, **extra: object) -> QimenHook:
        hook = QimenHook(qimen_conn(server.base_url, **extra), max_retries=max_retries, **FAST_RETRIES)
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog
