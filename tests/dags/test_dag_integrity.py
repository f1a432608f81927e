"""Every DAG file imports cleanly and carries the settings production needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
SENTINEL_MAX_ACTIVE_RUNS = 987654  # what a DAG gets when it does not set max_active_runs itself


@pytest.fixture(scope="module")
def report() -> dict:
    env = dict(os.environ, AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG=str(SENTINEL_MAX_ACTIVE_RUNS))
    out = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("parse_dags.py")), str(DAGS)],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nparsed {len(data['dags'])} DAGs from {DAGS} in {data['parse_s']:.3f} s "
          f"(Airflow import {data['airflow_import_s']:.3f} s)")
    return data


def dag_files() -> list[Path]:
    return sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))


# How long the folder takes to parse is printed above and measured by `make bench` (dag_parse_s),
# never asserted: a timed assertion fails on a busy machine and proves nothing on an idle one.
def test_every_dag_file_imports_without_errors(report):
    assert dag_files(), "dags/ is empty"
    assert report["import_errors"] == {}
    loaded = {Path(f).name for f in report["files"]}
    assert {p.name for p in dag_files()} <= loaded, "a file in dags/ defines no DAG"


def test_every_dag_has_an_owner(report):
    for dag_id, dag in report["dags"].items():
        assert dag["owner"] and dag["owner"] != "airflow", dag_id
        assert set(dag["task_owners"].values()) == {dag["owner"]}, dag_id


def test_every_dag_has_tags(report):
    for dag_id, dag in report["dags"].items():
        assert dag["tags"], dag_id


def test_every_task_retries_at_least_twice(report):
    for dag_id, dag in report["dags"].items():
        low = {t: r for t, r in dag["task_retries"].items() if r < 2}
        assert not low, f"{dag_id}: tasks with retries < 2: {low}"


def test_every_dag_sets_max_active_runs(report):
    for dag_id, dag in report["dags"].items():
        assert dag["max_active_runs"] != SENTINEL_MAX_ACTIVE_RUNS, f"{dag_id} does not set max_active_runs"


def _task_functions(path: Path):
    """The functions decorated with ``@task`` in a DAG file."""
    import ast

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and any(
                "task" in ast.unparse(d).split("(")[0] for d in node.decorator_list):
            yield node


def test_every_task_reads_its_run_only_inside_run_flow():
    """A task body is one call of ``wmsbridge.pipelines.tasks``: the trigger form is read inside
    run_flow (a wrong value fails at once, no retries), and the live switch applies. Only the
    asset publishers, which read the report the task returned, are wired differently."""
    import ast

    from wmsbridge.pipelines import tasks

    for path in dag_files():
        for fn in _task_functions(path):
            if fn.name == "publish":
                assert [a.arg for a in fn.args.args] == ["reports", "outlet_events"], path.name
                continue
            statements = [s for s in fn.body if not isinstance(s, (ast.Import, ast.ImportFrom))
                          and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            # a flow task takes its bridge (it is mapped over the bridges) and nothing else
            assert [a.arg for a in fn.args.args] in ([], ["bridge_id"]) and not fn.args.kwonlyargs, \
                f"{path.name}:{fn.name} takes context arguments"
            assert len(statements) == 1 and isinstance(statements[0], ast.Return), f"{path.name}:{fn.name}"
            call = statements[0].value
            assert isinstance(call, ast.Call) and not call.args and ast.unparse(call.func).startswith("tasks."), \
                f"{path.name}:{fn.name} does not call wmsbridge.pipelines.tasks"
            assert [ast.unparse(k) for k in call.keywords] == [f"{a.arg}={a.arg}" for a in fn.args.args], \
                f"{path.name}:{fn.name} does not hand its bridge on"
            assert callable(getattr(tasks, ast.unparse(call.func).split(".", 1)[1])), f"{path.name}:{fn.name}"


def test_every_dag_alerts_on_failure_and_never_catches_up(report):
    for dag_id, dag in report["dags"].items():
        assert dag["on_failure"] == ["wmsbridge.alerts.notify_failed_run"], dag_id
        assert dag["catchup"] is False, dag_id


def test_every_flow_dag_maps_its_flow_task_over_the_bridges_read_at_run_time(report):
    """One task per configured bridge (dynamic task mapping over what the ``bridges`` task reads
    inside the run, never at parse time); only the connection check is per connection."""
    for dag_id, dag in report["dags"].items():
        if dag_id == "wms_connection_check":
            assert dag["mapped"] == [], dag_id
            continue
        flow_tasks = [t for t in dag["upstream"] if t not in ("bridges", "publish")]
        assert dag["mapped"] == flow_tasks and len(flow_tasks) == 1, dag_id
        assert dag["upstream"][flow_tasks[0]] == ["bridges"] and dag["upstream"]["bridges"] == [], dag_id
