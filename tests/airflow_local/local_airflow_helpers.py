"""What the tests of this folder share besides fixtures: the repository root, the DAG ids the local
Airflow must list, where its demo shop lives, and the mark that keeps them on one xdist worker.

Test modules import it by name, never ``from conftest``: pytest imports every folder's conftest.py
under that same name, so which one ``conftest`` means depends on what was collected last.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Every test module here carries it: under pytest-xdist (make test) the folder's tests run on ONE
# worker, in file order, sharing one local Airflow (started once, stopped by the last test) instead
# of one Airflow per worker.
ONE_AIRFLOW = pytest.mark.xdist_group("local_airflow")


def expected_dag_ids() -> set[str]:
    return {m for f in (ROOT / "dags").glob("*.py")
            for m in re.findall(r'dag_id="([^"]+)"', f.read_text(encoding="utf-8"))}


def shop_file(local_airflow) -> Path:
    return local_airflow.home / "demo" / "shop.sqlite"
