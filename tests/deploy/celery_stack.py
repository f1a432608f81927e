"""`make airflow EXECUTOR=celery` for a test: the Celery layout on its own throwaway metadata database,
Redis dbs of its own, free ports, and the REST client of tests/airflow_stack.py (``LocalAirflow``).

Test modules import it by name (tests/deploy is on sys.path when pytest collects them).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_stack import LocalAirflow, free_port
from wmsbridge_tools.localairflow import session_processes

ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379"
# The layout's own dbs are celery.env's (1, 2); the rate limiter's tests use 15. A test stack claims
# two empty ones in between, so it never shares a broker queue with a `make airflow` running beside it.
FREE_DBS = range(14, 2, -1)
CLAIM = "wms-test-claimed-by"
START_TIMEOUT = 420  # a cold start on a busy 2-core machine: migrate, shop, five components, two workers


@dataclass
class WorkerMachine:
    """One Celery worker as workers.json names it: a session of its own, as if a machine of its own."""

    name: str
    hostname: str
    pid: int
    sid: int
    folder: Path

    def members(self) -> list[int]:
        """Pids of its session that still run. The session, not the process group: the Task SDK puts
        each task runner in a group of its own."""
        return session_processes(self.sid)

    def alive(self) -> bool:
        return bool(self.members())

    def kill(self) -> None:
        """The machine is gone: SIGKILL to every process of its session (worker, pool, task
        supervisors, task runners in their own groups), nothing told, nothing cleaned up."""
        for _ in range(20):  # again, until a fork in progress has nothing left to come back to
            pids = self.members()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def gone(self, timeout: float = 10) -> bool:
        """True once none of its processes runs (within ``timeout`` s: a SIGKILLed process takes a moment)."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True


@dataclass
class CeleryAirflow:
    airflow: LocalAirflow
    broker_url: str
    rate_limit_url: str

    @property
    def state(self) -> Path:
        return self.airflow.home / "local"

    def workers(self) -> list[WorkerMachine]:
        return [WorkerMachine(w["name"], w["hostname"], w["pid"], w["sid"], Path(w["folder"]))
                for w in json.loads((self.state / "workers.json").read_text())]

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Unpause and trigger; the run id (not waited for)."""
        self.airflow.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
        created = self.airflow.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None,
                                                                                 "conf": conf or {}})
        created.raise_for_status()
        return created.json()["dag_run_id"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        answer = self.airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        answer.raise_for_status()
        return answer.json()["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = 0):
        """A task's return value (the flows return their run report)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        answer = self.airflow.api("GET", path, params={"map_index": map_index, "deserialize": True})
        answer.raise_for_status()
        value = answer.json()["value"]
        return json.loads(value) if isinstance(value, str) else value

    def secret(self, name: str) -> str:
        return json.loads((self.state / "secrets.json").read_text())[name]


@contextmanager
def redis_dbs(count: int, marker: str) -> Iterator[list[int]]:
    """``count`` empty Redis dbs, claimed for this test (a key only it sets) and flushed after it.
    Skips, saying why, when Redis does not answer."""
    try:
        import redis
    except ImportError as err:
        pytest.skip(f"redis-py is not installed ({err}): requirements-dev.txt")
    claimed: list = []
    try:
        for db in FREE_DBS:
            client = redis.Redis.from_url(f"{REDIS}/{db}", socket_connect_timeout=3, socket_timeout=10)
            try:
                if client.dbsize() == 0 and client.set(CLAIM, marker, nx=True, ex=3600):
                    claimed.append(client)
                    if len(claimed) == count:
                        break
                    continue
            except redis.RedisError as err:
                client.close()
                pytest.skip(f"Redis at {REDIS} does not answer ({err}); .ci/services starts it")
            client.close()
        if len(claimed) < count:
            pytest.skip(f"no {count} empty Redis dbs among {FREE_DBS.stop + 1}..{FREE_DBS.start} at {REDIS}")
        yield [c.connection_pool.connection_kwargs["db"] for c in claimed]
    finally:
        for client in claimed:
            try:
                client.flushdb()
            finally:
                client.close()


@contextmanager
def celery_airflow(tmp: Path, db_url: str, *, orders: int, extra_env: dict[str, str]) -> Iterator[CeleryAirflow]:
    """``make airflow EXECUTOR=celery`` started as a person would (its own session, Ctrl-C at the end),
    on the metadata database ``db_url``, a demo shop of ``orders`` orders and a simulator that ships
    nothing by itself (the test ships); ``extra_env`` on top (timeouts, concurrency)."""
    home, output, marker = tmp / "home", tmp / "make-airflow.out", f"test-{secrets.token_hex(6)}"
    with redis_dbs(2, marker) as (broker_db, limit_db):
        port = free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "WMS_"))}
        broker, limit = f"{REDIS}/{broker_db}", f"{REDIS}/{limit_db}"
        env.update({
            "AIRFLOW_HOME": str(home),
            "WMS_AIRFLOW_DB_URL": db_url,
            "WMS_LOCAL_AIRFLOW": marker,
            # celery.env's settings with the test's own Redis dbs (the environment wins over the file)
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "WMS_RATE_LIMIT_URL": limit,
            "WMS_RETRY_DELAY_SECONDS": "1",
            # No scheduled or asset-triggered runs: the test's runs are the ones it starts.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            **extra_env,
        })
        args = f"--port {port} --simulator-port 0 --orders {orders} --ship-after 0"
        with output.open("w") as out:
            process = subprocess.Popen(
                ["make", "--no-print-directory", "airflow", "EXECUTOR=celery", f"AIRFLOW_ARGS={args}"], cwd=ROOT,
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        airflow = LocalAirflow(process, home, f"http://127.0.0.1:{port}", marker, output, env, db_url)
        stack = CeleryAirflow(airflow, env["AIRFLOW__CELERY__BROKER_URL"], env["WMS_RATE_LIMIT_URL"])
        try:
            airflow.wait_up(START_TIMEOUT, "make airflow EXECUTOR=celery")
            yield stack
        finally:
            airflow.stop()
            for worker in (stack.workers() if (stack.state / "workers.json").exists() else []):
                if worker.alive():  # never left behind, whatever the test did
                    worker.kill()


def worker_tail(stack: CeleryAirflow, lines: int = 30) -> str:
    """The end of each worker's own log, for a failure message."""
    out = []
    for worker in stack.workers():
        log = worker.folder / "worker.log"
        text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else ["(no log)"]
        out.append(f"--- {worker.hostname} ({log})\n" + "\n".join(text))
    return "\n".join(out)
