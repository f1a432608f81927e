"""Print the synthetic generator's speed: 100,000 orders into SQLite, and PostgreSQL when it is up.

python benchmarks/generator_speed.py [--orders 100000] [--profile litemall]
Speed is printed, never asserted.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from wmsbridge.synthetic import generate

PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def run(url: str, profile: str, orders: int) -> None:
    engine = create_engine(url)
    started = time.perf_counter()
    manifest = generate(engine, profile, orders=orders, skus=max(orders // 50, 100), seed=1)
    elapsed = time.perf_counter() - started
    engine.dispose()
    print(f"{engine.dialect.name:10} {profile:9} {orders:>9,} orders {manifest.lines:>9,} lines "
          f"{elapsed:7.1f}s  {orders / elapsed:>9,.0f} orders/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--profile", default="litemall", choices=["litemall", "reference"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'shop.db'}", args.profile, args.orders)
    name = f"shop_bench_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:  # noqa: BLE001
        print(f"postgresql skipped: {exc.__class__.__name__}")
        return
    try:
        run(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", args.profile, args.orders)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))


if __name__ == "__main__":
    main()
