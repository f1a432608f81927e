"""Print whether extracting new paid orders costs the same whatever the shop's history (PostgreSQL).

Two reference shops on 127.0.0.1:5432, each with about 1,000 paid (new) orders, one with 10,000
and one with 1,000,000 historical (completed) orders and their lines. A scheduled push extracts
every paid order (``ShopReader.iter_paid_orders``, chunks of 2,000, lines included); with the
``(status, paid_at)`` index that is an index range scan, so ``extract_ratio_1m_vs_10k`` (time with
1M history / time with 10k) should stay near 1 (target <= 1.5).

The shops are kept between runs as databases ``wms_bench_extract_10000`` and
``wms_bench_extract_1000000`` with a ``bench_marker`` table saying what they hold: building the
million-row shop takes a minute or two once, later runs reuse it. ``--rebuild`` starts over.

    python benchmarks/extract_scaling.py [--history 10000 1000000] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import sqlalchemy as sa

PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/"
NEW_PAID = 1_000
VERSION = "1"  # bump when the way the shops are built changes
PAID_SHARE = 0.30  # the generator's share of paid orders (STATUS_MIX)


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def shop(history: int, rebuild: bool = False) -> sa.Engine:
    """The cached shop with ``history`` historical orders, built when missing or stale."""
    name = f"wms_bench_extract_{history}"
    admin = sa.create_engine(PG + "postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        engine = sa.create_engine(PG + name)
        if exists and not rebuild and _marker(engine) == {"history": history, "paid": NEW_PAID, "version": VERSION}:
            return engine
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    finally:
        admin.dispose()
    engine = sa.create_engine(PG + name)
    _build(engine, history)
    return engine


def _marker(engine: sa.Engine) -> dict | None:
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT history, paid, version FROM bench_marker")).first()
    except sa.exc.DBAPIError:
        return None
    return dict(row._mapping) if row else None


def _build(engine: sa.Engine, history: int) -> None:
    from wmsbridge_tools.synthetic import generate

    started = time.monotonic()
    print(f"  building the shop with {history:,} historical orders (cached afterwards) ...", flush=True)
    base = math.ceil(NEW_PAID / PAID_SHARE)
    generate(engine, "reference", orders=base, skus=500, seed=7, bad_share=0.0)
    with engine.begin() as conn:
        paid = conn.execute(sa.text("SELECT count(*) FROM shop_order WHERE status = 'paid'")).scalar_one()
        # History = copies of the generated orders, completed months earlier, with their lines.
        copies = math.ceil(history / base)
        conn.execute(sa.text("""
            INSERT INTO shop_order (id, order_no, status, buyer_nick, receiver_name, receiver_mobile, receiver_phone,
                receiver_province, receiver_city, receiver_district, receiver_town, receiver_detail, receiver_zip,
                buyer_message, seller_message, item_amount, discount_amount, freight, total_amount, carrier_code,
                tracking_no, created_at, paid_at, shipped_at, updated_at)
            SELECT o.id + g::bigint * 10000000, o.order_no || '-H' || g, 'completed', o.buyer_nick, o.receiver_name,
                o.receiver_mobile, o.receiver_phone, o.receiver_province, o.receiver_city, o.receiver_district,
                o.receiver_town, o.receiver_detail, o.receiver_zip, o.buyer_message, o.seller_message, o.item_amount,
                o.discount_amount, o.freight, o.total_amount, coalesce(o.carrier_code, 'YTO'), 'T' || o.id || '-' || g,
                o.created_at - g * interval '1 hour', o.created_at - g * interval '1 hour',
                o.created_at - g * interval '1 hour' + interval '1 day', o.created_at - g * interval '1 hour' + interval '5 days'
            FROM shop_order o CROSS JOIN generate_series(1, :copies) g
            WHERE o.id <= (SELECT min(id) FROM shop_order) + :base - 1
            ORDER BY g, o.id
            LIMIT :history
        """), {"copies": copies, "base": base, "history": history})
        conn.execute(sa.text("""
            INSERT INTO shop_order_line (id, order_id, line_no, sku_id, sku_code, item_name, quantity, price, retail_price)
            SELECT l.id + g::bigint * 100000000, l.order_id + g::bigint * 10000000, l.line_no, l.sku_id, l.sku_code, l.item_name,
                l.quantity, l.price, l.retail_price
            FROM shop_order_line l
            CROSS JOIN generate_series(1, :copies) g
            JOIN shop_order h ON h.id = l.order_id + g::bigint * 10000000
        """), {"copies": copies})
        total = conn.execute(sa.text("SELECT count(*) FROM shop_order")).scalar_one()
        conn.execute(sa.text("CREATE TABLE bench_marker (history integer, paid integer, version text)"))
        conn.execute(sa.text("INSERT INTO bench_marker VALUES (:h, :p, :v)"), {"h": history, "p": NEW_PAID, "v": VERSION})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    print(f"  {total:,} orders ({paid:,} paid) in {time.monotonic() - started:.0f}s", flush=True)


def extract_seconds(engine: sa.Engine, repeat: int = 3) -> tuple[float, int]:
    """Best of ``repeat``: every paid order with its lines, as a scheduled push reads them."""
    from wmsbridge.shop.reader import ShopReader

    reader = ShopReader("reference")
    best, orders = math.inf, 0
    for _ in range(repeat):
        started = time.perf_counter()
        orders = sum(len(o) for o, _lines in reader.iter_paid_orders(engine, chunk_size=2000))
        best = min(best, time.perf_counter() - started)
    return best, orders


def measure(histories: list[int], rebuild: bool = False) -> dict:
    rows = {}
    for history in histories:
        engine = shop(history, rebuild)
        seconds, orders = extract_seconds(engine)
        engine.dispose()
        rows[history] = {"history": history, "paid_orders": orders, "seconds": round(seconds, 3), "load": load()}
        print(f"  {history:>9,} historical orders: {orders:,} paid extracted in {seconds:.3f}s ({load()})", flush=True)
    small, big = rows[min(histories)], rows[max(histories)]
    return {"runs": list(rows.values()), "extract_ratio": round(big["seconds"] / small["seconds"], 2),
            "history_ratio": max(histories) // min(histories)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, nargs=2, default=[10_000, 1_000_000])
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached shops")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(sorted(args.history), args.rebuild)
    print(f"extract ratio {result['extract_ratio']:.2f} for {result['history_ratio']}x the history (target <= 1.5)")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
