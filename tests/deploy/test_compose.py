"""docker-compose.yaml validates, wires the Celery deployment, and holds no secret of its own; its
Celery settings are celery.env's, the very file `make airflow EXECUTOR=celery` runs on.

No Docker engine runs on the build machines: `docker-compose config` checks the file the way the
engine would read it (interpolation, anchors, profiles, depends_on, env_file) without starting anything.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from urllib.parse import urlsplit

import pytest
import yaml

from wmsbridge_tools.localairflow import CELERY_ENV, local_celery_settings, read_env_file

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose")
needs_compose = pytest.mark.skipif(
    COMPOSE is None, reason="Debian's docker-compose package is not installed (.ci/services installs it)"
)
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker", "airflow-init", "wms-receiver")

SETTINGS = {
    "AIRFLOW_DB_PASSWORD": "db-pass-from-env-4711",
    "AIRFLOW_FERNET_KEY": "fernet-key-from-env-4711",
    "AIRFLOW_JWT_SECRET": "jwt-secret-from-env-4711",
    "WMS_BRIDGE_CONFIG": '{"profile": "litemall", "callback_token": "token-from-env-4711"}',
    "AIRFLOW_CONN_SHOP_DB": "mysql://shop:shop-pass-4711@demo-shop:3306/shop",
    "AIRFLOW_CONN_QIMEN_DEFAULT": '{"conn_type": "qimen", "host": "http://www.jxwms.net/api/v2/openapi/wms/wmsnotify/9"}',
}


def compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    return subprocess.run(
        [COMPOSE, "-f", str(ROOT / "docker-compose.yaml"), *args], cwd=ROOT, env={**clean, **env},
        capture_output=True, text=True, timeout=120,
    )


@needs_compose
def test_the_compose_file_validates_with_every_profile():
    for profiles in ([], ["demo-shop", "simulator", "receiver"]):
        flags = [f"--profile={p}" for p in profiles]
        done = compose(*flags, "config", "-q", env=SETTINGS)
        assert done.returncode == 0, done.stderr


@needs_compose
def test_it_is_a_celery_deployment_with_the_official_layout():
    done = compose("--profile=receiver", "config", env=SETTINGS)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    for name in ("postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                 "airflow-triggerer", "airflow-worker", "airflow-init", "wms-receiver"):
        assert name in services, name
    worker = services["airflow-worker"]
    assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert worker["environment"]["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert "celery worker" in " ".join(worker["command"]) if isinstance(worker["command"], list) \
        else "celery worker" in worker["command"]
    # the project is installed in the image built from the Dockerfile on the official Airflow image
    assert services["airflow-scheduler"]["build"]["context"] == str(ROOT)
    assert (ROOT / "Dockerfile").read_text().split("ARG AIRFLOW_IMAGE=")[1].startswith("apache/airflow:")
    # the receiver is reachable from outside: the api-server's port, and its own service
    assert any("8080" in str(p) for p in services["airflow-apiserver"]["ports"])
    assert any("8711" in str(p) for p in services["wms-receiver"]["ports"])
    # the store is migrated once per deploy, by the init service
    assert "wmsbridge.store upgrade" in " ".join(services["airflow-init"]["command"])


@needs_compose
def test_secrets_come_from_the_environment_and_a_missing_one_is_named():
    done = compose("config", "-q", env={k: v for k, v in SETTINGS.items() if k != "AIRFLOW_CONN_QIMEN_DEFAULT"})
    assert done.returncode != 0
    assert "AIRFLOW_CONN_QIMEN_DEFAULT" in done.stderr

    raw = (ROOT / "docker-compose.yaml").read_text(encoding="utf-8")
    rendered = compose("config", env=SETTINGS).stdout
    for value in SETTINGS.values():
        assert value not in raw
    assert "db-pass-from-env-4711" in rendered  # it did come from the environment
    # no literal password, secret or token value in the file itself
    keys = re.compile(r"^\s*(\w*(?:PASSWORD|SECRET|TOKEN|FERNET)\w*):\s*(.+)$", re.MULTILINE)
    values = {m.group(1): m.group(2).strip() for m in keys.finditer(raw)}
    assert values, "the pattern should see the secret-carrying keys"
    literal = {k: v for k, v in values.items() if not v.strip('"').startswith("${") and v != '"yes"'}
    assert not literal


@needs_compose
def test_every_airflow_service_runs_on_the_shared_celery_settings():
    """celery.env, as the launcher reads it, is what every Airflow container gets; the compose file
    names it once (x-airflow-common) and overrides none of it."""
    shared = read_env_file()
    done = compose("--profile=receiver", "config", env=SETTINGS)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    for name in AIRFLOW_SERVICES:
        environment = services[name]["environment"]
        assert {k: str(environment.get(k)) for k in shared} == shared, name
    raw = yaml.safe_load((ROOT / "docker-compose.yaml").read_text(encoding="utf-8"))
    assert raw["x-airflow-common"]["env_file"] == [CELERY_ENV.name]
    for where, environment in [("x-airflow-common", raw["x-airflow-common"]["environment"]),
                               *((name, raw["services"][name].get("environment") or {}) for name in AIRFLOW_SERVICES)]:
        assert not set(shared) & set(environment), f"{where} sets {sorted(set(shared) & set(environment))} itself"
    # the result backend holds the password: compose builds it from the environment, in the metadata database
    backend = services["airflow-worker"]["environment"]["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert backend == "db+" + services["airflow-worker"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace(
        "postgresql+psycopg2", "postgresql")


def test_the_shared_celery_settings_file():
    """Literal KEY=VALUE lines (compose reads an env_file without interpolation), no secret, the
    Celery executor on Redis, and the rate limit every worker machine shares on a Redis db of its own."""
    shared = read_env_file()
    assert not [v for v in shared.values() if "$" in v or v[:1] in "\"'" or v != v.strip()]
    assert not [k for k in shared if re.search(r"PASSWORD|SECRET|TOKEN|FERNET|RESULT_BACKEND|SQL_ALCHEMY", k)]
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", k) for k in shared)
    assert shared["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    broker, limit = urlsplit(shared["AIRFLOW__CELERY__BROKER_URL"]), urlsplit(shared["WMS_RATE_LIMIT_URL"])
    assert (broker.scheme, broker.hostname, limit.scheme, limit.hostname) == ("redis", "redis", "redis", "redis")
    assert re.fullmatch(r"/\d+", limit.path) and re.fullmatch(r"/\d+", broker.path)
    assert limit.path != broker.path, "the rate limit keeps a db of its own, apart from the broker's queues"
    assert {k for k in shared if k.startswith("AIRFLOW__CELERY__")} >= {"AIRFLOW__CELERY__BROKER_URL"}


def test_the_local_layout_reads_the_same_file_with_local_hosts():
    shared, local = read_env_file(), local_celery_settings()
    assert local.keys() == shared.keys()
    for key, value in shared.items():
        assert local[key] == value.replace("//redis:", "//127.0.0.1:"), key
    assert local["WMS_RATE_LIMIT_URL"].startswith("redis://127.0.0.1:6379/")
