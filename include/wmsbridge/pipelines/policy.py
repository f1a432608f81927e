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

from wmsbridge.errors import ConfigError

from .report import RunReport

log = logging.getLogger(__name__)


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


def run_flow(work: Callable[[], RunReport]) -> dict:
    """Run one flow inside a task: log the report (summary first), apply the verdict, return a
    short XCom value."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    with config_errors_fail_fast():
        try:
            report = work()
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
    report.log()
    waiting = report.needs_person_verdict
    if waiting and not report.dry_run:
        samples = report.verdict_samples or report.samples.get("needs_person", [])
        raise AirflowFailException(
            f"{waiting} {report.flow} records wait for a person after this run"
            + (f": see {report.where_to_look}" if report.where_to_look else "")
            + "; " + "; ".join(samples[:5])
        )
    return short_value(report)


def short_value(report: RunReport) -> dict:
    """The task's return value (XCom, and Airflow's "Returned value was" log line): the summary
    and the counts. The samples and where to look are in the log lines above it."""
    return {"summary": report.summary(), "flow": report.flow, "dry_run": report.dry_run,
            "counts": {k: v for k, v in report.counts.items() if v or k == "sent"}}
