"""The wms_cancel_needs_person view (migration 0004_cancellations): what it lists, on every backend,
and that a later SQLite batch migration can still rebuild the table it reads."""

from __future__ import annotations

import textwrap

import pytest
import sqlalchemy as sa
from alembic import command

from wmsbridge.store import migrate
from wmsbridge.store import IntegrationStore
from wmsbridge.store.engine import create_store_engine
from wmsbridge.store.orders import REFUND_AFTER_SHIPMENT, REFUND_AFTER_SHIPMENT_ACTION

from order_steps import answer, claim, ship


def _sent(store: IntegrationStore, code: str) -> None:
    store.orders.ensure_pending([{"delivery_order_code": code, "shop_order_id": code}])
    assert claim(store, code, "run").owned
    answer(store, code, "sent", wms_order_id=f"W{code}")


def test_the_view_lists_what_waits_for_a_person(empty_db_url):
    engine = create_store_engine(empty_db_url)
    try:
        migrate.upgrade(engine)
        store = IntegrationStore(engine)
        for code in ("OK", "REFUSED", "SHIPPED_FIRST", "CROSSING", "PLAIN_SHIPPED"):
            _sent(store, code)
        store.orders.request_cancel("OK")
        store.orders.mark_cancelled("OK")
        store.orders.request_cancel("REFUSED")
        store.orders.mark_cancel_failed("REFUSED", "invalid-owner", "ownerCode: not a known owner")
        ship(store, "SHIPPED_FIRST", carrier_code="YTO", tracking_numbers=["YT1"])
        store.orders.mark_refund_after_shipment("SHIPPED_FIRST")
        store.orders.mark_refund_after_shipment("SHIPPED_FIRST", "a twin run decided the same")  # no error, no change
        store.orders.request_cancel("CROSSING")  # refund seen, then the confirmation came: shown at once
        ship(store, "CROSSING", carrier_code="SF", tracking_numbers=["SF1", "SF2"])
        ship(store, "PLAIN_SHIPPED", carrier_code="YTO", tracking_numbers=["YT9"])

        with engine.connect() as conn:
            rows = {r.delivery_order_code: dict(r._mapping)
                    for r in conn.execute(sa.text("SELECT * FROM wms_cancel_needs_person"))}
        assert set(rows) == {"REFUSED", "SHIPPED_FIRST", "CROSSING"}
        assert rows["REFUSED"]["action"].startswith("the warehouse refused order.cancel")
        assert rows["SHIPPED_FIRST"]["action"] == rows["CROSSING"]["action"] == REFUND_AFTER_SHIPMENT_ACTION
        assert rows["SHIPPED_FIRST"]["last_error_code"] == REFUND_AFTER_SHIPMENT
        assert rows["SHIPPED_FIRST"]["tracking_numbers"] == "YT1" and rows["CROSSING"]["tracking_numbers"] == "SF1,SF2"
        assert rows["SHIPPED_FIRST"]["cancel_requested_at"] is not None  # set by the refund after shipment
        assert all(r["cancel_requested_beijing"] is not None for r in rows.values())
        migrate.downgrade(engine, "0001_create_store")
        assert "wms_cancel_needs_person" not in sa.inspect(engine).get_view_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize("empty_db_url", ["sqlite"], indirect=True)
def test_a_later_sqlite_batch_migration_can_rebuild_the_table_under_the_view(empty_db_url, tmp_path):
    engine = create_store_engine(empty_db_url)
    (tmp_path / "9999_batch_probe.py").write_text(textwrap.dedent(f'''
        from alembic import op
        revision = "9999_batch_probe"
        down_revision = "{migrate.head_revision()}"
        def upgrade():
            with op.batch_alter_table("wms_order_sync", recreate="always"):
                pass
        def downgrade():
            pass
    '''))
    try:
        migrate.upgrade(engine)
        _sent(IntegrationStore(engine), "A1")
        with engine.begin() as connection:
            config = migrate.alembic_config(connection)
            config.set_main_option("version_locations",
                                   f"{migrate.MIGRATIONS_DIR / 'versions'} {tmp_path}")
            command.upgrade(config, "9999_batch_probe")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM wms_cancel_needs_person")).scalar_one() == 0
            assert conn.execute(sa.text("SELECT state FROM wms_order_sync")).scalar_one() == "sent"
    finally:
        engine.dispose()
