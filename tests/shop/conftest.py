"""Shop databases for the tests: a SQLite file, and a throwaway database on the local PostgreSQL and
MariaDB servers (created per session with a random name and dropped after, so parallel runs never
collide). The servers are part of the test setup (make test starts them): one that is down fails."""

from __future__ import annotations

import pytest
from databases import throwaway_database


@pytest.fixture(scope="session", params=["sqlite", "postgresql", "mysql"])
def shop_url(request, tmp_path_factory):
    """A SQLAlchemy URL of an empty database, once per dialect for the whole session."""
    backend = {"mysql": "mariadb"}.get(request.param, request.param)
    with throwaway_database(backend, tmp_path_factory.mktemp("shopdb"), prefix="shop") as url:
        yield url.render_as_string(hide_password=False)
