"""``python -m wmsbridge.store upgrade`` (also ``current``, ``heads``): the store's deploy step.

Where the store is: ``--url URL``, or ``--conn-id ID`` (an Airflow connection, read as the tasks
read it), or neither: every store the bridge settings name (each bridge's ``store_conn_id``, else
its ``shop_conn_id``, from the ``wms_bridge_config`` Variable or ``WMS_BRIDGE_CONFIG``; bridges sharing
a store migrate it once). ``make migrate`` runs the last form. Tasks never migrate; they check the
revision (``migrate.require_current``).
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.engine import make_url

from wmsbridge.errors import ConfigError

from . import migrate


def store_urls(url: str | None, conn_id: str | None) -> list[str]:
    """The stores' URLs: from the arguments, else every bridge's store connection (each once)."""
    if url or conn_id:
        return [store_url(url, conn_id)]
    from wmsbridge.config import load_deployment

    deployment = load_deployment()
    conn_ids = dict.fromkeys(c.store_conn_id or c.shop_conn_id for c in deployment.bridges.values())
    return [store_url(None, conn_id) for conn_id in conn_ids]


def store_url(url: str | None, conn_id: str | None) -> str:
    """The store's URL from the arguments or an Airflow connection."""
    if url:
        return url
    from wmsbridge.connections import url_from_connection
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
        urls = store_urls(args.url, args.conn_id)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for url in urls:
        target = make_url(url).render_as_string(hide_password=True)
        if args.command == "upgrade":
            revision = migrate.upgrade(url, args.revision)
            print(f"{target}: at {revision}")
        else:
            current = migrate.current_revision(url) or "none"
            print(current if len(urls) == 1 else f"{target}: {current}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
