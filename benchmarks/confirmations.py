"""Print how many ``deliveryorder.confirm`` callbacks the receiver stores per second under
concurrent load, and how many the ``wms_shipments`` flow then applies to the shop per second.

Per store backend (SQLite file, PostgreSQL database), outside the clock: a fresh store, the cached
reference shop (``.bench/``, the same one push_speed.py uses), the simulator (its own process) with
every valid order pushed to it through the real hook, then shipped there with ``hold``: the
simulator renders one Juxing-shaped confirmation per order (``shape=juxing``) and keeps it. Then:

* STORED: the standalone receiver (``python -m wmsbridge.receiver``, its own process, the deployed
  defaults) takes those confirmations from K client threads over keep-alive HTTP connections, plus
  a share of replays (the same ``outBizCode`` and body again, as a warehouse resends). Each distinct
  one must answer success and be in the inbox; each replay must answer success and store nothing.
  ``stored_per_s`` = distinct confirmations / the window from the first request to the last answer.
  For comparison, the same clients send as many ``GET /wms/health`` to the same receiver: the
  HTTP and framework floor (``stored_vs_http_floor``).
* APPLIED: ``apply_shipments`` runs (batches of 500, as the DAG's task does, a group of
  ``shipments.GROUP`` per transaction) until the inbox is empty; every order must then be shipped in
  the shop with its tracking number and written back. ``applied_per_s`` = confirmations applied / the
  time those runs took (target >= 1,000/s on each backend: ``confirmations_applied_per_s``).

    python benchmarks/confirmations.py                        # about 940 orders (+ 10 % replays), 16 clients, both backends
    python benchmarks/confirmations.py --quick --backends sqlite
    python benchmarks/confirmations.py --orders 40 --clients 4 --json

Figures are printed, never asserted; the load average is printed with them. With ``--json`` the
last line is the JSON of every figure (``make bench`` reads it). Counts that do not add up (a
callback lost, stored twice, or not applied) make the script exit non-zero.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import random
import shutil
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # tests/receivers.py: the standalone receiver on a free port
from order_push_memory import CACHE, CUSTOMER_ID, SECRET, BenchSimulator, shop_file  # noqa: E402
from push_speed import Store, configure, load  # noqa: E402

TOKEN = "bench-callback-token-0123456789"
CALLBACK_APP_KEY = "bench-warehouse"
REPLAY_SHARE = 0.10
CLIENTS = 16


class Failed(RuntimeError):
    """The counts do not add up: something was lost, stored twice, or not applied."""


# --- outside the clock: a store with orders sent, and their confirmations -------------------------


def sent_orders_and_confirmations(sim_url: str) -> list[dict]:
    """Push every valid order of the shop through the real hook, ship them all in the simulator
    (held, Juxing's shape) and return its confirmations (``out_biz_code``, ``order_code``, ``body``)."""
    from wms_simulator.client import SimulatorAdmin
    from wmsbridge.pipelines.items import sync_items
    from wmsbridge.pipelines.orders import push_orders
    from wmsbridge.pipelines.runtime import Bridge

    sync_items(Bridge.from_airflow("bench_confirm_items"))
    report = push_orders(Bridge.from_airflow("bench_confirm_push"))
    admin = SimulatorAdmin(sim_url, timeout=300)
    shipped = admin.ship(None, hold=True, shape="juxing")["shipments"]
    if len(shipped) != report.sent:
        raise Failed(f"{report.sent} orders sent but {len(shipped)} shipped by the simulator")
    return admin.confirmations()


def callbacks(confirmations: list[dict], base_url: str, replay_share: float, seed: int = 1) -> tuple[list, int]:
    """The requests a warehouse would send, signed like any Qimen request: every confirmation once,
    in a shuffled order, and a ``replay_share`` of them again, some time after the first copy."""
    from qimen.transport import build_request_url, public_params, signed_params

    from wms_simulator.shipping import CONFIRM_METHOD

    rng = random.Random(seed)
    url = f"{base_url}/wms/qimen/callback?token={TOKEN}"

    def request(confirmation: dict) -> tuple[str, bytes]:
        params = signed_params(public_params(CONFIRM_METHOD, app_key=CALLBACK_APP_KEY, customer_id=CUSTOMER_ID),
                               confirmation["body"], SECRET)
        parts = urlsplit(build_request_url(url, params))
        return f"{parts.path}?{parts.query}", confirmation["body"].encode("utf-8")

    order = list(confirmations)
    rng.shuffle(order)
    sequence = [request(c) for c in order]
    replays = rng.sample(range(len(order)), round(len(order) * replay_share))
    for first in sorted(replays, reverse=True):  # later in the stream than the first copy
        sequence.insert(rng.randint(first + 1, len(sequence)), sequence[first])
    return sequence, len(replays)


# --- the load: K clients, keep-alive connections ------------------------------------------------------


def hammer(base_url: str, requests: list[tuple[str, bytes | None]], clients: int) -> tuple[float, list[tuple]]:
    """Send every request from ``clients`` threads, each over its own keep-alive connection;
    returns the window (first request to last answer, seconds) and (status, answer) per request."""
    host = urlsplit(base_url)
    answers: list[tuple | None] = [None] * len(requests)
    cursor = iter(range(len(requests)))
    lock = threading.Lock()
    go = threading.Barrier(clients + 1)

    def client() -> None:
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=120)
        go.wait()
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                break
            path, body = requests[i]
            try:
                if body is None:
                    connection.request("GET", path)
                else:
                    connection.request("POST", path, body=body, headers={"Content-Type": "text/xml;charset=utf-8"})
                response = connection.getresponse()
                answers[i] = (response.status, response.read())
            except (OSError, http.client.HTTPException) as err:  # counted as not answered; a new connection
                answers[i] = (None, f"{type(err).__name__}: {err}")
                connection.close()
        connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    go.wait()
    started = time.monotonic()
    for t in threads:
        t.join()
    return time.monotonic() - started, answers


