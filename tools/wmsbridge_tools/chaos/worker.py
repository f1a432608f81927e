"""One pipeline run in a process of its own, so chaos can SIGKILL it at any point.

``python -m wmsbridge_tools.chaos.worker FLOW[,FLOW...] RUN_ID [BRIDGE[,BRIDGE...]]``: builds the Bridge
exactly as an Airflow task mapped over the bridges does (connections and settings from the
environment, ``load_deployment().bridge(id)``; no bridge named: the only one, or ``default``) and runs
each flow's pipeline function once per bridge, as its DAG would: flow by flow, each bridge's run
under the same run id (a DAG run's mapped tasks share it). Several flows or bridges in one process
save the imports; chaos gives a run it may kill one bridge only.
Prints each run's summary as one JSON line; a killed run prints nothing. Exits 1 when a flow raised.

``python -m wmsbridge_tools.chaos.worker --serve LOGDIR`` is the fork server the chaos driver uses:
it imports everything once (Airflow's hook takes seconds of CPU, paid by every process otherwise),
says ``ready``, then for each ``NAME FLOWS RUN_ID BRIDGES`` line on stdin forks a process of its own
for that run (output in ``LOGDIR/NAME.log``) and answers ``NAME PID``. Each run is still a process
of its own that builds its Bridge from scratch and can be SIGKILLed at any point; only the imports
are shared. Finished runs are reaped at once (SIGCHLD ignored), so the driver tells a run has ended
by its pidfd.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

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


def configs(bridges: str | None) -> list:
    """The settings of each named bridge, or of the only (or ``default``) one."""
    from wmsbridge.config import load_deployment

    deployment = load_deployment()
    return [deployment.bridge(b) for b in bridges.split(",")] if bridges else [deployment.resolve()]


def run_one(flow: str, run_id: str, config) -> int:
    """One flow for one bridge; its summary as a JSON line. 1 when it raised."""
    summary = {"flow": flow, "bridge": config.bridge_id}
    try:
        report = FLOWS[flow](Bridge.from_airflow(f"{run_id}-{flow}", config))
    except Exception as err:  # noqa: BLE001 - the driver reads the outcome, the log keeps the trace
        log.exception("%s of bridge %s failed", flow, config.bridge_id)
        report = getattr(err, "report", None)
        summary.update(error=f"{type(err).__name__}: {err}", counts=report.counts if report is not None else {})
        print(json.dumps(summary, ensure_ascii=False), flush=True)
        return 1
    print(json.dumps({**summary, "counts": report.counts}, ensure_ascii=False), flush=True)
    return 0


def main(argv: list[str]) -> int:
    flows, run_id, *bridges = argv
    failed = 0
    settings = configs(bridges[0] if bridges else None)  # read once: a bad setting fails before any run
    for flow in flows.split(","):
        for config in settings:
            failed |= run_one(flow, run_id, config)
    return failed


def warm() -> None:
    """Import what every flow needs (the imports a run's process shares with the fork server)."""
    import qimen_provider.hooks.qimen  # noqa: F401 - Airflow itself, the slow part
    import wmsbridge.pipelines.cancels, wmsbridge.pipelines.inventory, wmsbridge.pipelines.items  # noqa: F401,E401
    import wmsbridge.pipelines.orders, wmsbridge.pipelines.shipments  # noqa: F401,E401
    import wmsbridge.pipelines.returns, wmsbridge.pipelines.stock_changes  # noqa: F401,E401


def serve(logdir: Path) -> int:
    """The fork server: one forked process per run line on stdin; ends when stdin closes."""
    warm()
    logdir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # runs reap themselves: a finished one leaves no zombie
    print("ready", flush=True)
    for line in iter(sys.stdin.readline, ""):
        name, *command = line.split()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _run_forked(logdir / f"{name}.log", command)
        print(f"{name} {pid}", flush=True)
    return 0


def _run_forked(log_path: Path, command: list[str]) -> None:
    """In the forked process: output to its own log, no stdin, the run, then exit (never returns)."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        print(f"run {' '.join(command)} in process {os.getpid()}", flush=True)
        code = main(command)
    except BaseException:  # noqa: BLE001 - the log says why; the process must not return into the server loop
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if sys.argv[1:2] == ["--serve"]:
        sys.exit(serve(Path(sys.argv[2])))
    sys.exit(main(sys.argv[1:]))
