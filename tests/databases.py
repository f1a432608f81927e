"""Throwaway databases on the three real backends, for any test folder that needs one.

Each call creates a uniquely named database (``<prefix>_<random>``) on the shared PostgreSQL and
MariaDB servers and drops it afterwards, so parallel test runs and helpers never see each other's
rows. SQLite gets a file under the caller's temporary directory.

Servers default to the project's local services; override with ``WMS_TEST_POSTGRES_ADMIN_URL`` /
``WMS_TEST_MARIADB_ADMIN_URL`` (an URL of a database the test user may connect to). Limit the
backends with ``WMS_TEST_BACKENDS=sqlite,postgresql``.

Any test module imports it (tests/conftest.py puts tests/ on sys.path)::

    from databases import BACKENDS, throwaway_database
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

ALL_BACKENDS = ("sqlite", "postgresql", "mariadb")
BACKENDS = tuple(
    b.strip() for b in os.environ.get("WMS_TEST_BACKENDS", ",".join(ALL_BACKENDS)).split(",") if b.strip()
)
POSTGRES_ADMIN_URL = os.environ.get(
    "WMS_TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN_URL = os.environ.get(
    "WMS_TEST_MARIADB_ADMIN_URL", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
)


def _unique_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


@contextmanager
def throwaway_database(
    backend: str, tmp_dir: Path, prefix: str = "wmsstore", mariadb_charset: str = "utf8mb4"
) -> Iterator[URL]:
    """Yield the URL of a new, empty database on ``backend``; drop it on exit. ``mariadb_charset`` is
    the new database's default character set (tables may override it)."""
    name = _unique_name(prefix)
    if backend == "sqlite":
        yield make_url(f"sqlite:///{Path(tmp_dir) / (name + '.sqlite')}")
        return
    if backend == "postgresql":
        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        create = f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    elif backend == "mariadb":
        admin = sa.create_engine(MARIADB_ADMIN_URL, isolation_level="AUTOCOMMIT")
        create = f"CREATE DATABASE `{name}` CHARACTER SET {mariadb_charset}"
        drop = f"DROP DATABASE IF EXISTS `{name}`"
    else:
        raise ValueError(f"unknown backend {backend!r}")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(create))
        try:
            yield admin.url.set(database=name)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(drop))
    finally:
        admin.dispose()
