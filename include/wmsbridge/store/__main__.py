"""``python -m wmsbridge.store upgrade`` (also ``current``, ``heads``): the store's deploy step.

Where the store is: ``--url URL``, or ``--conn-id ID`` (an Airflow connection, read as the tasks
read it), or neither: the connection the bridge settings name (``store_conn_id``, else
``shop_conn_id``, from the ``wms_bridge_config`` Variable or ``WMS_BRIDGE_CONFIG``). ``make migrate``
runs the last form. Tasks never migrate; they check the revision (``migrate.require_current``).
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.engine import make_url

from wmsbridge.errors import ConfigError

from . import migrate


def store_url(url: str | None, conn_id: str | None) -> str:
    """The store's URL from the arguments, an Airflow connection, or the bridge settings."""
    if url:
        return url
    from wmsbridge.connections import url_from_connection

    if not conn_id:
        from wmsbridge.config import load_config

        config = load_config()
        conn_id = config.store_conn_id or config.shop_conn_id
    from airflow.sdk import BaseHook

    try:
        return url_from_connection(BaseHook.get_connection(conn_id))
    except Exception as err:  # noqa: BLE001 - a missing connection, named
        raise ConfigError(f"cannot read the Airflow connection {conn_id!r}: {err}") from err


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wmsbridge.store", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("upgrade", "create or upgrade the store's tables (idempotent)"),
                       ("current", "print the revision the database is at")):
        cmd = sub.add_parser(name, help=text)
        where = cmd.add_mutually_exclusive_group()
        where.add_argument("--url", help="SQLAlchemy URL of the database holding the store")
        where.add_argument("--conn-id", help="Airflow connection of the store (default: from the bridge settings)")
        if name == "upgrade":
            cmd.add_argument("--revision", default="head")
    sub.add_parser("heads", help="print the newest revision this code ships")
    args = parser.parse_args(argv)

    if args.command == "heads":
        print(migrate.head_revision())
        return 0
    try:
        url = store_url(args.url, args.conn_id)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    target = make_url(url).render_as_string(hide_password=True)
    if args.command == "upgrade":
        revision = migrate.upgrade(url, args.revision)
        print(f"{target}: at {revision}")
    else:
        print(migrate.current_revision(url) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
