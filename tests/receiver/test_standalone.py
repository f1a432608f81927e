"""``python -m wmsbridge.receiver`` refuses to start, saying what to run, when it must not run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from receivers import TOKEN

from wmsbridge.store.migrate import downgrade, upgrade


pytestmark = pytest.mark.timeout(600)  # each test starts a Python process that imports Airflow


def start(env_changes: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_changes}
    return subprocess.run([sys.executable, "-m", "wmsbridge.receiver", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    return url, {"AIRFLOW_CONN_SHOP_DB": json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": url}})}


def test_no_token_no_start(store):
    url, env = store
    upgrade(url)
    done = start({**env, "WMS_BRIDGE_CONFIG": "{}"})
    assert done.returncode == 2
    assert "callback_token is not set: the receiver never runs open" in done.stderr
    assert "secrets.token_urlsafe" in done.stderr


def test_store_not_at_this_revision_no_start(store):
    url, env = store
    upgrade(url)
    downgrade(url, "0001_create_store")
    done = start({**env, "WMS_BRIDGE_CONFIG": json.dumps({"callback_token": TOKEN})})
    assert done.returncode == 2
    assert "python -m wmsbridge.store upgrade" in done.stderr and "0001_create_store" in done.stderr
    assert TOKEN not in done.stderr + done.stdout
