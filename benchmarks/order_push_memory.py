"""Print how much memory an order backfill needs as its window grows: it must stay flat (issue 5).

A 200,000-order backfill must not hold all orders, or their XML, in memory at once: push_orders
streams the shop in chunks of ``chunk_size`` orders and lets each chunk go before reading the next.
This script shows it. It fills a SQLite reference shop per size (cached under ``.bench/``, so a
re-run reuses it), then runs push_orders over the whole payment window in a FRESH process per
measurement and prints orders extracted/valid/sent, seconds, orders/s and peak RSS (ru_maxrss).

    python benchmarks/order_push_memory.py                          # dry run, 20,000 and 200,000 paid orders
    python benchmarks/order_push_memory.py --send --orders 20000    # real deliveryorder.create to the simulator
    python benchmarks/order_push_memory.py --dry-run --send --chunk-size 500

Dry run = extract + transform + validate + XML, nothing sent. Send = the same plus one request per
order to a WMS simulator running in its own process (rate limit off, push_concurrency 8) and the
per-order bookkeeping in the integration store. Either way the SKUs are synchronized first, in a
separate process, so every valid order is built into XML rather than held for an unknown item.
The integration store is its own SQLite file per measurement, so the cached shop stays untouched.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench"
PROFILE = "reference"
SKUS = 2_000
SEED = 1
BAD_SHARE = 0.05
# The generator makes every bad order paid and 30 % of the others (STATUS_MIX): orders to generate
# for a wanted number of paid ones.
PAID_SHARE = BAD_SHARE + (1 - BAD_SHARE) * 0.30
SECRET, CUSTOMER_ID, WAREHOUSE, OWNER = "bench-secret", "BENCH01", "WH01", "OWNER01"
STORE_CONN_ID = "wms_store"
# The shop's own sender (senderInfo): the order flow requires it (config `sender`).
SENDER = {"name": "四海母婴", "mobile": "010-56133684", "province": "北京", "city": "北京市",
          "area": "朝阳区", "detail": "建国路1号"}


# --- the shop, generated once per size -------------------------------------------------------------


def shop_file(paid: int) -> Path:
    """A reference shop with about ``paid`` paid orders, generated on first use and then reused."""
    path = CACHE / f"shop-{PROFILE}-{paid}-paid-seed{SEED}.sqlite"
    if path.exists():
        return path
    from wmsbridge_tools.synthetic import generate

    CACHE.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    orders = math.ceil(paid / PAID_SHARE)
    print(f"generating {orders:,} orders ({SKUS:,} SKUs) into {path.relative_to(ROOT)} ...", flush=True)
    started = time.perf_counter()
    engine = sa.create_engine(f"sqlite:///{partial}")
    generate(engine, PROFILE, orders=orders, skus=SKUS, seed=SEED, bad_share=BAD_SHARE)
    engine.dispose()
    partial.rename(path)  # only a complete shop is ever cached
    print(f"  done in {time.perf_counter() - started:.0f}s", flush=True)
    return path


def paid_in_shop(path: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM shop_order WHERE status = 'paid'")).scalar_one()
    engine.dispose()
    return count


# --- the warehouse, in its own process -------------------------------------------------------------


class BenchSimulator:
    """``python -m wms_simulator`` on a free port, fresh per measurement (orders of one size must
    not meet the codes another size left there), stopped with SIGTERM on exit."""

    def __init__(self, log_file: Path, *, allow_unknown_items: bool = False):
        self.log_file = log_file
        self.extra = ["--allow-unknown-items"] if allow_unknown_items else []

    def __enter__(self) -> "BenchSimulator":
        # Its log goes to a file: a pipe nobody reads would block the simulator once full.
        with open(self.log_file, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "wms_simulator", "--port", "0", "--secret", SECRET,
                 "--customer-id", CUSTOMER_ID, "--log-level", "WARNING", *self.extra],
                stdout=subprocess.DEVNULL, stderr=log,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            for line in self.log_file.read_text().splitlines():
                if line.startswith("wms simulator ready:"):
                    self.base_url = line.split()[3]
                    return self
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"the simulator did not start; see {self.log_file}")

    def __exit__(self, *_exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


# --- one measurement = fresh processes -------------------------------------------------------------


def bridge_env(shop: Path, store: Path, simulator: BenchSimulator, chunk_size: int) -> dict[str, str]:
    """Airflow connections and bridge settings as environment variables, as a deployment sets them."""
    env = dict(os.environ)
    env["AIRFLOW_CONN_SHOP_DB"] = json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": f"sqlite:///{shop}"}})
    env[f"AIRFLOW_CONN_{STORE_CONN_ID.upper()}"] = json.dumps(
        {"conn_type": "generic", "extra": {"sqlalchemy_url": f"sqlite:///{store}"}})
    env["AIRFLOW_CONN_QIMEN_DEFAULT"] = json.dumps({
        "conn_type": "qimen", "host": simulator.base_url, "login": "bench-app", "password": SECRET,
        "extra": {"customer_id": CUSTOMER_ID, "owner_code": OWNER, "warehouse_code": WAREHOUSE,
                  "max_requests_per_second": 0},
    })
    env["WMS_BRIDGE_CONFIG"] = json.dumps({
        "profile": PROFILE, "store_conn_id": STORE_CONN_ID, "chunk_size": chunk_size, "push_concurrency": 8,
        "default_logistics_code": "YTO", "sender": SENDER,
    })
    return env


def run_child(step: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", step], env=env, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        raise RuntimeError(f"{step} process failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(paid: int, mode: str, chunk_size: int) -> dict:
    shop = shop_file(paid)
    runs = CACHE / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    store = runs / f"store-{paid}-{mode}.sqlite"
    for stale in runs.glob(store.name + "*"):
        stale.unlink()
    from wmsbridge.store.migrate import upgrade

    upgrade(f"sqlite:///{store}")  # the deploy step (make migrate): tasks only check the revision
    try:
        with BenchSimulator(runs / f"simulator-{paid}-{mode}.log") as simulator:
            env = bridge_env(shop, store, simulator, chunk_size)
            run_child("sync-items", env)
            result = run_child(mode, env)
    finally:
        for leftover in runs.glob(store.name + "*"):
            leftover.unlink()
    return {"paid": paid_in_shop(shop), "mode": mode, "chunk": chunk_size, **result}


def child(step: str) -> None:
    """Runs in a fresh interpreter: its ru_maxrss is this step's peak alone."""
    import logging

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    from wmsbridge.pipelines.items import sync_items
    from wmsbridge.pipelines.orders import push_orders
    from wmsbridge.pipelines.runtime import Bridge

    bridge = Bridge.from_airflow(f"bench__{step}")
    if step == "sync-items":
        report = sync_items(bridge)
        print(json.dumps({"synced": report.sent, "failed": report.undelivered}))
        return
    rss_before = _maxrss_mb()  # interpreter, pandas, Airflow, the bridge: what any task pays anyway
    report = push_orders(bridge, dry_run=step == "dry-run")
    print(json.dumps({
        "extracted": report.extracted, "valid": report.valid, "rejected": report.rejected, "held": report.held,
        "sent": report.sent, "failed": report.undelivered, "seconds": report.seconds,
        "rss_before_mb": rss_before, "peak_rss_mb": _maxrss_mb(),
    }))


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


