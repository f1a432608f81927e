"""A local Airflow started by ``make airflow`` (``wmsbridge_tools.localairflow``), seen from a test:
its REST API, runs, the processes it left, Ctrl-C. Used by tests/airflow_local (LocalExecutor) and
tests/deploy (the Celery layout)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
UP = re.compile(r"Airflow is up: (\S+)/ ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalAirflow:
    process: subprocess.Popen
    home: Path
    base: str
    marker: str
    output: Path
    env: dict[str, str] = field(repr=False)  # what `make airflow` was started with
    db_url: str = field(repr=False)         # its metadata database
    _token: str | None = field(default=None, repr=False)

    def password(self, user: str = "admin") -> str:
        return json.loads((self.home / "local" / "passwords.json").read_text())[user]

    def token(self, user: str = "admin") -> str:
        if self._token is None or user != "admin":
            answer = requests.post(f"{self.base}/auth/token", json={"username": user, "password": self.password(user)},
                                   timeout=30)
            answer.raise_for_status()
            if user != "admin":
                return answer.json()["access_token"]
            self._token = answer.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, *, user: str = "admin", **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(user)}", **kw.pop("headers", {})}
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=60, **kw)

    def airflow_env(self) -> dict[str, str]:
        """The environment the launcher gives Airflow's components (same home, metadata database,
        settings): for a process of the test that must act inside this Airflow."""
        from unittest import mock

        from wmsbridge_tools.localairflow import airflow_env

        keys = json.loads((self.home / "local" / "secrets.json").read_text())
        with mock.patch.dict(os.environ, self.env, clear=True):
            return airflow_env(self.home, self.home / "local", self.db_url, int(self.base.rsplit(":", 1)[1]), keys)

    def airflow_python(self, script: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run ``script`` with this Airflow's Python and environment; its output, checked."""
        done = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, env=self.airflow_env(),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{script.name} {args}: exit {done.returncode}\n{done.stderr[-4000:]}"
        return done

    def wait_for_dags(self, dag_ids: set[str], timeout: float = 240) -> set[str]:
        deadline, listed = time.monotonic() + timeout, set()
        while time.monotonic() < deadline:
            answer = self.api("GET", "/api/v2/dags", params={"limit": 100})
            listed = {d["dag_id"] for d in answer.json().get("dags", [])}
            if dag_ids <= listed:
                return listed
            time.sleep(3)
        return listed

    def run_dag(self, dag_id: str, conf: dict | None = None, timeout: float = 300) -> dict:
        """Unpause, trigger with ``conf`` and wait for the run to finish; the run's JSON."""
        self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
        created = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        created.raise_for_status()
        return self.wait_run(dag_id, created.json()["dag_run_id"], timeout)

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{requests.utils.quote(run_id, safe='')}").json()
            if run.get("state") in ("success", "failed"):
                return run
            time.sleep(2)
        raise AssertionError(f"{dag_id} {run_id} did not finish within {timeout} s")

    def wait_up(self, timeout: float, what: str = "make airflow") -> None:
        """Until the launcher says Airflow is up; the test fails with its output's tail if it exits
        or ``timeout`` passes first."""
        import pytest

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if UP.search(self.output.read_text(errors="replace")):
                return
            time.sleep(1)
        pytest.fail(f"{what} did not come up:\n{self.output.read_text(errors='replace')[-4000:]}")

    def leftovers(self) -> list[int]:
        from wmsbridge_tools.localairflow import processes_with_marker

        return processes_with_marker(self.marker)

    def stop(self, timeout: float = 120) -> int:
        """Ctrl-C as a terminal sends it: SIGINT to the whole process group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                raise
        return self.process.returncode
