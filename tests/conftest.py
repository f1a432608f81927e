"""Suite-wide setup: a project-local Airflow home, so tests never touch ~/airflow.

env.sh sets the same variables for `make test`; these defaults make a bare `pytest` behave alike.
Under pytest-xdist (`make test` runs several workers) each worker gets its own copy of the SQLite
metadata DB and its own task-log folder: see ``worker_airflow_metadata``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # shared test helpers: `from databases import throwaway_database`

os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / ".airflow" / "plugins"))  # see env.sh
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault(
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{ROOT / '.airflow' / 'airflow.db'}"
)


def worker_airflow_metadata() -> Path | None:
    """An xdist worker's own copy of the project's SQLite metadata DB (``make airflow-home``) and
    its own log folder, in a temporary folder; None outside xdist or on a server database.

    Tests run DAGs through Airflow (``dag.test``, ``airflow dags test``): on one shared file the
    workers would wait on SQLite's single writer and record runs of the same DAG and logical date
    under the same run id. Set before anything imports Airflow, which reads it once."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if not worker or not url.startswith("sqlite:///"):
        return None
    project_db = Path(url.removeprefix("sqlite:///"))
    folder = Path(tempfile.mkdtemp(prefix=f"wms-airflow-{worker}-"))
    copy = folder / "airflow.db"
    if project_db.exists():  # the backup API: a consistent copy even of a file in use
        source, target = sqlite3.connect(project_db), sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{copy}"
    os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(folder / "logs")
    return folder


WORKER_AIRFLOW = worker_airflow_metadata()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """On an xdist worker: the ``slow`` tests first (a stable sort, the same on every worker), so the
    scheduler hands out the minutes-long ones while the others can still fill the gaps, instead of
    one of them ending the run alone.

    Under ``--dist loadgroup`` xdist marks a grouped test by suffixing its node id with the group;
    a pytest it does not know (pytest-dev/pytest-xdist#1386) drops that silently, and grouped tests
    would share nothing. Fail the run instead."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if not getattr(config.option, "loadgroup", False):
        return
    lost = [i.nodeid for i in items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
    if lost:
        raise pytest.UsageError(f"--dist loadgroup lost the xdist_group of {len(lost)} tests (e.g. {lost[0]}):"
                                " this pytest-xdist does not group on this pytest (requirements.in)")


def pytest_unconfigure(config):
    if WORKER_AIRFLOW is not None:
        shutil.rmtree(WORKER_AIRFLOW, ignore_errors=True)


pytest_plugins = ["wms_simulator.pytest_plugin"]
