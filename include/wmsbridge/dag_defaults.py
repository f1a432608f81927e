"""Defaults every bridge DAG shares, so retries, ownership and the warehouse pool are set in one place."""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum

from wmsbridge.alerts import notify_failed_run

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
