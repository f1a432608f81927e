"""Print how close order pushes come to their bound: C requests in flight, 20 ms each.

The warehouse (the simulator, its own process) answers every ``deliveryorder.create`` after a
fixed latency (``latency_ms=20``, no jitter). With ``push_concurrency`` C the best any client can do
is C / 0.020 orders/s; ``push_vs_bound`` is the measured rate divided by that. The rest is ours:
the claim committed before each request, the exchange log, the outcome, the hook, Python.

Per store backend (SQLite file, PostgreSQL database) and per C, a fresh store and simulator; the
shop is a cached reference SQLite shop (``.bench/``). SKUs are synchronised first, without latency
and outside the clock. Then ``push_orders`` runs through the real hook over HTTP. Figures:

* ``push_vs_bound``: sent orders / push window / (C / 0.020). The push window runs from the first
  claim to the last outcome as the store recorded them (``wms_order_sync``), so extraction and
  the transform before the first send are not counted (the transform has its own benchmark);
* ``end_to_end_orders_per_s``: the same orders over the whole ``push_orders`` call;
* ``push_rate_vs_set`` (``--rate``): at the connection's default rate limit (5 requests/s, the
  hook's limiter on) and the bridge's default concurrency, the rate at which the warehouse received
  ``deliveryorder.create`` (the simulator's own log: requests - 1 over first to last arrival)
  divided by the set rate, and the most requests seen in any one-second window (never above the
  set rate).

    python benchmarks/push_speed.py                               # 3,000+ orders, C = 1 4 8, sqlite postgresql
    python benchmarks/push_speed.py --concurrency 8 --backends sqlite --orders 1000
    python benchmarks/push_speed.py --rate                          # only the figure at the default rate

C = 1 is the sequential figure. Printed, never asserted; the load average is printed with it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from order_push_memory import CACHE, CUSTOMER_ID, OWNER, SECRET, SENDER, WAREHOUSE, BenchSimulator, shop_file  # noqa: E402

PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
LATENCY_MS = 20
STORE_CONN_ID = "wms_store"


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


class Store:
    """A fresh integration store on ``backend``, migrated as a deployment does (``make migrate``);
    dropped afterwards."""

    def __init__(self, backend: str, tag: str):
        self.backend, self.tag = backend, tag

    def __enter__(self) -> str:
        from wmsbridge.store.migrate import upgrade

        url = self._create()
        upgrade(url)
        return url

    def _create(self) -> str:
        if self.backend == "sqlite":
            runs = CACHE / "runs"
            runs.mkdir(parents=True, exist_ok=True)
            self.path = runs / f"push-store-{self.tag}.sqlite"
            self.path.unlink(missing_ok=True)
            return f"sqlite:///{self.path}"
        self.name = f"wms_push_bench_{secrets.token_hex(4)}"
        self.admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {self.name}"))
        return PG_ADMIN.rsplit("/", 1)[0] + f"/{self.name}"

    def __exit__(self, *_exc) -> None:
        if self.backend == "sqlite":
            for leftover in self.path.parent.glob(self.path.name + "*"):
                leftover.unlink()
            return
        with self.admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"))
        self.admin.dispose()


def configure(shop: Path, store_url: str, base_url: str, concurrency: int | None, *, unpaced: bool = True) -> None:
    """Airflow connections and the bridge settings as a deployment sets them (environment);
    ``unpaced=False`` keeps the connection's default rate limit, ``concurrency=None`` the bridge's."""
    os.environ["AIRFLOW_CONN_SHOP_DB"] = json.dumps(
        {"conn_type": "generic", "extra": {"sqlalchemy_url": f"sqlite:///{shop}"}})
    os.environ[f"AIRFLOW_CONN_{STORE_CONN_ID.upper()}"] = json.dumps(
        {"conn_type": "generic", "extra": {"sqlalchemy_url": store_url}})
    extra = {"customer_id": CUSTOMER_ID, "owner_code": OWNER, "warehouse_code": WAREHOUSE}
    os.environ["AIRFLOW_CONN_QIMEN_DEFAULT"] = json.dumps({
        "conn_type": "qimen", "host": base_url, "login": "bench-app", "password": SECRET,
        "extra": {**extra, "max_requests_per_second": 0} if unpaced else extra,
    })
    os.environ["WMS_BRIDGE_CONFIG"] = json.dumps({
        "profile": "reference", "store_conn_id": STORE_CONN_ID, "default_logistics_code": "YTO", "sender": SENDER,
        **({"push_concurrency": concurrency} if concurrency else {}),
    })


def measure(backend: str, concurrency: int, paid: int) -> dict:
    from wms_simulator.client import SimulatorAdmin
    from wmsbridge.pipelines.items import sync_items
    from wmsbridge.pipelines.orders import push_orders
    from wmsbridge.pipelines.runtime import Bridge
    from wmsbridge.store.schema import order_sync

    shop = shop_file(paid)
    tag = f"{backend}-c{concurrency}"
    with Store(backend, tag) as store_url, BenchSimulator(CACHE / "runs" / f"push-sim-{tag}.log") as sim:
        configure(shop, store_url, sim.base_url, concurrency)
        admin = SimulatorAdmin(sim.base_url)
        sync_items(Bridge.from_airflow(f"bench_items_{tag}"))  # outside the clock, no latency
        admin.set_faults(latency_ms=LATENCY_MS, jitter_ms=0, methods=["deliveryorder.create"])
        bridge = Bridge.from_airflow(f"bench_push_{tag}")
        before = load()
        started, cpu_started = time.monotonic(), time.process_time()
        report = push_orders(bridge)
        total, cpu = time.monotonic() - started, time.process_time() - cpu_started
        c = order_sync.c
        with bridge.store.engine.connect() as conn:
            first, last, sent = conn.execute(
                sa.select(sa.func.min(c.last_attempt_at), sa.func.max(c.updated_at), sa.func.count())
                .where(c.state == "sent")).one()
        bridge.store.engine.dispose()
        bridge.shop.dispose()
    window = (last - first).total_seconds() + LATENCY_MS / 1000  # the first claim precedes its answer
    rate = sent / window
    bound = concurrency / (LATENCY_MS / 1000)
    return {
        "backend": backend, "concurrency": concurrency, "sent": sent, "undelivered": report.undelivered,
        "push_window_s": round(window, 2), "orders_per_s": round(rate, 1), "bound_orders_per_s": bound,
        "push_vs_bound": round(rate / bound, 3), "end_to_end_orders_per_s": round(report.sent / total, 1),
        # CPU of this process (all threads) per order sent, extraction and transform included: with
        # the GIL, C / 0.020 orders/s needs it below 20 ms / C (2.5 ms at C = 8) on an idle core
        "cpu_ms_per_order": round(cpu * 1000 / max(report.sent, 1), 2),
        "load": before,
    }


def at_default_rate(paid: int = 150, backend: str = "sqlite") -> dict:
    """The push through the hook's limiter at the connection's default rate and the bridge's
    default concurrency: how close the warehouse's view comes to the set rate."""
    import tempfile
    from datetime import datetime

    from qimen_provider.connection import QimenSettings
    from wms_simulator.client import SimulatorAdmin
    from wmsbridge.config import BridgeConfig
    from wmsbridge.pipelines.items import sync_items
    from wmsbridge.pipelines.orders import push_orders
    from wmsbridge.pipelines.runtime import Bridge

    set_rate = QimenSettings.max_requests_per_second  # the connection's default
    shop = shop_file(paid)
    tag = f"{backend}-rate"
    with Store(backend, tag) as store_url, BenchSimulator(CACHE / "runs" / f"push-sim-{tag}.log") as sim, \
            tempfile.TemporaryDirectory(prefix="bench-rate-") as slots:
        os.environ["WMS_RATE_LIMIT_DIR"] = slots  # a limit of its own, not shared with other work
        configure(shop, store_url, sim.base_url, None)
        admin = SimulatorAdmin(sim.base_url)
        sync_items(Bridge.from_airflow(f"bench_items_{tag}"))  # unpaced, outside the figure
        configure(shop, store_url, sim.base_url, None, unpaced=False)
        admin.set_faults(latency_ms=LATENCY_MS, jitter_ms=0, methods=["deliveryorder.create"])
        bridge = Bridge.from_airflow(f"bench_push_{tag}")
        before = load()
        report = push_orders(bridge)
        arrivals = sorted(datetime.fromisoformat(r["received_at"]).timestamp()
                          for r in admin.requests(method="deliveryorder.create"))
        bridge.store.engine.dispose()
        bridge.shop.dispose()
        os.environ.pop("WMS_RATE_LIMIT_DIR")
    achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    # the fullest one-second window [t, t + 1) that starts at an arrival (the simulator logs to the ms)
    busiest, j = 0, 0
    for i, t in enumerate(arrivals):
        while j < len(arrivals) and arrivals[j] < t + 1 - 1e-6:
            j += 1
        busiest = max(busiest, j - i)
    return {"backend": backend, "set_rate": set_rate, "concurrency": BridgeConfig.push_concurrency,
            "requests": len(arrivals), "sent": report.sent, "achieved_rate": round(achieved, 3),
            "push_rate_vs_set": round(achieved / set_rate, 3), "busiest_second": busiest, "load": before}


