"""Column types that behave the same on SQLite, PostgreSQL and MySQL/MariaDB.

Analysts compare timestamps across tables and databases, so every timestamp is stored in UTC:
``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, ``DATETIME(6)`` holding UTC on MySQL/MariaDB (which has no
zone-aware type) and ISO text holding UTC on SQLite. Naive datetimes are refused on the way in, and
values always come back as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

MYSQL = ("mysql", "mariadb")

# Request and response bodies may reach 5 MB (qimen.parsing.DEFAULT_MAX_BYTES); MySQL's TEXT stops
# at 64 KB, so bodies use LONGTEXT there. Plain TEXT is unbounded on PostgreSQL and SQLite.
LongText = sa.Text().with_variant(mysql.LONGTEXT(), *MYSQL)

# SQLite only auto-increments an ``INTEGER PRIMARY KEY``; elsewhere ids are 64-bit.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(sa.TypeDecorator):
    """An aware datetime, stored as UTC. Binding a naive datetime raises ``ValueError``."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in MYSQL:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps UTC and needs to know the zone")
        value = value.astimezone(timezone.utc)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # defensive: raw SQLite text written by another tool
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
