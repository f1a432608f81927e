"""Alembic environment for the integration store.

Normally run through ``wmsbridge.store.migrate``, which passes an open connection in
``config.attributes["connection"]``; a plain ``sqlalchemy.url`` option works too (the CLI). Only
the store's own tables are ever compared or touched: the shop's tables in the same database are
invisible to autogenerate.
"""

from __future__ import annotations

from alembic import context

from wmsbridge.store.engine import create_store_engine
from wmsbridge.store.migrate import VERSION_TABLE
from wmsbridge.store.schema import metadata

STORE_TABLES = frozenset(metadata.tables)


def include_object(obj, name, type_, reflected, compare_to):
    """Autogenerate sees only our tables, never the shop's."""
    if type_ == "table":
        return name in STORE_TABLES
    return True


def _configure_and_run(connection) -> None:
    if connection.dialect.name == "sqlite":
        # Batch mode rebuilds a table as a copy and renames the copy; SQLite >= 3.26 refuses that
        # rename while a view (wms_cancel_needs_person) names the table, unless this is on. The view
        # keeps working: it names the table, and the copy takes the name.
        connection.exec_driver_sql("PRAGMA legacy_alter_table = ON")
        # ... and the copy's predecessor is dropped: with foreign keys on (the bridge's own SQLite
        # engines turn them on), that DROP would first delete every child row ON DELETE CASCADE
        # (wms_shipment_package under wms_shipment_inbox). Off for the migration's connection.
        connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_object=include_object,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    engine = create_store_engine(context.config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as connection:
            _configure_and_run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) mode is not supported: run `python -m wmsbridge.store upgrade --url ...`")
run_migrations_online()
