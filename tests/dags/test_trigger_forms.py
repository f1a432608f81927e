"""Triggers never surprise: manual options live in unscheduled DAGs, and every form field says in
English and Chinese what it does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def dags():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def test_scheduled_dags_have_no_manual_options(dags):
    """Unpausing a scheduled DAG to trigger it also starts its schedule: such DAGs take no options."""
    for dag_id, dag in dags.items():
        if dag.timetable.can_be_scheduled:
            assert not dag.params, f"{dag_id} is scheduled and has trigger options {sorted(dag.params)}"


def test_the_manual_push_is_unscheduled_and_previews_by_default(dags):
    dag = dags["wms_order_push_manual"]
    assert not dag.timetable.can_be_scheduled
    assert dag.params["dry_run"] is True
    for name in ("paid_from_date", "paid_to_date"):
        assert dag.params.get_param(name).schema["format"] == "date"  # a date picker, not a UTC datetime one


def test_every_field_has_bilingual_help(dags):
    for dag_id, dag in dags.items():
        for name, param in dag.params.items():
            title = param.schema.get("title", "")
            assert param.description and HAN.search(param.description) and re.search("[A-Za-z]", param.description), \
                f"{dag_id}.{name}: help text in English and Chinese"
            assert HAN.search(title) and re.search("[A-Za-z]", title), f"{dag_id}.{name}: title in English and Chinese"
