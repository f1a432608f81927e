"""Parse the whole dags/ folder in a fresh interpreter and print a JSON report.

Run as a subprocess so the parse time is a cold start (as the DAG processor sees it) and so that a
sentinel `max_active_runs_per_dag` can reveal DAGs that did not set `max_active_runs` themselves.
"""

from __future__ import annotations

import json
import sys
import time

t0 = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag  # noqa: E402

imported = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
done = time.perf_counter()

report = {
    "airflow_import_s": imported - t0,
    "parse_s": done - imported,
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "files": sorted({d.fileloc for d in bag.dags.values()}),
    "dags": {
        dag_id: {
            "owner": dag.owner,
            "tags": sorted(dag.tags),
            "max_active_runs": dag.max_active_runs,
            "task_retries": {t.task_id: t.retries for t in dag.tasks},
            "task_owners": {t.task_id: t.owner for t in dag.tasks},
            "on_failure": sorted(f"{c.__module__}.{c.__qualname__}" for c in (
                dag.on_failure_callback if isinstance(dag.on_failure_callback, list)
                else [dag.on_failure_callback] if dag.on_failure_callback else [])),
            "catchup": dag.catchup,
            "mapped": sorted(t.task_id for t in dag.tasks if getattr(t, "is_mapped", False)),
            "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
        }
        for dag_id, dag in bag.dags.items()
    },
}
print(json.dumps(report))
