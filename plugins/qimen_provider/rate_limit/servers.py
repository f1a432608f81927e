"""A request schedule on a server every worker machine reaches (``WMS_RATE_LIMIT_URL``): Redis, or a
SQL database. Slots are on the server's clock; a server that cannot be reached is warned about once
per outage and the caller falls back to its machine's schedule (``schedules``)."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any
from urllib.parse import unquote, urlsplit

from qimen_provider.connection import QimenConnectionError

from .schedules import DIR_ENV, MAX_BACKLOG_S, Reservation, key_digest, slot_after

log = logging.getLogger(__name__)
URL_ENV = "WMS_RATE_LIMIT_URL"
# After a failed reservation on the shared server, requests use the local file this long before the
# server is tried again: a black-holed server must not cost every request a connect timeout.
RETRY_SHARED_AFTER_S = 30.0
# Seconds to connect to / hear from the shared server before the request falls back to the local file.
SHARED_CONNECT_TIMEOUT_S = 2.0
SHARED_IO_TIMEOUT_S = 5.0
REDIS_SCHEMES = ("redis", "rediss", "unix")
SQL_BACKENDS = ("postgresql", "mysql", "mariadb", "sqlite")
SLOT_TABLE = "wms_rate_limit_slot"
REDIS_KEY_PREFIX = "wms:rate-limit:"
# An idle key outlives its last reserved slot by this much, then Redis drops it (nothing is lost: an
# expired key and a slot in the past both mean "send now").
REDIS_IDLE_TTL_MS = 60_000


class RateLimitConfigError(QimenConnectionError):
    """``WMS_RATE_LIMIT_URL`` cannot be used as written: retrying cannot fix it. A QimenConnectionError,
    so the pipelines turn it into their ConfigError (no Airflow retries)."""


def redact_url(url: str) -> str:
    """``url`` with its password masked: it goes into logs and error messages."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable URL>"
    return url.replace(f":{password}@", ":***@", 1) if password else url


class SharedSlots:
    """The schedules of one ``WMS_RATE_LIMIT_URL`` in this process: one client (a Redis connection
    pool or a SQLAlchemy engine), and whether the server answered lately.

    ``reserve`` returns None when the server cannot be reached; the limiter then uses its local
    schedule for that request. Warned once per outage; the server is retried after
    ``RETRY_SHARED_AFTER_S``."""

    kind = "shared"

    def __init__(self, url: str) -> None:
        self.shown_url = redact_url(url)
        self._secrets = _secrets_of(url)
        self._state_lock = threading.Lock()
        self._down_until = 0.0
        self._down = False

    def reserve(self, key: str, interval: float) -> Reservation | None:
        if self._down and time.monotonic() < self._down_until:
            return None
        try:
            reservation = self._reserve(key, interval)
        except Exception as err:  # noqa: BLE001 - any failure of the server: fall back, the request goes on
            self._failed(err)
            return None
        if self._down:
            self._recovered()
        return reservation

    def _reserve(self, key: str, interval: float) -> Reservation:
        raise NotImplementedError

    def _failed(self, err: Exception) -> None:
        with self._state_lock:
            first = not self._down
            self._down = True
            self._down_until = time.monotonic() + RETRY_SHARED_AFTER_S
        if first:
            reason = _masked(str(err).strip().split("\n", 1)[0], self._secrets)
            log.warning(
                "rate limit: the %s server %s (%s) cannot be used (%s: %s); limiting per machine through %s "
                "until it can (tried again every %.0fs)",
                self.kind, self.shown_url, URL_ENV, type(err).__name__, reason[:300], DIR_ENV,
                RETRY_SHARED_AFTER_S,
            )

    def _recovered(self) -> None:
        with self._state_lock:
            was_down, self._down = self._down, False
        if was_down:
            log.info("rate limit: the %s server %s answers again; one limit across machines", self.kind,
                     self.shown_url)


def _secrets_of(url: str) -> tuple[str, ...]:
    """The URL's password as written and decoded: either may turn up in a driver's message."""
    try:
        password = urlsplit(url).password or ""
    except ValueError:
        return ()
    return tuple(s for s in {password, unquote(password)} if s)


