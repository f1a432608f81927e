"""Portable bulk statements: "insert unless present" and "insert or update" on SQLite, PostgreSQL
and MySQL/MariaDB, each sent as one multi-row statement per batch (the pipelines write 200,000
orders at a time, so row-by-row round trips are not an option)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection

BATCH = 2000


def batches(rows: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _dialect_insert(conn: Connection, table: sa.Table):
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    if name in ("mysql", "mariadb"):
        return mysql.insert(table)
    raise NotImplementedError(f"the store does not support {name}")


def insert_ignoring_duplicates(
    conn: Connection, table: sa.Table, rows: Sequence[dict], key: Sequence[str]
) -> None:
    """Insert ``rows``; a row whose unique ``key`` already exists is skipped, not an error, so two
    runs inserting the same keys at once both succeed."""
    if not rows:
        return
    stmt = _dialect_insert(conn, table)
    if conn.dialect.name in ("mysql", "mariadb"):
        # ``key = key`` is MySQL's no-op update; INSERT IGNORE would also hide truncation errors.
        stmt = stmt.on_duplicate_key_update({key[0]: table.c[key[0]]})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    for batch in batches(rows):
        conn.execute(stmt, list(batch))


def upsert(
    conn: Connection, table: sa.Table, rows: Sequence[dict], key: Sequence[str], update: Sequence[str]
) -> None:
    """Insert ``rows``, or overwrite ``update`` columns of the row with the same unique ``key``."""
    if not rows:
        return
    stmt = _dialect_insert(conn, table)
    if conn.dialect.name in ("mysql", "mariadb"):
        stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in update})
    else:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key), set_={c: stmt.excluded[c] for c in update}
        )
    for batch in batches(rows):
        conn.execute(stmt, list(batch))


_MYSQL_RETRY_CODES = {1213, 1205}  # deadlock, lock wait timeout
_PG_RETRY_CODES = {"40P01", "40001"}  # deadlock detected, serialization failure


def is_transient_conflict(exc: BaseException) -> bool:
    """A lock conflict between concurrent writers that succeeds when the transaction is re-run
    (InnoDB deadlocks on overlapping unique-key inserts, PostgreSQL deadlocks, SQLite busy)."""
    if not isinstance(exc, sa.exc.DBAPIError) or exc.connection_invalidated:
        return False
    orig = exc.orig
    if getattr(orig, "pgcode", None) in _PG_RETRY_CODES:
        return True
    args = getattr(orig, "args", ())
    if args and args[0] in _MYSQL_RETRY_CODES:
        return True
    return "database is locked" in str(orig)
