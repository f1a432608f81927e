"""Real HTTP receivers for tests: the FastAPI app in a uvicorn thread, or the standalone
``python -m wmsbridge.receiver`` / ``airflow api-server`` as subprocesses on free ports.

Any test module imports it (tests/conftest.py puts tests/ on sys.path)::

    from receivers import SAMPLE, ThreadedReceiver, Subprocess
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from databases import BACKENDS, throwaway_database

from wmsbridge.config import BridgeConfig
from wmsbridge.receiver.app import create_app
from wmsbridge.receiver.composition import build_receiver
from wmsbridge.store.engine import create_store_engine
from wmsbridge.store.migrate import upgrade
from wmsbridge.store.schema import exchange_log, shipment_inbox, shipment_package

ROOT = Path(__file__).resolve().parent.parent
# Juxing's own deliveryorder.confirm sample from the integration note, byte for byte.
SAMPLE = (ROOT / "tests" / "protocol" / "fixtures" / "confirm_request.xml").read_bytes()
TOKEN = "test-token-0123456789abcdef"
CUSTOMER = "82073683308314625"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedReceiver:
    """``with ThreadedReceiver(app) as r: httpx.post(r.url(...))``: the app on a real socket."""

    def __init__(self, app, prefix: str = "/wms") -> None:
        import uvicorn
        from fastapi import FastAPI

        root = FastAPI()
        root.mount(prefix, app)
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def url(self, token: str | None = TOKEN, path: str = "/wms/qimen/callback", **params) -> str:
        query = {**({"token": token} if token is not None else {}), **params}
        return str(httpx.URL(f"http://127.0.0.1:{self.port}{path}", params=query))

    def __enter__(self) -> ThreadedReceiver:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the receiver thread did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Subprocess:
    """A server subprocess (stdout and stderr to one file), stopped on exit."""

    def __init__(self, args: list[str], env: dict, log_path: Path, health_url: str, timeout: float = 120) -> None:
        self.args, self.env, self.log_path, self.health_url, self.timeout = args, env, log_path, health_url, timeout
        self.proc: subprocess.Popen | None = None

    @property
    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Subprocess:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args[:3]} exited with {self.proc.returncode}:\n{self.output[-4000:]}")
            try:
                if httpx.get(self.health_url, timeout=2).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"{self.args[:3]} not healthy after {self.timeout} s:\n{self.output[-4000:]}")
            time.sleep(0.5)

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=10)
        self._log.close()


def standalone_receiver(env: dict, log_path: Path) -> Subprocess:
    port = free_port()
    proc = Subprocess([sys.executable, "-m", "wmsbridge.receiver", "--host", "127.0.0.1", "--port", str(port)],
                      env, log_path, f"http://127.0.0.1:{port}/wms/health")
    proc.base_url = f"http://127.0.0.1:{port}"
    return proc


# --- fixtures: import them by name into a test module (they are wanted in a few folders only, and
# tests import helpers by module name, never `from conftest`) ---------------------------------------



@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path, monkeypatch):
    with throwaway_database(request.param, tmp_path, prefix="rcv") as url:
        engine = create_store_engine(url)
        upgrade(engine)
        engine.dispose()
        rendered = url.render_as_string(hide_password=False)
        monkeypatch.setenv("AIRFLOW_CONN_SHOP_DB", json.dumps(
            {"conn_type": "generic", "extra": {"sqlalchemy_url": rendered}}))
        yield rendered


@pytest.fixture
def receiver(store_url):
    """``receiver(**config)`` -> a started ThreadedReceiver built by the real composition."""
    started = []

    def start(**config):
        settings = BridgeConfig.from_mapping({"callback_token": TOKEN, "callback_customer_id": CUSTOMER, **config})
        running = ThreadedReceiver(create_app(receiver=build_receiver(settings))).__enter__()
        started.append(running)
        return running

    yield start
    for running in started:
        running.__exit__(None, None, None)


@pytest.fixture
def tables(store_url):
    """Read the store's inbox, packages and exchange log."""
    engine = create_store_engine(store_url)

    class Tables:
        def rows(self, table) -> list[dict]:
            with engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.id))]

        def inbox(self):
            return self.rows(shipment_inbox)

        def packages(self):
            return self.rows(shipment_package)

        def exchanges(self):
            return self.rows(exchange_log)

    yield Tables()
    engine.dispose()
