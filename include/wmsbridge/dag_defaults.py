"""Defaults every bridge DAG shares, so retries, ownership and the warehouse pool are set in one place."""

from __future__ import annotations

from datetime import timedelta

import pendulum

OWNER = "wms-bridge"
# One Airflow pool for every request to the warehouse, whatever the DAG: Juxing refuses callers that
# send too much at once. Created by `make airflow-home`; size it to what the warehouse allows.
WMS_POOL = "wms_warehouse"
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}
