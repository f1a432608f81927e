"""Shop databases for the tests: a SQLite file, and a throwaway database on the local PostgreSQL and
MariaDB servers (created per session with a random name and dropped after, so parallel runs never
collide). A server that is not running skips its tests instead of failing the suite."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

SERVERS = {
    "postgresql": "postgresql+psycopg2://postgres@127.0.0.1:5432/test",
    "mysql": "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4",
}


def _throwaway(admin_url: str):
    name = f"shop_{secrets.token_hex(6)}"
    kwargs = {"isolation_level": "AUTOCOMMIT"}
    admin = create_engine(admin_url, **kwargs)
    try:
        with admin.connect() as conn:
            if admin.dialect.name == "mysql":
                conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
            else:
                conn.execute(text(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "server not here"
        admin.dispose()
        pytest.skip(f"database server not reachable: {exc.__class__.__name__}")
    url = make_url(admin_url).set(database=name)
    return admin, name, url


@pytest.fixture(scope="session", params=["sqlite", "postgresql", "mysql"])
def shop_url(request, tmp_path_factory):
    """A SQLAlchemy URL of an empty database, once per dialect for the whole session."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('shopdb') / 'shop.db'}"
        return
    admin, name, url = _throwaway(SERVERS[request.param])
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        if admin.dialect.name == "postgresql":
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
            ), {"n": name})
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
    admin.dispose()