def hook_only(concurrency: int, orders: int = 2000) -> dict:
    """No store, no pipeline: prebuilt bodies through the hook in C threads, for comparison."""
    from concurrent.futures import ThreadPoolExecutor

    from qimen_provider.hooks.qimen import QimenHook

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from transform_speed import SETTINGS, make_frames
    from wmsbridge.transforms import build_delivery_orders
    from qimen.timeutil import now_beijing

    order_frame, line_frame = make_frames(orders)
    settings = SETTINGS.__class__(**{**SETTINGS.__dict__, "warehouse_code": WAREHOUSE, "owner_code": OWNER})
    bodies = list(build_delivery_orders(order_frame, line_frame, settings=settings, now=now_beijing()).documents["body"])
    runs = CACHE / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    with BenchSimulator(runs / f"hook-only-c{concurrency}.log", allow_unknown_items=True) as sim:
        configure(Path("/nonexistent"), "sqlite://", sim.base_url, concurrency)
        from wms_simulator.client import SimulatorAdmin

        SimulatorAdmin(sim.base_url).set_faults(latency_ms=LATENCY_MS, jitter_ms=0, methods=["deliveryorder.create"])
        hook = QimenHook(qimen_conn_id="qimen_default", pool_maxsize=max(8, concurrency))
        before = load()
        started, cpu_started = time.monotonic(), time.process_time()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            done = sum(1 for r in pool.map(lambda body: hook.call("deliveryorder.create", body), bodies) if r)
        total, cpu = time.monotonic() - started, time.process_time() - cpu_started
    bound = concurrency / (LATENCY_MS / 1000)
    return {"backend": "no store (hook only)", "concurrency": concurrency, "sent": done,
            "orders_per_s": round(done / total, 1), "push_vs_bound": round(done / total / bound, 3),
            "cpu_ms_per_order": round(cpu * 1000 / max(done, 1), 2), "load": before}


