"""Engines for the store with the settings every database needs, whatever URL the connection gives."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

SQLITE_BUSY_TIMEOUT_S = 30


def store_url(url: str | URL) -> URL:
    """``url`` with the store's requirements added: utf8mb4 on MySQL/MariaDB (Chinese text, emoji)."""
    url = make_url(url)
    if url.get_backend_name() in ("mysql", "mariadb") and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url


def create_store_engine(url: str | URL, **kwargs) -> Engine:
    """An Engine for the store. SQLite waits for the write lock instead of failing at once, so
    concurrent runs serialise their claims; other databases check connections before use."""
    url = store_url(url)
    if url.get_backend_name() == "sqlite":
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, **kwargs.pop("connect_args", {})}
        return sa.create_engine(url, connect_args=connect_args, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    if url.get_driver_name() == "psycopg2":
        # executemany UPDATEs (the push's batches of answers) in pages, not one round trip per row;
        # the store never reads an executemany's rowcount.
        kwargs.setdefault("executemany_mode", "values_plus_batch")
    return sa.create_engine(url, **kwargs)
