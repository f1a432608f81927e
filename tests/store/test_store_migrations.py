"""Migrations create exactly schema.py on every backend, and upgrading twice changes nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from databases import BACKENDS
from wmsbridge.store import migrate
from wmsbridge.store.engine import create_store_engine
from wmsbridge.store.schema import TABLES, metadata


def _diff(engine):
    def include_object(obj, name, type_, reflected, compare_to):
        return type_ != "table" or name in metadata.tables

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": migrate.VERSION_TABLE,
                "compare_type": True,
                "include_object": include_object,
            },
        )
        return compare_metadata(context, metadata)


def test_upgrade_from_empty_creates_every_table_and_matches_schema(empty_db_url):
    engine = create_store_engine(empty_db_url)
    try:
        assert migrate.current_revision(engine) is None
        assert migrate.upgrade(engine) == migrate.head_revision()
        names = set(sa.inspect(engine).get_table_names())
        assert {t.name for t in TABLES} | {migrate.VERSION_TABLE} <= names
        assert "alembic_version" not in names
        assert _diff(engine) == []
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_leaves_other_tables_alone(empty_db_url):
    engine = create_store_engine(empty_db_url)
    try:
        # A shop with its own Alembic history and its own tables in the same database.
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
            conn.execute(sa.text("INSERT INTO alembic_version VALUES ('shop_rev_42')"))
            conn.execute(sa.text("CREATE TABLE shop_order (id INTEGER PRIMARY KEY, sn VARCHAR(20))"))
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO wms_order_sync (delivery_order_code, shop_order_id, created_at, updated_at)"
                " VALUES ('A1', '1', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            ))
        assert migrate.upgrade(engine) == migrate.head_revision()
        assert migrate.upgrade(str(engine.url.render_as_string(hide_password=False))) == migrate.head_revision()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "shop_rev_42"
            assert conn.execute(sa.text("SELECT count(*) FROM wms_order_sync")).scalar_one() == 1
        assert "shop_order" in sa.inspect(engine).get_table_names()
        assert _diff(engine) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_only_store_tables(empty_db_url):
    engine = create_store_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE shop_sku (id INTEGER PRIMARY KEY)"))
        migrate.upgrade(engine)
        assert migrate.downgrade(engine, "base") is None
        names = set(sa.inspect(engine).get_table_names())
        assert not names & {t.name for t in TABLES}
        assert "shop_sku" in names
    finally:
        engine.dispose()


@pytest.mark.parametrize("empty_db_url", ["sqlite"], indirect=True)
def test_cli_upgrade_and_current(empty_db_url):
    url = empty_db_url.render_as_string(hide_password=False)
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "wmsbridge.store", *args], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert run("current", "--url", url) == "none"
    assert run("upgrade", "--url", url).endswith(f"at {migrate.head_revision()}")
    assert run("upgrade", "--url", url).endswith(f"at {migrate.head_revision()}")
    assert run("current", "--url", url) == migrate.head_revision()


@pytest.mark.parametrize("empty_db_url", [b for b in BACKENDS if b == "mariadb"], indirect=True)
def test_mariadb_tables_are_utf8mb4_binary_even_in_a_latin1_database(empty_db_url):
    engine = create_store_engine(empty_db_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            default = conn.execute(sa.text(
                "SELECT default_character_set_name FROM information_schema.schemata WHERE schema_name = DATABASE()"
            )).scalar_one()
            collations = dict(conn.execute(sa.text(
                "SELECT table_name, table_collation FROM information_schema.tables WHERE table_schema = DATABASE()"
            )).all())
        assert default == "latin1"
        assert {collations[t.name] for t in TABLES} == {"utf8mb4_bin"}
    finally:
        engine.dispose()


def test_failure_model_revision_upgrades_and_downgrades_with_orders_in_place(empty_db_url):
    """0002_failure_model on a store holding orders: the new state is allowed after the upgrade,
    refused by the CHECK constraint after the downgrade, and its orders still wait for a person."""
    engine = create_store_engine(empty_db_url)
    insert = ("INSERT INTO wms_order_sync (delivery_order_code, shop_order_id, state, created_at, updated_at)"
              " VALUES (:code, '1', :state, '2026-01-01 00:00:00', '2026-01-01 00:00:00')")
    try:
        migrate.upgrade(engine, "0001_create_store")
        with engine.begin() as conn:
            conn.execute(sa.text(insert), {"code": "OLD", "state": "sent"})
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(sa.text(insert), {"code": "DIFF", "state": "exists_different"})
        migrate.downgrade(engine, "0001_create_store")
        with engine.connect() as conn:
            rows = dict(conn.execute(sa.text(
                "SELECT delivery_order_code, state FROM wms_order_sync ORDER BY delivery_order_code")).all())
        assert rows == {"DIFF": "failed", "OLD": "sent"}
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
            conn.execute(sa.text(insert), {"code": "NEW", "state": "exists_different"})
        assert migrate.upgrade(engine) == migrate.head_revision()
        assert _diff(engine) == []
    finally:
        engine.dispose()


def listed_up_and_down(engine, down_to: str) -> list[list[tuple]]:
    """(category, flow, detail) of wms_v_needs_person after upgrading to head, then after downgrading
    to ``down_to``: a revision that recreates the view from the code lists the same both ways."""
    seen = []
    for step in (lambda: migrate.upgrade(engine), lambda: migrate.downgrade(engine, down_to)):
        step()
        with engine.connect() as conn:
            seen.append(sorted(tuple(r) for r in conn.execute(sa.text(
                "SELECT category, flow, detail FROM wms_v_needs_person"))))
    return seen


def test_return_receipts_revision_lists_a_waiting_receipt_for_the_returns_flow_both_ways(empty_db_url):
    """0012_return_receipts recreates wms_v_needs_person from store/attention.py, up and down (the view
    follows the code): a return receipt the returns run left for a person is a ``returns_receipts``
    record of flow ``returns``, never an order's report."""
    engine = create_store_engine(empty_db_url)
    insert = ("INSERT INTO wms_warehouse_report (bridge_id, method, report_key, order_code, state, summary, "
              "raw_body, received_at, run_id, dag_id) VALUES ('default', :method, :key, :code, 'needs_person', "
              "'why', '<r/>', '2026-12-06 00:00:00', 'manual__r', 'wms_returns')")
    try:
        migrate.upgrade(engine, "0011_return_withdrawn")
        with engine.begin() as conn:
            conn.execute(sa.text(insert), {"method": "returnorder.confirm", "key": "RC-1", "code": "AS-1"})
            conn.execute(sa.text(insert), {"method": "itemlack.report", "key": "IL-1", "code": "1001"})
        assert listed_up_and_down(engine, "0011_return_withdrawn") == 2 * [
            [("reports_for_person", "orders", "1001"), ("returns_receipts", "returns", "AS-1")]]
        assert migrate.upgrade(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_intercepts_revision_lists_an_intercept_the_cancels_run_settled_for_the_cancels_flow_both_ways(
        empty_db_url):
    """0013_intercepts recreates wms_v_needs_person from store/attention.py, up and down (the view
    follows the code): an ``orderprocess.report`` the cancels run settled for a person (its run_id
    set) is an ``intercepts_to_check`` record of flow ``cancels``; one the receiver stored for a
    person at once (no run_id) stays an order's report."""
    engine = create_store_engine(empty_db_url)
    insert = ("INSERT INTO wms_warehouse_report (bridge_id, method, report_key, order_code, state, summary, "
              "raw_body, received_at, run_id, dag_id) VALUES ('default', 'orderprocess.report', :key, :code, "
              "'needs_person', 'why', '<r/>', '2026-12-07 00:00:00', :run_id, :dag_id)")
    try:
        migrate.upgrade(engine, "0012_return_receipts")
        with engine.begin() as conn:
            conn.execute(sa.text(insert), {"key": "OP-1", "code": "1001", "run_id": "manual__c",
                                           "dag_id": "wms_order_cancel"})
            conn.execute(sa.text(insert), {"key": "OP-2", "code": "1002", "run_id": None, "dag_id": None})
        assert listed_up_and_down(engine, "0012_return_receipts") == 2 * [
            [("intercepts_to_check", "cancels", "1001"), ("reports_for_person", "orders", "1002")]]
        assert migrate.upgrade(engine) == migrate.head_revision() == "0013_intercepts"
    finally:
        engine.dispose()
