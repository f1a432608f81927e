"""The store is migrated once, by a deploy step; tasks only check its revision.

A task against a store that is not at this code's revision fails at once (no Airflow retries),
saying what to run; ``python -m wmsbridge.store upgrade`` (what ``make migrate`` runs) reads the
configured Airflow connection; afterwards task logs carry no Alembic lines.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bridge_helpers import OWNER, WAREHOUSE, run_dag

from wmsbridge.store import migrate


def store_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wmsbridge.store", *args], env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def test_tasks_check_the_revision_and_the_deploy_step_migrates(make_shop, bridge_env, wms_simulator_factory, capsys):
    shop = make_shop("sqlite", "reference", orders=10, skus=4, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    bridge_env(shop, sim)
    migrate.downgrade(shop.engine, "base")  # a deploy that forgot the step
    capsys.readouterr()

    assert run_dag("wms_item_sync").state == "failed"
    out = capsys.readouterr().out
    assert "is at revision none (never created)" in out and "make migrate" in out
    assert "attempt 2" not in out.lower() and migrate.current_revision(shop.engine) is None  # no task ran DDL
    assert not sim.admin.items()

    done = store_cli("current", "--conn-id", "shop_db")
    assert (done.returncode, done.stdout.strip()) == (0, "none"), done.stderr
    done = store_cli("upgrade")  # `make migrate`: the connection the bridge settings name
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"at {migrate.head_revision()}")
    assert migrate.current_revision(shop.engine) == migrate.head_revision()

    assert run_dag("wms_item_sync").state == "success"
    out = capsys.readouterr().out
    assert "alembic" not in out.lower(), [line for line in out.splitlines() if "alembic" in line.lower()]
    assert sim.admin.items()


def test_the_deploy_step_names_a_connection_that_does_not_exist():
    done = store_cli("upgrade", "--conn-id", "no_such_store")
    assert done.returncode == 2 and "no_such_store" in done.stderr