def run(backends: list[str], concurrencies: list[int], paid: int, paid_c1: int | None = None) -> list[dict]:
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # each store's migration steps otherwise
    rows = []
    for backend in backends:
        for c in concurrencies:
            n = paid_c1 if (c == 1 and paid_c1) else paid
            shop_file(n)  # generating the shop is not part of any figure
            row = measure(backend, c, n)
            rows.append(row)
            print(f"  {row['backend']:10} C={c}: {row['sent']:,} sent in {row['push_window_s']:.1f}s = "
                  f"{row['orders_per_s']:,.0f} orders/s of a bound of {row['bound_orders_per_s']:,.0f} -> "
                  f"push_vs_bound {row['push_vs_bound']:.2f} (end to end {row['end_to_end_orders_per_s']:,.0f}/s, "
                  f"{row['cpu_ms_per_order']:.1f} ms CPU/order; "
                  f"{row['load']})", flush=True)
    return rows


def rate_line(row: dict) -> str:
    return (f"  {row['backend']:10} at the default {row['set_rate']:g} requests/s, C={row['concurrency']}: "
            f"{row['requests']} requests at {row['achieved_rate']:.3f}/s -> push_rate_vs_set {row['push_rate_vs_set']:.3f}, "
            f"busiest one-second window {row['busiest_second']} ({row['load']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3300, help="paid orders in the shop (about 95 %% valid)")
    parser.add_argument("--orders-c1", type=int, help="fewer paid orders for C = 1 (it takes orders x 20 ms)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--hook-only", action="store_true",
                        help="also measure without store and pipeline, at the highest concurrency")
    parser.add_argument("--hook-only-orders", type=int, default=2000)
    parser.add_argument("--rate", action="store_true", help="only the figure at the connection's default rate")
    parser.add_argument("--rate-orders", type=int, default=150, help="paid orders for --rate")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.rate:
        row = at_default_rate(args.rate_orders)
        print(rate_line(row), flush=True)
        if args.json:
            print(json.dumps(row))
        return
    print(f"push vs bound at {LATENCY_MS} ms latency (bound = C / {LATENCY_MS / 1000})")
    rows = run(args.backends, args.concurrency, args.orders, args.orders_c1)
    if args.hook_only:
        c = max(args.concurrency)
        row = hook_only(c, args.hook_only_orders)
        rows.append(row)
        print(f"  no store   C={c}: {row['orders_per_s']:,.0f} orders/s -> push_vs_bound {row['push_vs_bound']:.2f} "
              f"({row['cpu_ms_per_order']:.1f} ms CPU/order; {row['load']})", flush=True)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
