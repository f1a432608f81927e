"""CLI: fill a shop database with synthetic data and print the manifest as JSON.

python -m wmsbridge_tools.synthetic --profile litemall --url sqlite:///shop.db --orders 100000 --skus 2000 \
    --seed 7 --bad-share 0.05 --from 2026-11-01 --to 2026-11-28
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date

from sqlalchemy import create_engine

from wmsbridge_tools.synthetic.generator import DEFAULT_BATCH, generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wmsbridge_tools.synthetic", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, choices=["reference", "litemall"])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the shop database")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bad-share", type=float, default=0.05)
    parser.add_argument("--from", dest="date_from", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--to", dest="date_to", type=date.fromisoformat, default=date(2026, 11, 28))
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--manifest", help="also write the manifest JSON to this file")
    args = parser.parse_args(argv)

    engine = create_engine(args.url)
    started = time.perf_counter()
    manifest = generate(engine, args.profile, orders=args.orders, skus=args.skus, seed=args.seed,
                        bad_share=args.bad_share, date_from=args.date_from, date_to=args.date_to,
                        batch_size=args.batch_size)
    elapsed = time.perf_counter() - started
    out = manifest.to_json()
    if args.manifest:
        with open(args.manifest, "w", encoding="utf-8") as fh:
            fh.write(out)
    print(out)
    print(f"{args.orders} orders in {elapsed:.1f}s ({args.orders / max(elapsed, 1e-9):,.0f} orders/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
