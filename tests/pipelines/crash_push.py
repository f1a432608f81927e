"""Push paid orders in a process of its own, so a test can kill it (SIGKILL) mid-batch.

Builds the Bridge exactly as an Airflow task does (connections and settings from the environment)
and runs ``push_orders`` once. Usage: ``python crash_push.py RUN_ID``. On a normal end it prints
the run report as JSON; a killed run prints nothing, which is the point.
"""

from __future__ import annotations

import json
import sys

from wmsbridge.pipelines.orders import push_orders
from wmsbridge.pipelines.runtime import Bridge


def main(run_id: str) -> int:
    report = push_orders(Bridge.from_airflow(run_id))
    print(json.dumps(report.as_dict(), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
