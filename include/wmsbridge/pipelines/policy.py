"""One failure policy for every flow's task.

- Configuration, profile and connection mistakes fail the task at once (``AirflowFailException``:
  no Airflow retries), naming what is wrong: retrying cannot fix a typo.
- Per-record outcomes never raise: they are counted in the run's report. A run that leaves records
  waiting for a person (the warehouse refused them for good, or holds another version) fails,
  also without retries, and says where to see them. The verdict is computed from the store, by
  run id, so a cleared or retried task gives the same verdict as the first try.
- Anything else (the database is down, the process was killed) is an infrastructure fault: it
  raises as it is and Airflow retries the task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from wmsbridge.errors import ConfigError

from .report import RunReport

if TYPE_CHECKING:  # imported where a run builds them: DAG files import this module at parse time
    from wmsbridge.config import BridgeConfig

    from .runtime import Bridge

log = logging.getLogger(__name__)


#: Run types that come from a schedule (or an asset event standing in for one): they obey ``live``.
SCHEDULED = frozenset({"scheduled", "asset_triggered"})


@dataclass
class TaskRun:
    """The Airflow run a task belongs to, as the flows need it."""

    dag_id: str
    run_id: str
    run_type: str
    params: dict = field(default_factory=dict)
    interval_start: datetime | None = None
    interval_end: datetime | None = None
    last_success: datetime | None = None  # the start of the DAG's last successful run
    config: BridgeConfig | None = None    # the bridge settings, read by run_flow
    bridge_built: Bridge | None = None    # the Bridge, once ``bridge()`` made it
    bridge_id: str | None = None          # the bridge this task serves (None: the only one, or default)

    @classmethod
    def current(cls, bridge_id: str | None = None) -> TaskRun:
        """The run of the task this code runs in (Airflow's task context). A task mapped over the
        bridges names its bridge in the UI (its ``map_index_template`` is ``{{ bridge }}``)."""
        from airflow.sdk import get_current_context

        context = get_current_context()
        dag_run = context["dag_run"]
        if bridge_id is not None:
            context["bridge"] = bridge_id
        return cls(dag_id=dag_run.dag_id, run_id=context["run_id"],
                   run_type=str(getattr(dag_run.run_type, "value", dag_run.run_type)),
                   params=dict(context.get("params") or {}),
                   interval_start=_moment(context.get("data_interval_start")),
                   interval_end=_moment(context.get("data_interval_end")),
                   last_success=_moment(context.get("prev_start_date_success")), bridge_id=bridge_id)

    @property
    def scheduled(self) -> bool:
        return self.run_type in SCHEDULED

    def bridge(self) -> Bridge:
        """The Bridge of this run (built once), its writes marked with this DAG and run id."""
        if self.bridge_built is None:
            from wmsbridge.pipelines.runtime import Bridge
            from wmsbridge.store.base import RunRef

            self.bridge_built = Bridge.from_airflow(RunRef(self.run_id, self.dag_id), config=self.config)
        return self.bridge_built


def _moment(value) -> datetime | None:
    """A context time as a plain aware UTC ``datetime``, or None. Airflow hands lazy proxies (which
    ``isinstance`` resolves) of pendulum DateTimes, which DB-API drivers such as sqlite3 refuse to bind."""
    if not isinstance(value, datetime):
        return None
    moment = value.astimezone(timezone.utc)
    return datetime(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
                    moment.microsecond, tzinfo=timezone.utc)


@contextmanager
def config_errors_fail_fast():
    """Turn configuration mistakes into a failed task without retries."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

    try:
        yield
    except ConfigError as err:
        raise AirflowFailException(f"configuration error: {err}") from err
    except AirflowNotFoundException as err:  # a connection id that does not exist
        raise AirflowFailException(f"configuration error: {err}") from err


class FlowRefused(Exception):
    """The run decided, on purpose, to change nothing (a guard rail tripped): the task fails at
    once, without retries, saying why. ``report`` is logged first."""

    def __init__(self, message: str, report: RunReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class FlowSkipped(Exception):
    """The run must not do its work now (e.g. the day's stock sync already ran): the task is
    skipped, and the log says why."""

    def __init__(self, message: str, report: RunReport | None = None) -> None:
        super().__init__(message)
        self.report = report


def run_flow(flow: str, work: Callable[[TaskRun], RunReport], *, run: TaskRun | None = None,
             bridge_id: str | None = None) -> dict:
    """Run one flow for one bridge inside a task: check that it may run, do the work, log the report
    (summary first), apply the verdict, return a short XCom value.

    ``run``: the task's run (default: read from the Airflow context); ``bridge_id``: the bridge of a
    task mapped over the bridges (None: the only bridge, or ``default``). Everything the person typed
    is read inside ``work``, so a wrong trigger-form value fails at once, naming the field. A
    scheduled run of a flow that is not ``live`` does nothing (skipped, saying why): Airflow's
    trigger and backfill dialogs unpause DAGs by default, so its pause cannot be the off switch.
    """
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from wmsbridge.config import load_deployment

    with config_errors_fail_fast():
        run = run or TaskRun.current(bridge_id)
        config = load_deployment().resolve(run.bridge_id)
        if not config.enabled:
            message = (f"bridge {config.bridge_id}: not enabled (wms_bridge_config), so this run does nothing for it. "
                       f"/ 桥接 {config.bridge_id} 未启用，本次不执行。")
            log.warning("%s", message)
            raise AirflowSkipException(message)
        if run.scheduled and not config.is_live(flow):
            message = (f"{flow}: not live (wms_bridge_config \"live\"), so this scheduled run does nothing; manual "
                       f"runs and backfills still do what they are asked. / 未开启定时运行（live 未包含 {flow}），本次定时运行不执行。")
            log.warning("%s", message)
            raise AirflowSkipException(message)
        run.config = config
        try:
            report = work(run)
        except FlowRefused as err:
            if err.report is not None:
                err.report.log()
            log.error("%s", err)
            raise AirflowFailException(str(err)) from err
        except FlowSkipped as err:
            if err.report is not None:
                err.report.log()
            log.warning("%s", err)
            raise AirflowSkipException(str(err)) from err
    print(f"bridge: {config.bridge_id}")
    report.log()
    if not report.dry_run and run.bridge_built is not None:
        _alert_new_for_the_shop(run, report)
    waiting = report.needs_person_verdict
    if waiting and not report.dry_run:
        samples = report.verdict_samples or report.samples.get("needs_person", [])
        raise AirflowFailException(
            f"{waiting} {report.flow} records wait for a person after this run (bridge {config.bridge_id})"
            + (f": see {report.where_to_look}" if report.where_to_look else "")
            + "; " + "; ".join(samples[:5])
        )
    return {"bridge": config.bridge_id, **short_value(report)}


def bridges_to_serve(run: TaskRun | None = None) -> list[str]:
    """The bridges a run serves, read at run time: the one the trigger form names (``bridge``),
    else every enabled bridge. An unknown bridge fails at once, naming the configured ones."""
    from wmsbridge.config import load_deployment

    with config_errors_fail_fast():
        run = run or TaskRun.current()
        deployment = load_deployment()
        chosen = run.params.get("bridge")
        if chosen:
            return [deployment.bridge(str(chosen)).bridge_id]
        enabled = deployment.enabled_ids()
        print(f"bridges: {', '.join(enabled) or '(none enabled)'}")
        return enabled


def _alert_new_for_the_shop(run: TaskRun, report: RunReport) -> None:
    """Records this run newly found that the shop must fix (rejected, a code that cannot be used):
    they do not fail the run, so they are told here (a failed run is told by the DAG's callback)."""
    from wmsbridge.alerts import notify_needs_person

    bridge = run.bridge_built
    found, samples = bridge.store.needs_person_by_run(report.flow, bridge.run_id, failing=False)
    if found:
        notify_needs_person(report.flow, found, samples, run_id=run.run_id, dag_id=run.dag_id, config=run.config)


def short_value(report: RunReport) -> dict:
    """The task's return value (XCom, and Airflow's "Returned value was" log line): the summary
    and the counts. The samples and where to look are in the log lines above it."""
    return {"summary": report.summary(), "flow": report.flow, "dry_run": report.dry_run,
            "counts": {k: v for k, v in report.counts.items() if v or k == "sent"}}
