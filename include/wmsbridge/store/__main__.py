"""``python -m wmsbridge.store upgrade --url URL`` (also ``current``, ``heads``)."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.engine import make_url

from . import migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wmsbridge.store", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upgrade", help="create or upgrade the store's tables (idempotent)")
    up.add_argument("--url", required=True, help="SQLAlchemy URL of the database holding the store")
    up.add_argument("--revision", default="head")
    cur = sub.add_parser("current", help="print the revision the database is at")
    cur.add_argument("--url", required=True)
    sub.add_parser("heads", help="print the newest revision this code ships")
    args = parser.parse_args(argv)

    if args.command == "heads":
        print(migrate.head_revision())
        return 0
    target = make_url(args.url).render_as_string(hide_password=True)
    if args.command == "upgrade":
        revision = migrate.upgrade(args.url, args.revision)
        print(f"{target}: at {revision}")
    else:
        print(migrate.current_revision(args.url) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
