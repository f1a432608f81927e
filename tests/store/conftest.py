"""Fixtures for the integration store: one migrated throwaway database per backend and session,
emptied before every test; a fresh empty database for migration tests."""

from __future__ import annotations

import sqlalchemy as sa
import pytest

from databases import BACKENDS, throwaway_database
from wmsbridge.store import migrate
from wmsbridge.store.engine import create_store_engine
from wmsbridge.store import IntegrationStore
from wmsbridge.store.schema import TABLES


@pytest.fixture(params=BACKENDS)
def empty_db_url(request, tmp_path):
    """A brand-new database with nothing in it (migration tests)."""
    # A latin1 default proves the store tables carry their own utf8mb4 charset.
    with throwaway_database(request.param, tmp_path, mariadb_charset="latin1") as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_engine(request, tmp_path_factory):
    with throwaway_database(request.param, tmp_path_factory.mktemp(request.param), mariadb_charset="latin1") as url:
        # room for the concurrency tests' racing threads
        pool = {} if request.param == "sqlite" else {"pool_size": 12, "max_overflow": 4}
        engine = create_store_engine(url, **pool)
        migrate.upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture
def engine(migrated_engine):
    """The session's migrated database, with every store table empty."""
    with migrated_engine.begin() as conn:
        for table in reversed(TABLES):
            conn.execute(sa.delete(table))
    return migrated_engine


class Clock:
    """A settable clock, so staleness is tested without sleeping."""

    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, delta):
        self.now = self.now + delta


@pytest.fixture
def clock():
    from datetime import datetime, timezone

    return Clock(datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=timezone.utc))


@pytest.fixture
def store(engine, clock):
    return IntegrationStore(engine, clock=clock)
