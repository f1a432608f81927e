"""Two bridges in one store: two shops whose order, SKU, confirmation, report and return codes are all
the same never read or move each other's rows; a store from before 0010 keeps its rows as bridge
``default``. On SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from wmsbridge.store import IntegrationStore, migrate
from wmsbridge.store.engine import create_store_engine
from wmsbridge.store.exchange_log import Inbound
from wmsbridge.store.schema import exchange_log, shipment_package

from confirm_steps import receive, settle, stored
from order_steps import answer, claim

NOW = datetime(2026, 12, 4, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def shops(engine):
    return (IntegrationStore(engine, clock=lambda: NOW, bridge_id="shop-a"),
            IntegrationStore(engine, clock=lambda: NOW, bridge_id="shop-b"))


def test_the_same_order_code_in_two_shops_is_two_orders(shops):
    a, b = shops
    for store in shops:
        assert store.orders.ensure_pending([{"delivery_order_code": "1001", "shop_order_id": "7"}]) == 1
    assert claim(a, "1001", "run-a").owned
    answer(a, "1001", "sent", wms_order_id="WA", run_id="run-a",
           exchange={"direction": "outbound", "method": "deliveryorder.create", "outcome": "success",
                     "business_key": "1001"})
    assert a.orders.order("1001")["state"] == "sent" and b.orders.order("1001")["state"] == "pending"
    assert b.orders.claim_many(["1001"], "run-b")["1001"].owned  # b's own order, not a's "settled" one
    a.orders.request_cancel("1001")
    assert (a.orders.order("1001")["state"], b.orders.order("1001")["state"]) == ("cancel_requested", "sending")
    assert [r["delivery_order_code"] for r in a.orders.unfinished_cancels()] == ["1001"]
    assert b.orders.unfinished_cancels() == []
    assert b.orders.renew_leases("run-b") == 1 and a.orders.renew_leases("run-b") == 0
    with a.engine.connect() as conn:
        logged = conn.execute(sa.select(exchange_log.c.bridge_id, exchange_log.c.business_key)).all()
    assert logged == [("shop-a", "1001")]


def test_items_cursors_and_unkeyed_records_are_per_shop(shops):
    a, b = shops
    a.items.record_synced("SKU-1", content_hash="ha", sku_id="1")
    b.items.record_failed("SKU-1", error_code="B02", message="refused", retryable=False, sku_id="9")
    assert a.items.synced() == [("SKU-1", "1")] and b.items.synced() == []
    assert a.items.rows(["SKU-1"])["SKU-1"]["state"] == "synced" and b.items.rows(["SKU-1"])["SKU-1"]["state"] == "failed"
    a.cursors.move("items", datetime(2026, 12, 1, tzinfo=timezone.utc))
    assert b.cursors.get("items") is None
    b.cursors.move("items", datetime(2026, 11, 1, tzinfo=timezone.utc))
    assert a.cursors.get("items") == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert b.cursors.get("items") == datetime(2026, 11, 1, tzinfo=timezone.utc)
    a.unkeyed.record("orders", [{"shop_id": "5", "shop_code": "", "violations": ["x"]}])
    assert a.unkeyed.open_ids("orders") == {"5"} and b.unkeyed.open_ids("orders") == set()
    assert b.unkeyed.resolve("orders", ["5"]) == 0 and a.unkeyed.open_ids("orders") == {"5"}


def test_a_confirmation_key_seen_by_one_shop_is_new_to_the_other(shops):
    a, b = shops
    first = receive(a.confirmations, "1001", key="OB-1")
    assert not receive(b.confirmations, "1001", key="OB-1").already_seen
    assert receive(a.confirmations, "1001", key="OB-1").already_seen
    assert [r["id"] for r in a.confirmations.due()] == [first.inbox_id]
    assert not settle(b.confirmations, first.inbox_id, "applied")  # another shop's confirmation is not b's
    assert settle(a.confirmations, first.inbox_id, "applied")
    assert a.confirmations.counts()["applied"] == 1 and b.confirmations.counts()["received"] == 1
    assert {r["bridge_id"] for r in stored(a.confirmations, "1001")[1]} == {"shop-a"}
    assert {r["bridge_id"] for r in stored(b.confirmations, "1001")[1]} == {"shop-b"}
    with a.engine.connect() as conn:  # a's claim did not take b's row of the same order
        assert a.confirmations.claim(conn, b.confirmations.due()) == []
    with a.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(shipment_package)).scalar_one() == 2


def test_reports_returns_and_stock_adjustments_are_per_shop(shops):
    a, b = shops
    inbound = Inbound(method="itemlack.report", url=None, body="<r/>", answer="ok", http_status=200, outcome="success")
    for store in shops:
        assert not store.reports.receive(method="itemlack.report", key="L1", order_code="1001", summary="short",
                                         state="received", raw_body="<r/>", inbound=inbound).already_seen
    [mine] = a.reports.waiting("itemlack.report")
    assert not b.reports.settle(mine["id"], "applied") and a.reports.settle(mine["id"], "applied")
    assert len(b.reports.waiting("itemlack.report")) == 1
    for store in shops:
        store.returns.register([{"return_code": "R1", "shop_return_id": "1", "delivery_order_code": "1001"}])
    assert a.returns.claim("R1") and b.returns.due()[0]["state"] == "pending"
    assert a.adjustments.begin("stock_change", "OB-9", [{"item_code": "SKU-1", "delta": -2}])
    assert b.adjustments.begin("stock_change", "OB-9", [{"item_code": "SKU-1", "delta": -2}])
    assert a.adjustments.recorded("stock_change", "OB-9") == {"SKU-1": "applying"}


def test_each_shop_holds_its_own_stock_day_and_snapshot(shops):
    a, b = shops
    day = date(2026, 12, 4)
    assert not a.inventory.claim_day(day, "run-a", forced=False).refused
    assert not b.inventory.claim_day(day, "run-b", forced=False).refused  # another shop's daily sync
    assert a.inventory.claim_day(day, "run-a2", forced=False).refused
    row = {"warehouse_code": "WH1", "item_code": "SKU-1", "inventory_type": "ZP", "quantity": 5}
    a.inventory.replace_day(day, [row])
    b.inventory.replace_day(day, [{**row, "quantity": 9}])
    a.inventory.replace_day(day, [{**row, "quantity": 6}])  # a's re-run replaces a's day only
    assert [r.quantity for r in a.inventory.snapshot(day)] == [6]
    assert [r.quantity for r in b.inventory.snapshot(day)] == [9]


def test_upgrade_keeps_todays_rows_as_bridge_default_and_downgrade_refuses_other_bridges(empty_db_url):
    engine = create_store_engine(empty_db_url)
    try:
        migrate.upgrade(engine, "0009_returns")
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO wms_order_sync (delivery_order_code, shop_order_id, state, created_at, updated_at)"
                " VALUES ('1001', '7', 'sent', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
            conn.execute(sa.text("INSERT INTO wms_cursor (flow, watermark, updated_at)"
                                 " VALUES ('items', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        migrate.upgrade(engine)
        default = IntegrationStore(engine)
        assert default.orders.order("1001")["state"] == "sent"
        assert default.cursors.get("items") is not None
        other = IntegrationStore(engine, bridge_id="shop-b")
        assert other.orders.order("1001") is None
        other.orders.ensure_pending([{"delivery_order_code": "1001", "shop_order_id": "8"}])
        with pytest.raises(RuntimeError, match="bridges other than 'default'"):
            migrate.downgrade(engine, "0009_returns")
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM wms_order_sync WHERE bridge_id = 'shop-b'"))
        assert migrate.downgrade(engine, "0009_returns") == "0009_returns"
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT delivery_order_code, state FROM wms_order_sync")).all() == [("1001", "sent")]
            assert conn.execute(sa.text("SELECT flow FROM wms_cursor")).scalars().all() == ["items"]
        assert migrate.upgrade(engine) == migrate.head_revision()
    finally:
        engine.dispose()


@pytest.mark.parametrize("empty_db_url", ["sqlite"], indirect=True)
def test_the_sqlite_table_rebuild_keeps_a_confirmations_parcels_with_foreign_keys_on(empty_db_url):
    """0010 rebuilds wms_shipment_inbox on SQLite; the bridge's own engines turn foreign keys on,
    under which dropping the old table would cascade to every parcel row."""
    from wmsbridge.connections import engine_for_url

    engine = engine_for_url(empty_db_url.render_as_string(hide_password=False))
    migrate.upgrade(engine, "0009_returns")
    with engine.begin() as conn:
        inbox = conn.execute(sa.text(
            "INSERT INTO wms_shipment_inbox (out_biz_code, delivery_order_code, raw_body, received_at)"
            " VALUES ('OB-1', '1001', '<r/>', '2026-01-01 00:00:00')")).lastrowid
        conn.execute(sa.text("INSERT INTO wms_shipment_package (inbox_id, delivery_order_code, package_no)"
                             " VALUES (:i, '1001', 1)"), {"i": inbox})
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(sa.text("SELECT bridge_id, inbox_id FROM wms_shipment_package")).all() == [("default", inbox)]