def shipped_in_shop(shop) -> int:
    with shop.connect() as conn:
        return conn.execute(sa.text(
            "SELECT count(*) FROM shop_order WHERE status = 'shipped' AND tracking_no IS NOT NULL")).scalar_one()


# --- one backend -------------------------------------------------------------------------------------


def measure(backend: str, paid: int, clients: int, replay_share: float = REPLAY_SHARE) -> dict:
    from qimen.parsing import parse_response
    from receivers import standalone_receiver
    from wmsbridge.pipelines.runtime import Bridge
    from wmsbridge.pipelines.shipments import apply_shipments
    from wmsbridge.store.schema import exchange_log, order_sync, shipment_inbox

    runs = CACHE / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    tag = f"confirm-{backend}"
    shop = runs / f"{tag}-shop.sqlite"  # the flow ships orders in it: a copy, the cached shop stays as it is
    shutil.copyfile(shop_file(paid), shop)
    for name in ("wmsbridge", "alembic"):  # Airflow's logging set-up (imported by now) logs info
        logging.getLogger(name).setLevel(logging.WARNING)
    with Store(backend, tag) as store_url, BenchSimulator(runs / f"{tag}-sim.log") as sim:
        configure(shop, store_url, sim.base_url, 8)  # a migrated store, the shop's sender (push_speed)
        settings = json.loads(os.environ["WMS_BRIDGE_CONFIG"])
        os.environ["WMS_BRIDGE_CONFIG"] = json.dumps({**settings, "callback_token": TOKEN})
        setup = time.monotonic()
        confirmations = sent_orders_and_confirmations(sim.base_url)
        distinct = len(confirmations)
        setup_s = time.monotonic() - setup

        with standalone_receiver(dict(os.environ), runs / f"{tag}-receiver.log") as receiver:
            receiver_start_s = time.monotonic() - setup - setup_s
            sequence, replays = callbacks(confirmations, receiver.base_url, replay_share)
            floor_s, _ = hammer(receiver.base_url, [("/wms/health", None)] * len(sequence), clients)
            load_stored = load()
            stored_s, answers = hammer(receiver.base_url, sequence, clients)

        parsed = [parse_response(body) if status == 200 else None for status, body in answers]
        succeeded = sum(1 for r in parsed if r is not None and r.success)
        duplicates = sum(1 for r in parsed if r is not None and r.success and r.message.startswith("duplicate"))
        engine = sa.create_engine(store_url)
        with engine.connect() as conn:
            in_inbox = conn.execute(sa.select(sa.func.count()).select_from(shipment_inbox)).scalar_one()
            logged = dict(conn.execute(sa.select(exchange_log.c.outcome, sa.func.count())
                                       .where(exchange_log.c.direction == "inbound")
                                       .group_by(exchange_log.c.outcome)).all())
        expected_log = {"success": distinct, "duplicate": replays} if replays else {"success": distinct}
        if (succeeded, duplicates, in_inbox, logged) != (len(sequence), replays, distinct, expected_log):
            other = next((answer for answer, r in zip(answers, parsed) if r is None or not r.success), None)
            raise Failed(f"{backend}: {len(sequence)} callbacks ({replays} replays of {distinct}): {succeeded} "
                         f"answered success, {duplicates} as duplicates, {in_inbox} in the inbox, exchange log "
                         f"{logged}; first other answer: {other}")

        bridge = Bridge.from_airflow(f"bench_confirm_apply_{backend}")
        shipped_before = shipped_in_shop(bridge.shop)  # the generated shop has shipped orders of its own
        load_applied = load()
        started, applied, runs_made = time.monotonic(), 0, 0
        while True:
            report = apply_shipments(bridge)
            runs_made += 1
            applied += report.sent
            if report.extracted == 0 or report.sent == 0:
                break
        applied_s = time.monotonic() - started - report.seconds  # the last run found nothing left
        with engine.connect() as conn:
            written = conn.execute(sa.select(sa.func.count()).select_from(order_sync)
                                   .where(order_sync.c.state == "shipped", order_sync.c.shop_written_at.is_not(None))
                                   ).scalar_one()
        shop_shipped = shipped_in_shop(bridge.shop) - shipped_before
        engine.dispose()
        bridge.store.engine.dispose()
        bridge.shop.dispose()
        if not applied == written == shop_shipped == distinct:
            raise Failed(f"{backend}: {distinct} confirmations stored, {applied} applied, {written} written back "
                         f"in wms_order_sync, {shop_shipped} shipped in the shop")

    shop.unlink()
    stored_rate = distinct / stored_s
    floor_rate = len(sequence) / floor_s
    return {
        "backend": backend, "clients": clients, "confirmations": distinct, "replays": replays,
        "callbacks": len(sequence), "answered_success": succeeded, "answered_duplicate": duplicates,
        "in_inbox": in_inbox, "exchange_log_inbound": logged,
        "stored_window_s": round(stored_s, 2), "stored_per_s": round(stored_rate, 1),
        "callbacks_per_s": round(len(sequence) / stored_s, 1),
        "http_floor_per_s": round(floor_rate, 1), "stored_vs_http_floor": round(len(sequence) / stored_s / floor_rate, 3),
        "applied": applied, "written_back": written, "shop_shipped": shop_shipped, "apply_runs": runs_made - 1,
        "applied_window_s": round(applied_s, 2), "applied_per_s": round(applied / applied_s, 1),
        "load_stored": load_stored, "load_applied": load_applied,
        "setup_s": {"push_and_ship": round(setup_s, 1), "receiver_start": round(receiver_start_s, 1)},
    }


