"""Print how long the daily stock sync takes for 100,000 SKUs, and the write-back's share of it.

    python benchmarks/inventory_sync.py [--skus 100000] [--latency-ms 20] [--batch-size 100]
        [--rate 0] [--concurrency 4] [--backends sqlite,postgresql,mariadb]

A generated reference shop with ``--skus`` SKUs on each backend, every SKU registered as known to
the warehouse, the simulator over HTTP answering every call after ``--latency-ms``, stock in the
warehouse one more than in the shop (so nearly every SKU is written back). ``--rate`` is
``inventory_requests_per_second`` (0: unpaced, to see the bridge's own cost; production paces).
Speed is printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared throwaway-database helper

import sqlalchemy as sa  # noqa: E402
from databases import BACKENDS, throwaway_database  # noqa: E402
from wms_simulator.pytest_plugin import start_simulator  # noqa: E402
from wmsbridge.config import ENV_KEY  # noqa: E402
from wmsbridge.pipelines.inventory import run_inventory_sync  # noqa: E402
from wmsbridge.pipelines.runtime import Bridge  # noqa: E402
from wmsbridge.shop.reader import read_all  # noqa: E402
from wmsbridge.store import create_store_engine, migrate  # noqa: E402
from wmsbridge.store.schema import item_sync  # noqa: E402
from wmsbridge_tools.synthetic.generator import generate  # noqa: E402

WAREHOUSE, OWNER = "WH01", "OWNER01"


def run(backend: str, tmp: Path, args) -> dict:
    with throwaway_database(backend, tmp, prefix="benchinv") as url:
        engine = create_store_engine(url)
        t0 = time.perf_counter()
        generate(engine, "reference", orders=args.orders, skus=args.skus, seed=3, bad_share=0.0,
                 date_from=date(2026, 11, 20), date_to=date(2026, 11, 28))
        migrate.upgrade(engine)
        sim = start_simulator(warehouse_code=WAREHOUSE, owner_code=OWNER, faults={"latency_ms": args.latency_ms})
        try:
            os.environ["AIRFLOW_CONN_SHOP_DB"] = json.dumps(
                {"conn_type": "generic", "extra": {"sqlalchemy_url": url.render_as_string(hide_password=False)}})
            os.environ["AIRFLOW_CONN_QIMEN_DEFAULT"] = json.dumps({
                "conn_type": "qimen", "host": sim.base_url, "login": "app-key", "password": sim.secret,
                "extra": {"customer_id": sim.customer_id, "owner_code": OWNER, "warehouse_code": WAREHOUSE,
                          "max_requests_per_second": 0}})
            os.environ[ENV_KEY] = json.dumps({
                "profile": "reference", "inventory_batch_size": args.batch_size,
                "inventory_requests_per_second": args.rate, "push_concurrency": args.concurrency})
            bridge = Bridge.from_airflow("bench")
            skus = read_all(bridge.reader.iter_changed_skus(bridge.shop, None, 10_000))
            skus = skus.drop_duplicates("item_code")
            now = datetime.now(timezone.utc)  # every SKU as an item sync left it: synced
            with engine.begin() as conn:
                conn.execute(sa.insert(item_sync), [
                    {"item_code": s.item_code, "sku_id": str(s.sku_id), "state": "synced", "attempts": 1,
                     "created_at": now, "updated_at": now} for s in skus.itertuples()])
            shop = bridge.reader.read_stock(bridge.shop, skus["sku_id"])
            stock = [{"itemCode": s.item_code, "quantity": shop[str(s.sku_id)] + 1} for s in skus.itertuples()]
            for start in range(0, len(stock), 10_000):
                sim.admin.seed_stock(stock[start:start + 10_000])
            setup = time.perf_counter() - t0

            report, stats = run_inventory_sync(bridge)
            total = stats.seconds["total"]
            share = stats.seconds.get("write_back", 0.0) / total if total else 0.0
            print(f"{backend:10s} {stats.skus_queried:,} SKUs in {stats.calls:,} calls "
                  f"(batch {args.batch_size}, latency {args.latency_ms} ms, rate {args.rate or 'unpaced'}, "
                  f"{args.concurrency} threads): {total:6.1f} s | query {stats.seconds['query']:.1f} s, "
                  f"snapshot {stats.seconds['snapshot']:.1f} s ({stats.rows_saved:,} rows), "
                  f"decide {stats.seconds['decide']:.1f} s, write-back {stats.seconds.get('write_back', 0):.1f} s "
                  f"({stats.skus_written:,} SKUs written) = {share:.0%} of the run | setup {setup:.0f} s "
                  f"({'load average %.2f %.2f %.2f' % os.getloadavg()})", flush=True)
            return {"backend": backend, "skus": stats.skus_queried, "calls": stats.calls, "seconds": round(total, 1),
                    "writeback_share": round(share, 3), "skus_written": stats.skus_written,
                    "phases_s": {k: round(v, 2) for k, v in stats.seconds.items()},
                    "load": "load average %.2f %.2f %.2f" % os.getloadavg()}
        finally:
            sim.server.stop()
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=2_000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--quick", action="store_true", help="20,000 SKUs instead of 100,000 (a smoke run)")
    parser.add_argument("--json", action="store_true", help="a JSON line last (make bench reads it)")
    args = parser.parse_args()
    if args.quick:
        args.skus = min(args.skus, 20_000)
    for noisy in ("wms_simulator", "alembic"):  # one line per request / migration step otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(backend, Path(tmp), args) for backend in args.backends.split(",")]
    if args.json:
        print(json.dumps({"skus": args.skus, "inventory_100k_skus_s": {r["backend"]: r["seconds"] for r in rows},
                          "inventory_writeback_share": {r["backend"]: r["writeback_share"] for r in rows},
                          "rows": rows}))


if __name__ == "__main__":
    main()
