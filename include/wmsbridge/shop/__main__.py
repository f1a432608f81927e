"""``python -m wmsbridge.shop check --profile P (--url URL | --conn-id ID)``: try a profile on a shop.

Runs each read query of the profile against the shop (nothing is written), prints sample rows as
the pipelines will see them and every problem; exit status 1 when there is one.
"""

from __future__ import annotations

import argparse
import sys

from wmsbridge.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wmsbridge.shop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="run a profile's read queries against a shop; show samples and problems "
                                         "(检查店铺配置)")
    check.add_argument("--profile", required=True,
                       help="a shipped profile name (reference, litemall) or the path of your YAML file")
    where = check.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="SQLAlchemy URL of the shop, e.g. mysql+pymysql://user:pw@host:3306/shop")
    where.add_argument("--conn-id", help="an Airflow connection id of the shop (e.g. shop_db)")
    check.add_argument("--samples", type=int, default=3, help="rows shown per query (default 3)")
    args = parser.parse_args(argv)

    from wmsbridge.connections import engine_for_conn_id, engine_for_url
    from wmsbridge.shop.profile_check import check_profile, render

    try:
        engine = engine_for_url(args.url) if args.url else engine_for_conn_id(args.conn_id)
    except ConfigError as err:
        print(f"cannot open the shop: {err}", file=sys.stderr)
        return 2
    try:
        result = check_profile(args.profile, engine, sample_size=max(1, args.samples))
    finally:
        engine.dispose()
    print(render(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