def run(backends: list[str], paid: int, clients: int, replay_share: float = REPLAY_SHARE) -> list[dict]:
    logging.getLogger().setLevel(logging.WARNING)
    rows = []
    for backend in backends:
        shop_file(paid)  # generating the shop is not part of any figure
        row = measure(backend, paid, clients, replay_share)
        rows.append(row)
        print(f"  {backend:10} stored {row['stored_per_s']:,.0f} confirmations/s ({row['confirmations']:,} + "
              f"{row['replays']:,} replays from {clients} clients in {row['stored_window_s']:.1f}s; "
              f"{row['callbacks_per_s']:,.0f} callbacks/s = {row['stored_vs_http_floor']:.2f} of the HTTP floor "
              f"{row['http_floor_per_s']:,.0f}/s; {row['load_stored']})", flush=True)
        print(f"  {backend:10} applied {row['applied_per_s']:,.0f} confirmations/s ({row['applied']:,} shipped "
              f"in the shop and written back in {row['applied_window_s']:.1f}s, {row['apply_runs']} runs; "
              f"{row['load_applied']})", flush=True)
    return rows


def figures(rows: list[dict]) -> dict:
    """The JSON ``make bench`` keeps: per backend, confirmations stored and applied per second."""
    return {
        "confirmations_per_s": {r["backend"]: {"stored": r["stored_per_s"], "applied": r["applied_per_s"]}
                                for r in rows},
        "confirmations_stored_per_s": {r["backend"]: r["stored_per_s"] for r in rows},
        "confirmations_applied_per_s": {r["backend"]: r["applied_per_s"] for r in rows},
        "confirmations_stored_vs_http_floor": {r["backend"]: r["stored_vs_http_floor"] for r in rows},
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, help="paid orders in the shop (about 95 %% valid, each confirmed "
                                                   "once); default 1,100, --quick 400")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent client connections")
    parser.add_argument("--replays", type=float, default=REPLAY_SHARE, help="share of confirmations sent twice")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--quick", action="store_true", help="a smaller shop (a smoke run)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line, last")
    args = parser.parse_args()
    paid = args.orders or (400 if args.quick else 1_100)
    print(f"confirmations: stored by the standalone receiver from {args.clients} clients "
          f"({args.replays:.0%} replays), then applied by wms_shipments")
    try:
        rows = run(args.backends, paid, args.clients, args.replays)
    except Failed as err:
        print(f"  FAILED: {err}", flush=True)
        sys.exit(1)
    if args.json:
        print(json.dumps(figures(rows)))


if __name__ == "__main__":
    main()
