"""What every repository of the store shares: its refusals, size limits, small value helpers and
``Repository`` (the engine and clock, bulk inserts, lookups by key, conflict retries).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from .dialect_sql import batches, insert_ignoring_duplicates, is_transient_conflict
from .schema import DEFAULT_BRIDGE
from .types import UtcDateTime

MESSAGE_MAX = 4000  # error messages are for people; the full answer is in wms_exchange_log
REASON_MAX = 500
LOOKUP_CHUNK = 1000  # codes per IN (...) list
INSERT_CHUNK = 5000  # rows per transaction in bulk registration
DEFAULT_STALE_SENDING = timedelta(minutes=30)
CONFLICT_RETRIES = 5


class StoreError(Exception):
    """Base class of the store's refusals."""


class UnknownOrder(StoreError, LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"order {code!r} is not in wms_order_sync")
        self.code = code


class InvalidTransition(StoreError):
    def __init__(self, code: str, current: str, target: str) -> None:
        super().__init__(f"order {code!r}: {current} -> {target} is not allowed")
        self.code, self.current, self.target = code, current, target


def _clip(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


def _violations_json(violations: Iterable[Any]) -> str:
    """Violations as a JSON array of strings (``str(qimen.validation.Violation)`` or plain text)."""
    return json.dumps([str(v) for v in violations], ensure_ascii=False)


def _utc(now: datetime) -> sa.BindParameter:
    """``now`` as a bound value with the store's UTC type, for use inside SQL expressions."""
    return sa.literal(now, UtcDateTime())


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def updated_all(conn, statement: sa.Update, count: int) -> bool:
    """Run a set-based UPDATE that should change ``count`` rows, inside a savepoint: kept when it
    did, undone when it changed fewer (another run moved some of them meanwhile); the caller then
    moves the rows one by one, each with its own conditional UPDATE."""
    savepoint = conn.begin_nested()
    if conn.execute(statement).rowcount == count:
        savepoint.commit()
        return True
    savepoint.rollback()
    return False


class RunRef(str):
    """An Airflow run id that knows its DAG. Run ids repeat across DAGs (``scheduled__<time>`` of
    wms_order_push and wms_order_cancel are the same text), so the store keeps ``dag_id`` beside
    every ``run_id`` it writes; a plain ``str`` run id (tests, tools) leaves ``dag_id`` empty."""

    dag_id: str | None

    def __new__(cls, run_id: str, dag_id: str | None = None) -> RunRef:
        ref = super().__new__(cls, run_id)
        ref.dag_id = dag_id
        return ref


def dag_of(run_id: str | None) -> str | None:
    return run_id.dag_id if isinstance(run_id, RunRef) else None


def run_columns(run_id: str | None) -> dict[str, Any]:
    """``run_id`` and ``dag_id`` values for a row the run writes (both None without a run)."""
    return {"run_id": None if run_id is None else str(run_id), "dag_id": dag_of(run_id)}


# Values that clear a person's "handled" mark: set with every change of a row's state, so a row
# that moves on and waits again shows again (store/attention.py).
UNHANDLED: dict[str, Any] = {"handled_at": None, "handled_by": None}


def _run(run_id: str | None) -> dict[str, Any]:
    """``run_columns`` for an UPDATE: nothing at all without a run (the last run's mark stays)."""
    return run_columns(run_id) if run_id is not None else {}


@dataclass(frozen=True)
class InboxInsert:
    """Result of storing a callback once per key: ``already_seen`` for a repeated key (then
    ``inbox_id`` is the first copy's)."""

    inbox_id: int
    already_seen: bool


class Repository:
    """One aggregate's table(s) of one bridge over an Engine, every change one transaction, every
    timestamp from ``clock`` (aware UTC). Cheap to create; holds no connection between calls.

    Every row is one bridge's (``bridge_id``): each statement reads and changes that bridge's rows
    only (``_mine``) and every row it writes carries it (``_own``), so two shops that share order
    or SKU codes never touch each other's records."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], bridge_id: str = DEFAULT_BRIDGE) -> None:
        self.engine, self.clock, self.bridge_id = engine, clock, bridge_id

    def _mine(self, table: sa.Table) -> sa.ColumnElement[bool]:
        """This bridge's rows of ``table``."""
        return table.c.bridge_id == self.bridge_id

    def _own(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` as this bridge's."""
        return {**row, "bridge_id": self.bridge_id}

    def _insert_once(self, insert: Callable[[Connection], int], existing: sa.Select) -> InboxInsert:
        """Run ``insert`` (returns the new row's id) in one transaction; when a unique key says the
        row is stored already (a callback repeated, two at once), the stored row's id from
        ``existing`` instead."""
        try:
            with self.engine.begin() as conn:
                return InboxInsert(insert(conn), already_seen=False)
        except IntegrityError:
            with self.engine.connect() as conn:
                found = conn.execute(existing).scalar_one_or_none()
            if found is None:
                raise
            return InboxInsert(found, already_seen=True)

    def _insert_missing(self, table: sa.Table, key: str, rows: list[dict[str, Any]]) -> int:
        """Insert the rows whose ``key`` is not stored yet, batch by batch; returns how many."""
        unique: dict[str, dict[str, Any]] = {}
        for row in rows:
            unique.setdefault(row[key], self._own(row))
        rows = list(unique.values())
        inserted = 0
        for chunk in batches(rows, INSERT_CHUNK):
            inserted += self._retrying(lambda: self._insert_missing_chunk(table, key, chunk))
        return inserted

    def _insert_missing_chunk(self, table: sa.Table, key: str, chunk: Sequence[dict[str, Any]]) -> int:
        with self.engine.begin() as conn:
            existing: set[str] = set()
            for codes in batches([r[key] for r in chunk], LOOKUP_CHUNK):
                existing.update(conn.execute(sa.select(table.c[key]).where(self._mine(table), table.c[key].in_(codes)))
                                .scalars())
            new = [r for r in chunk if r[key] not in existing]
            if not new:
                return 0
            try:
                # Plain multi-row INSERT is the fast path (several times faster than the
                # conflict-tolerant form on PostgreSQL); a concurrent run that inserted some of the
                # same keys meanwhile sends us to the tolerant one.
                with conn.begin_nested():
                    conn.execute(sa.insert(table), new)
            except IntegrityError:
                insert_ignoring_duplicates(conn, table, new, ["bridge_id", key])
            return len(new)

    @staticmethod
    def _retrying(work: Callable[[], Any]) -> Any:
        """Run a whole transaction again when concurrent writers deadlocked on it."""
        for attempt in range(CONFLICT_RETRIES):
            try:
                return work()
            except sa.exc.DBAPIError as exc:
                if attempt == CONFLICT_RETRIES - 1 or not is_transient_conflict(exc):
                    raise
        raise AssertionError("unreachable")

    def _rows_by_key(
        self, table: sa.Table, key: str, values: Iterable[str], columns: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        cols = [table.c[name] for name in columns] if columns else list(table.c)
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for chunk in batches(list(dict.fromkeys(values)), LOOKUP_CHUNK):
                for row in conn.execute(sa.select(*cols).where(self._mine(table), table.c[key].in_(chunk))):
                    out[row._mapping[key]] = dict(row._mapping)
        return out
