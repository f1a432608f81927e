"""Print how fast the store registers and re-registers 200,000 orders on each backend.

    python benchmarks/store_registration.py [--orders 200000] [--backends sqlite,postgresql,mariadb]

Speed is printed, never asserted (it depends on the machine). Uses throwaway databases.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared throwaway-database helper

from databases import BACKENDS, throwaway_database  # noqa: E402
from wmsbridge.store import IntegrationStore, create_store_engine, migrate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args()
    paid = datetime(2026, 3, 1, tzinfo=timezone.utc)
    rows = [
        {"delivery_order_code": f"SO{i:09d}", "shop_order_id": str(i), "paid_at": paid + timedelta(seconds=i)}
        for i in range(args.orders)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            with throwaway_database(backend, Path(tmp)) as url:
                engine = create_store_engine(url)
                migrate.upgrade(engine)
                store = IntegrationStore(engine)
                t0 = time.perf_counter()
                new = store.orders.ensure_pending(rows, run_id="bench")
                t1 = time.perf_counter()
                again = store.orders.ensure_pending(rows, run_id="bench")
                t2 = time.perf_counter()
                states = store.orders.states(r["delivery_order_code"] for r in rows)
                t3 = time.perf_counter()
                print(
                    f"{backend:10s} ensure_pending {new:>7,} new: {t1 - t0:6.1f}s ({new / (t1 - t0):>8,.0f}/s) | "
                    f"re-run ({again} new): {t2 - t1:5.1f}s | order_states: {t3 - t2:5.1f}s ({len(states):,})"
                )
                engine.dispose()


if __name__ == "__main__":
    main()
