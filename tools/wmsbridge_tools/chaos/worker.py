"""One pipeline run in a process of its own, so chaos can SIGKILL it at any point.

``python -m wmsbridge_tools.chaos.worker FLOW[,FLOW...] RUN_ID``: builds the Bridge exactly as an Airflow
task does (connections and settings from the environment) and runs each flow's pipeline function
once, as its DAG would, one after the other (several flows in one process save the imports).
Prints each run's summary as one JSON line; a killed run prints nothing. Exits 1 when a flow raised.

``python -m wmsbridge_tools.chaos.worker`` without arguments imports everything first (Airflow's hook
takes seconds), says ``ready`` and then reads ``FLOWS RUN_ID`` from stdin: the driver warms the
next runs while the current ones work, so a run starts the moment it is wanted.
"""

from __future__ import annotations

import json
import logging
import sys

from wmsbridge.pipelines.runtime import Bridge

log = logging.getLogger("wmsbridge_tools.chaos.worker")


def _items(bridge):
    from wmsbridge.pipelines.items import sync_items

    return sync_items(bridge)


def _orders(bridge):
    from wmsbridge.pipelines.orders import push_orders

    return push_orders(bridge)


def _cancels(bridge):
    from wmsbridge.pipelines.cancels import cancel_orders

    return cancel_orders(bridge)


def _shipments(bridge):
    from wmsbridge.pipelines.shipments import apply_shipments

    return apply_shipments(bridge)


def _inventory(bridge):
    from wmsbridge.pipelines.inventory import sync_inventory

    return sync_inventory(bridge, force=True)  # chaos queries the same day many times


def _returns(bridge):
    from wmsbridge.pipelines.returns import sync_returns

    return sync_returns(bridge)


def _stock_changes(bridge):
    from wmsbridge.pipelines.stock_changes import apply_stock_changes

    return apply_stock_changes(bridge)


FLOWS = {"items": _items, "orders": _orders, "cancels": _cancels, "shipments": _shipments, "returns": _returns,
         "stock_changes": _stock_changes, "inventory": _inventory}


def main(argv: list[str]) -> int:
    flows, run_id = argv
    failed = 0
    for flow in flows.split(","):
        try:
            report = FLOWS[flow](Bridge.from_airflow(f"{run_id}-{flow}"))
        except Exception as err:  # noqa: BLE001 - the driver reads the outcome, the log keeps the trace
            log.exception("%s failed", flow)
            report, failed = getattr(err, "report", None), 1
            print(json.dumps({"flow": flow, "error": f"{type(err).__name__}: {err}",
                              "counts": report.counts if report is not None else {}}, ensure_ascii=False), flush=True)
            continue
        print(json.dumps({"flow": flow, "counts": report.counts}, ensure_ascii=False), flush=True)
    return failed


def warm_then_wait() -> list[str]:
    """Import what every flow needs, then wait for the driver's ``FLOWS RUN_ID`` line (none: exit)."""
    import qimen_provider.hooks.qimen  # noqa: F401 - Airflow itself, the slow part
    import wmsbridge.pipelines.cancels, wmsbridge.pipelines.inventory, wmsbridge.pipelines.items  # noqa: F401,E401
    import wmsbridge.pipelines.orders, wmsbridge.pipelines.shipments  # noqa: F401,E401
    import wmsbridge.pipelines.returns, wmsbridge.pipelines.stock_changes  # noqa: F401,E401

    print("ready", flush=True)
    return sys.stdin.readline().split()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = sys.argv[1:] or warm_then_wait()
    sys.exit(main(command) if command else 0)
