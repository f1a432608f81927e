"""Create the scheduled run the scheduler would create next for a DAG, through the scheduler's own
calls (``SchedulerJobRunner._create_dag_runs`` in Airflow 3.3: the DAG's ``next_dagrun`` fields ->
its timetable -> ``create_dagrun(run_type=SCHEDULED, triggered_by=TIMETABLE, state=QUEUED)``), and
print the run as JSON.

The folder's Airflow runs with ``[scheduler] use_job_schedule = False`` (no run starts that a test
did not ask for), which switches exactly that creation off; the scheduler still starts a queued
run, whatever made it. So a test can show what the schedule of a DAG a dialog unpaused would do.

    python scheduled_run.py <dag_id>      # with the local Airflow's environment (conftest)
"""

from __future__ import annotations

import json
import sys


def main(dag_id: str) -> dict:
    from airflow.models.dag import DagModel
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    with create_session() as session:
        dag_model = session.get(DagModel, dag_id)
        serdag = SerializedDagModel.get(dag_id=dag_id, session=session).dag
        info = serdag.timetable.next_run_info_from_dag_model(dag_model=dag_model)
        run = serdag.create_dagrun(
            run_id=serdag.timetable.generate_run_id(run_type=DagRunType.SCHEDULED, run_after=info.run_after,
                                                    data_interval=info.data_interval,
                                                    partition_key=info.partition_key),
            logical_date=info.logical_date, data_interval=info.data_interval, run_after=info.run_after,
            run_type=DagRunType.SCHEDULED, triggered_by=DagRunTriggeredByType.TIMETABLE, state=DagRunState.QUEUED,
            session=session, partition_key=info.partition_key, partition_date=info.partition_date)
        dag_model.calculate_dagrun_date_fields(dag=serdag, reference_run=run)
        return {"run_id": run.run_id, "run_type": str(run.run_type),
                "data_interval_start": info.data_interval.start.isoformat(),
                "data_interval_end": info.data_interval.end.isoformat()}


if __name__ == "__main__":
    print("SCHEDULED_RUN " + json.dumps(main(sys.argv[1])))
