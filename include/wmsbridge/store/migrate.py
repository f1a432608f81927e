"""Create and upgrade the store's tables with Alembic, driven from Python (no alembic.ini).

Alembic keeps its revision in ``wms_alembic_version``, not ``alembic_version``, so a shop that
uses Alembic for its own schema keeps its own table untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection, Engine, make_url

from wmsbridge.errors import ConfigError

from .engine import create_store_engine

VERSION_TABLE = "wms_alembic_version"


class _QuietDialectBanner(logging.Filter):
    """Alembic announces its dialect each time it looks at the database ("Context impl SQLiteImpl.",
    "Will assume non-transactional DDL."): in every task log, every run, saying nothing. Real
    migration steps ("Running upgrade ...") still log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


logging.getLogger("alembic.runtime.migration").addFilter(_QuietDialectBanner())
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic Config for our migrations; ``connection`` is handed to env.py as is."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", str(url).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _engine(engine_or_url: Engine | str | URL) -> tuple[Engine, bool]:
    if isinstance(engine_or_url, Engine):
        return engine_or_url, False
    return create_store_engine(engine_or_url), True


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction for Alembic. env.py turns SQLite's foreign keys off for a
    migration (a table rebuild must not cascade); a connection that had them on gets them back
    before it returns to the pool, after the commit (SQLite ignores the pragma in a transaction)."""
    with engine.connect() as connection:
        keys_on = connection.dialect.name == "sqlite" and connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        connection.commit()
        with connection.begin():
            yield connection
        if keys_on:
            connection.exec_driver_sql("PRAGMA foreign_keys = ON")
            connection.commit()


def upgrade(engine_or_url: Engine | str | URL, revision: str = "head") -> str | None:
    """Bring the store to ``revision`` (default: the newest). Idempotent. Returns the revision now
    in place."""
    engine, owned = _engine(engine_or_url)
    try:
        with _migrating(engine) as connection:
            command.upgrade(alembic_config(connection), revision)
        return current_revision(engine)
    finally:
        if owned:
            engine.dispose()


def downgrade(engine_or_url: Engine | str | URL, revision: str) -> str | None:
    """Go back to ``revision`` (``base`` drops every store table). For development and tests."""
    engine, owned = _engine(engine_or_url)
    try:
        with _migrating(engine) as connection:
            command.downgrade(alembic_config(connection), revision)
        return current_revision(engine)
    finally:
        if owned:
            engine.dispose()


def current_revision(engine_or_url: Engine | str | URL) -> str | None:
    """The revision the database is at, ``None`` when the store was never created. A plain read of
    the version table: no Alembic context, so nothing is logged (tasks call this on every run)."""
    engine, owned = _engine(engine_or_url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(VERSION_TABLE):
                return None
            versions = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        return versions[0] if len(versions) == 1 else (",".join(sorted(versions)) or None)
    finally:
        if owned:
            engine.dispose()


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision shipped with this code (read once per process)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


class StoreNotMigrated(ConfigError):
    """The store's schema is not at the revision this code needs; a deploy step was missed."""


def require_current(engine_or_url: Engine | str | URL) -> str:
    """Check, without changing anything, that the store is at this code's newest revision.

    Tasks and the receiver call this instead of migrating: the store is migrated once per deploy
    (``python -m wmsbridge.store upgrade``), not by every task with DDL rights on every worker.
    """
    current, head = current_revision(engine_or_url), head_revision()
    if current != head:
        url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
        where = url.render_as_string(hide_password=True)
        raise StoreNotMigrated(
            f"the integration store at {where} is at revision {current or 'none (never created)'}, this code "
            f"needs {head}: run `make migrate` (or `python -m wmsbridge.store upgrade --conn-id <store connection>`)"
        )
    return current
