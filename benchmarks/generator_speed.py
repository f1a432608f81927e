"""Print the synthetic generator's speed: orders into SQLite, and PostgreSQL when it is up.

python benchmarks/generator_speed.py [--orders 100000] [--profile litemall] [--backends sqlite postgresql]
python benchmarks/generator_speed.py --orders 1000000       # the million-order figure

SQLite writes a file in a temporary folder; PostgreSQL a throwaway database on 127.0.0.1:5432
(created next to ``test``, dropped afterwards). Speed is printed, never asserted.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from wmsbridge_tools.synthetic import generate

PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")


def run(url: str, profile: str, orders: int, skus: int) -> None:
    engine = create_engine(url)
    started = time.perf_counter()
    manifest = generate(engine, profile, orders=orders, skus=skus, seed=1)
    elapsed = time.perf_counter() - started
    engine.dispose()
    print(f"{engine.dialect.name:10} {profile:9} {orders:>9,} orders {skus:>7,} SKUs {manifest.lines:>9,} lines "
          f"{elapsed:7.1f}s  {orders / elapsed:>9,.0f} orders/s", flush=True)


def run_sqlite(profile: str, orders: int, skus: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'shop.db'}", profile, orders, skus)


def run_postgresql(profile: str, orders: int, skus: int) -> None:
    name = f"shop_bench_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:  # noqa: BLE001 - no server is a skip, not a failure, for a benchmark
        print(f"postgresql skipped: {exc.__class__.__name__}")
        admin.dispose()
        return
    try:
        run(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", profile, orders, skus)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--skus", type=int, help="default: one SKU per 50 orders, at least 100")
    parser.add_argument("--profile", default="litemall", choices=["litemall", "reference"])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    args = parser.parse_args()
    skus = args.skus or max(args.orders // 50, 100)
    for backend in args.backends:
        {"sqlite": run_sqlite, "postgresql": run_postgresql}[backend](args.profile, args.orders, skus)


if __name__ == "__main__":
    main()