# --- the table ---------------------------------------------------------------------------------------


def print_table(rows: list[dict]) -> None:
    header = (f"{'mode':8} {'paid':>8} {'chunk':>6} {'extracted':>9} {'valid':>8} {'rejected':>8} {'held':>5} {'sent':>8} "
              f"{'failed':>6} {'seconds':>8} {'orders/s':>8} {'RSS start':>10} {'peak RSS':>9}")
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        rate = r["extracted"] / r["seconds"] if r["seconds"] else 0.0
        print(f"{r['mode']:8} {r['paid']:>8,} {r['chunk']:>6,} {r['extracted']:>9,} {r['valid']:>8,} "
              f"{r['rejected']:>8,} {r['held']:>5,} {r['sent']:>8,} {r['failed']:>6,} {r['seconds']:>8.1f} {rate:>8,.0f} "
              f"{r['rss_before_mb']:>7.0f} MB {r['peak_rss_mb']:>6.0f} MB")
    for mode in dict.fromkeys(r["mode"] for r in rows):
        same = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["paid"])
        if len(same) > 1:
            small, big = same[0], same[-1]
            print(f"{mode}: {big['paid'] / small['paid']:.0f}x the orders, peak RSS "
                  f"{big['peak_rss_mb']:.0f} MB vs {small['peak_rss_mb']:.0f} MB "
                  f"({big['peak_rss_mb'] / small['peak_rss_mb']:.2f}x), chunk size {big['chunk']:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[20_000, 200_000],
                        help="paid orders in the shop, one measurement each (default: 20000 200000)")
    parser.add_argument("--dry-run", action="store_true", help="extract+transform+validate, send nothing (default)")
    parser.add_argument("--send", action="store_true", help="really send to the simulator")
    parser.add_argument("--chunk-size", type=int, default=2000, help="bridge chunk_size (the production default)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    modes = [m for m, on in (("dry-run", args.dry_run or not args.send), ("send", args.send)) if on]
    rows = []
    for mode in modes:
        for paid in sorted(args.orders):
            shop_file(paid)  # generation time is not part of the figures
            print(f"{mode} over {paid:,} paid orders ...", flush=True)
            rows.append(measure(paid, mode, args.chunk_size))
            print_table(rows[-1:])
    print_table(rows)


if __name__ == "__main__":
    main()
