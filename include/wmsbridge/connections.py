"""SQLAlchemy engines for the shop database and the integration store, from Airflow connections.

A shop can be any SQLAlchemy URL. The connection gives it either as extra `sqlalchemy_url` (works for
every database, the embedded SQLite default included) or through the usual fields of a `postgres`,
`mysql` or `sqlite` connection. Engines are cached per process so a task's chunks share one pool.
"""

from __future__ import annotations

import threading
from urllib.parse import quote

from sqlalchemy import Engine, event

from wmsbridge.errors import ConfigError
from wmsbridge.store.engine import create_store_engine

_DRIVERS = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def url_from_connection(conn) -> str:
    extra = conn.extra_dejson or {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    ctype = (conn.conn_type or "").lower()
    if ctype == "sqlite":
        if not conn.host:
            raise ConfigError(f"connection {conn.conn_id!r}: a sqlite connection needs the database file in Host")
        return f"sqlite:///{conn.host}"
    if ctype not in _DRIVERS:
        raise ConfigError(
            f"connection {conn.conn_id!r}: type {ctype!r} is not a supported shop database; "
            "set extra 'sqlalchemy_url' or use a postgres/mysql/sqlite connection"
        )
    auth = ""
    if conn.login:
        auth = quote(conn.login, safe="")
        if conn.password:
            auth += ":" + quote(conn.password, safe="")
        auth += "@"
    port = f":{conn.port}" if conn.port else ""
    return f"{_DRIVERS[ctype]}://{auth}{conn.host}{port}/{conn.schema or ''}"  # utf8mb4: create_store_engine


def engine_for_url(url: str) -> Engine:
    """One Engine per URL and process, with the store's settings (utf8mb4, pre-ping, SQLite waits
    for the write lock) and, on SQLite, the pragmas below."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_store_engine(url)
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            _engines[url] = engine
        return engine


def engine_for_conn_id(conn_id: str) -> Engine:
    from airflow.sdk import BaseHook

    return engine_for_url(url_from_connection(BaseHook.get_connection(conn_id)))


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the shop keep writing while a run reads; busy_timeout waits instead of failing on a lock.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # In WAL, NORMAL survives a crash of the process and loses at most the last commits on power loss:
    # an order then falls back to pending/sending and is re-sent under the same code (idempotent).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
