"""Defaults every bridge DAG shares, so retries, ownership and the warehouse pool are set in one place."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pendulum
from airflow.sdk import Param, task

from wmsbridge.alerts import notify_failed_run
from wmsbridge.assets import ITEMS_ASSET

OWNER = "wms-bridge"
# One Airflow pool for every request to the warehouse, whatever the DAG: Juxing refuses callers that
# send too much at once. Created by `make airflow-home`; size it to what the warehouse allows.
WMS_POOL = "wms_warehouse"
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
    # WMS_RETRY_DELAY_SECONDS: tests and the demo shorten it; production keeps a minute.
    "retry_delay": timedelta(seconds=int(os.environ.get("WMS_RETRY_DELAY_SECONDS", "60"))),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}

# What every bridge DAG passes to @dag besides its id, schedule, params, tags and doc: one run at a
# time, no catch-up, the defaults above, and the failure alert (DingTalk / WeCom when configured,
# docs/operations.md#alerts).
DAG_ARGS = {
    "start_date": START_DATE,
    "catchup": False,
    "max_active_runs": 1,
    "default_args": DEFAULT_ARGS,
    "on_failure_callback": notify_failed_run,
}


@task(task_id="bridges")
def served_bridges() -> list[str]:
    """Every flow DAG's first task: the bridges this run serves, read at run time (a manual run's
    ``bridge`` field, else every enabled bridge). The flow task is mapped over them, one task per
    bridge: one shop's failure never stops another's, a retry or a clear touches one bridge."""
    from wmsbridge.pipelines import tasks

    return tasks.bridges()


def per_bridge(flow: str, *, task_id: str, pool: str | None = WMS_POOL):
    """Every flow DAG's work: ``wmsbridge.pipelines.tasks.<flow>`` as the task ``task_id``, mapped
    over the bridges this run serves (``served_bridges``), one task instance per bridge, shown by
    its bridge id. ``pool``: the warehouse pool for flows that send requests, None for flows that
    only read what the warehouse sent us. Returns the mapped task (its reports, one per bridge)."""

    @task(task_id=task_id, map_index_template="{{ bridge }}", **({"pool": pool} if pool else {}))
    def run(bridge_id: str) -> dict:
        from wmsbridge.pipelines import tasks

        return getattr(tasks, flow)(bridge_id=bridge_id)

    return run.expand(bridge_id=served_bridges())


@task(task_id="publish", outlets=[ITEMS_ASSET])
def publish_items(reports: list[dict], outlet_events=None) -> None:
    """The item syncs' last task: the ``wms://warehouse/items`` asset, with how many SKUs reached the
    warehouse per bridge; skipped (no asset event) when no bridge's SKUs did."""
    from airflow.sdk.exceptions import AirflowSkipException

    sent = {r["bridge"]: r["counts"].get("sent", 0) for r in reports if not r["dry_run"]}
    if not any(sent.values()):
        raise AirflowSkipException("no SKU synchronized")
    outlet_events[ITEMS_ASSET].extra = {"synchronized": sum(sent.values()), "by_bridge": sent}


def _bridge_ids_in_environment() -> list[str]:
    """Bridge ids of a ``wms_bridge_config`` given through the environment (Airflow's
    ``AIRFLOW_VAR_WMS_BRIDGE_CONFIG``, else the ``WMS_BRIDGE_CONFIG`` fallback): the trigger form's
    suggestions. Environment only: a DAG file does no I/O at parse time, so a Variable set in the
    UI gives no suggestions and the field is free text, checked when the run starts."""
    for name in ("AIRFLOW_VAR_WMS_BRIDGE_CONFIG", "WMS_BRIDGE_CONFIG"):
        try:
            bridges = json.loads(os.environ.get(name) or "null")
        except ValueError:
            continue
        if isinstance(bridges, dict):
            return [str(b) for b in bridges.get("bridges") or {}]
    return []


def bridge_param() -> Param:
    """The manual DAGs' ``bridge`` field: one bridge by id, or every enabled one."""
    return Param(
        None, type=["null", "string"], title="Bridge / 桥接",
        **({"examples": ids} if (ids := _bridge_ids_in_environment()) else {}),
        description="One bridge (shop <-> warehouse account) by its id in wms_bridge_config; empty = every "
                    "enabled bridge. An unknown id fails the run at once, naming the configured ones. / 只处理这个"
                    "桥接（wms_bridge_config 中的 id）；留空 = 所有已启用的桥接。id 不存在时运行立即失败并列出已配置的 id。",
    )