def _masked(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


# KEYS[1]: the key; ARGV: interval, MAX_BACKLOG_S, idle TTL (ms). Returns {slot, now} as strings (a
# Lua number would come back as a truncated integer). TIME inside a script: Redis >= 5 replicates
# a script's effects, not the script, so a non-deterministic command is allowed.
REDIS_RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local slot = now
local stored = redis.call('GET', KEYS[1])
if stored then
  local next_free = tonumber(stored)
  if next_free and next_free > now and next_free - now <= tonumber(ARGV[2]) then
    slot = next_free
  end
end
local next_free = slot + interval
local ttl = math.ceil((next_free - now) * 1000) + tonumber(ARGV[3])
redis.call('SET', KEYS[1], string.format('%.6f', next_free), 'PX', ttl)
return {string.format('%.6f', slot), string.format('%.6f', now)}
"""


class RedisSlots(SharedSlots):
    """One Redis key per shared key (``wms:rate-limit:<digest>``), reserved by one atomic script on
    Redis's own clock; the key expires a minute after its last slot."""

    kind = "redis"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        parts = urlsplit(url)  # a bad port raises ValueError here, with the URL's words
        _ = parts.port
        if parts.scheme != "unix" and parts.path.strip("/") and not parts.path.strip("/").isdigit():
            raise ValueError(f"the database number must be an integer, not {parts.path.strip('/')!r}")
        # One immediate retry (a pooled connection the server closed), no backoff: an unreachable
        # server must fall back within a couple of seconds, not after redis-py's default 3 backed-off retries.
        self.client = redis.Redis.from_url(
            url, socket_connect_timeout=SHARED_CONNECT_TIMEOUT_S, socket_timeout=SHARED_IO_TIMEOUT_S,
            retry=Retry(NoBackoff(), 1), health_check_interval=30,
        )
        self._script = self.client.register_script(REDIS_RESERVE_SCRIPT)

    @staticmethod
    def key_for(shared_key_digest: str) -> str:
        return REDIS_KEY_PREFIX + shared_key_digest

    def _reserve(self, key: str, interval: float) -> Reservation:
        args = [repr(interval), repr(MAX_BACKLOG_S), REDIS_IDLE_TTL_MS]
        slot, now = self._script(keys=[self.key_for(key)], args=args)
        return Reservation(float(slot), float(now))


# The database's own now, read under the row lock (clock_timestamp(), not now(): PostgreSQL's now()
# is the transaction's start, before the lock wait).
SQL_NOW = {
    "postgresql": "SELECT EXTRACT(EPOCH FROM clock_timestamp())",
    "mysql": "SELECT UNIX_TIMESTAMP(SYSDATE(6))",  # the session's time zone is UTC (set on connect)
    "sqlite": "SELECT (julianday('now') - 2440587.5) * 86400.0",
}


class SqlSlots(SharedSlots):
    """One row per shared key in ``wms_rate_limit_slot`` (created if missing), reserved in one short
    transaction under a row lock, on the database's clock. One small engine per URL and process."""

    kind = "database"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        self.shown_url = parsed.render_as_string(hide_password=True)
        backend = parsed.get_backend_name()
        if backend not in SQL_BACKENDS:
            raise ValueError(f"unknown scheme {parsed.drivername!r}")
        if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite database is not shared: name a file (sqlite:////path/file.db)")
        dialect = parsed.get_dialect()  # an unknown or uninstalled driver raises here
        if getattr(dialect, "is_async", False):
            raise ValueError(f"an async driver ({parsed.drivername}) cannot be used here; name a sync one")
        self.dialect = "mysql" if backend == "mariadb" else backend
        self.engine = _sql_engine(parsed, self.dialect)
        self.table = _slot_table(sa)
        self._sa = sa
        self._ready: set[str] = set()
        self._ready_lock = threading.Lock()

    def _reserve(self, key: str, interval: float) -> Reservation:
        sa, c = self._sa, self.table.c
        for _ in range(2):
            if key not in self._ready:
                self._prepare(key)
            with self.engine.begin() as conn:
                row = conn.execute(sa.select(c.next_free).where(c.slot_key == key).with_for_update()).first()
                if row is not None:
                    now = float(conn.execute(sa.text(SQL_NOW[self.dialect])).scalar_one())
                    slot = slot_after(float(row.next_free), now)
                    conn.execute(sa.update(self.table).where(c.slot_key == key).values(next_free=slot + interval))
                    return Reservation(slot, now)
            self._ready.discard(key)  # the row went away (deleted by hand): make it again
        raise RuntimeError(f"the row of {SLOT_TABLE} for this key cannot be made")

    def _prepare(self, key: str) -> None:
        """The table and the key's row, each in a transaction of its own: inserting inside the locking
        transaction would let two first callers deadlock on MariaDB's gap locks."""
        sa = self._sa
        with self._ready_lock:
            if not self._ready:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(sa.schema.CreateTable(self.table, if_not_exists=True))
                except sa.exc.SQLAlchemyError:
                    # Two processes creating it at once (PostgreSQL reports the loser's duplicate type).
                    if not sa.inspect(self.engine).has_table(SLOT_TABLE):
                        raise
            with self.engine.begin() as conn:
                conn.execute(_insert_ignore(self.dialect, self.table).values(slot_key=key, next_free=0.0))
            self._ready.add(key)


def _slot_table(sa: Any) -> Any:
    metadata = sa.MetaData()
    return sa.Table(
        SLOT_TABLE, metadata,
        sa.Column("slot_key", sa.String(64), primary_key=True),  # key_digest() of the shared key
        sa.Column("next_free", sa.Double(), nullable=False),  # epoch seconds on the database's clock
        mysql_engine="InnoDB",
    )


def _insert_ignore(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert(table).on_conflict_do_nothing()
    from sqlalchemy import insert

    return insert(table).prefix_with("IGNORE" if dialect == "mysql" else "OR IGNORE")


def _sql_engine(url: Any, dialect: str) -> Any:
    """A small engine: a reservation holds a connection for a few milliseconds."""
    from sqlalchemy import create_engine, event

    connect_args: dict[str, Any] = {}
    if dialect == "sqlite":
        connect_args["timeout"] = SHARED_IO_TIMEOUT_S  # the wait for another process's write lock
        engine = create_engine(url, connect_args=connect_args, pool_size=2, max_overflow=2)

        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # pysqlite's own BEGIN would be DEFERRED

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock before reading: the row lock here

        return engine
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = int(SHARED_CONNECT_TIMEOUT_S) or 1
    engine = create_engine(url, connect_args=connect_args, pool_size=2, max_overflow=2, pool_timeout=10,
                           pool_pre_ping=True, pool_recycle=1800)
    if dialect == "mysql":
        @event.listens_for(engine, "connect")
        def _utc_session(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SET time_zone = '+00:00'")  # UNIX_TIMESTAMP() of a local time is ambiguous at DST
    return engine


_slots_lock = threading.Lock()
_slots: dict[tuple[int, str], SharedSlots] = {}


def shared_slots(url: str) -> SharedSlots:
    """The process's client of ``url`` (made once per process: a forked child makes its own).
    A URL that cannot be used as written raises RateLimitConfigError naming WMS_RATE_LIMIT_URL."""
    cache_key = (os.getpid(), url)
    with _slots_lock:
        slots = _slots.get(cache_key)
        if slots is None:
            slots = _slots[cache_key] = _make_slots(url)
    return slots


def _make_slots(url: str) -> SharedSlots:
    shown = redact_url(url)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    try:
        if scheme in REDIS_SCHEMES:
            return RedisSlots(url)
        if scheme.split("+", 1)[0] in SQL_BACKENDS:
            return SqlSlots(url)
    except Exception as err:  # noqa: BLE001 - whatever the parser or driver says, it is the URL's fault
        reason = _masked(str(err), _secrets_of(url))
        raise RateLimitConfigError(f"{URL_ENV}={shown!r} cannot be used: {reason}") from None
    raise RateLimitConfigError(
        f"{URL_ENV}={shown!r}: unknown scheme {scheme!r}; expected redis://, rediss://, unix:// or a SQLAlchemy "
        "URL of postgresql, mysql/mariadb or sqlite"
    )


class SharedSchedule:
    """One shared key's schedule on a shared server."""

    def __init__(self, slots: SharedSlots, shared_key: str) -> None:
        self.slots = slots
        self.key = key_digest(shared_key)

    def reserve(self, interval: float) -> Reservation | None:
        return self.slots.reserve(self.key, interval)
