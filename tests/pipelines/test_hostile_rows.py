"""One hostile shop row costs one record, never its chunk or the run, in every flow, on the three
databases: a time pandas cannot hold (9999-06-01, a placeholder some shop tools write), a code that
cannot key its record (kept by the shop's own id until the shop fixes it), a stock value that is no
number."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, bridge, order_sync_rows, paid_order_codes
from databases import BACKENDS

from wmsbridge.pipelines.cancels import cancel_orders
from wmsbridge.pipelines.inventory import sync_inventory
from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import push_orders
from wmsbridge.pipelines.shipments import ship_time
from wmsbridge.store.schema import item_sync, stock_writeback, unkeyed_record

FAR = datetime(9999, 6, 1)


def _paid(shop, n: int) -> list[tuple[int, str]]:
    with shop.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT id, order_no FROM shop_order WHERE status = 'paid' ORDER BY paid_at, id LIMIT :n"), {"n": n})]


def _unkeyed(store, flow: str) -> dict[str, dict]:
    with store.engine.connect() as conn:
        return {r.shop_id: r._asdict() for r in conn.execute(
            sa.select(unkeyed_record).where(unkeyed_record.c.flow == flow))}


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_out_of_range_time_among_ordinary_orders(backend, make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop(backend, "reference", orders=60, skus=8, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, chunk_size=1000)  # one chunk: the bad row travels with the good ones
    good = paid_order_codes(shop)
    ((far_id, far_code),) = _paid(shop, 1)
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE shop_order SET paid_at = :t WHERE id = :i"), {"t": FAR, "i": far_id})

    report = push_orders(bridge("run-1"))  # no exception: the chunk goes on

    assert report.rejected == 1 and report.sent == len(good) - 1
    row = order_sync_rows(store)[far_code]
    assert row["state"] == "rejected"
    (violation,) = json.loads(row["violations"])
    assert violation.startswith("deliveryOrder.placeOrderTime: ")
    assert "paid_at: 9999-06-01 00:00:00 cannot be read (out of range" in violation
    assert sorted(o["order_code"] for o in sim.admin.orders()) == sorted(good - {far_code})


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_order_whose_code_cannot_key_it_is_kept_by_shop_id_until_the_shop_fixes_it(
        backend, make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop(backend, "reference", orders=40, skus=8, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)
    good = paid_order_codes(shop)
    (blank_id, blank_code), (ctrl_id, ctrl_code) = _paid(shop, 2)
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE shop_order SET order_no = '' WHERE id = :i"), {"i": blank_id})
        conn.execute(sa.text("UPDATE shop_order SET order_no = :c WHERE id = :i"), {"c": "X\x01" + ctrl_code,
                                                                                  "i": ctrl_id})

    first = push_orders(bridge("run-1"))

    assert first.rejected == 2 and first.sent == len(good) - 2
    rows = _unkeyed(store, "orders")
    assert set(rows) == {str(blank_id), str(ctrl_id)}
    assert rows[str(blank_id)]["shop_code"] == "''" and "it is empty" in rows[str(blank_id)]["violations"]
    assert "control characters" in rows[str(ctrl_id)]["violations"]
    assert all(r["resolved_at"] is None and r["run_id"] == "run-1" for r in rows.values())
    assert not ({"", "X\x01" + ctrl_code} & set(order_sync_rows(store)))

    with shop.engine.begin() as conn:  # a person fixes one code in the shop
        conn.execute(sa.text("UPDATE shop_order SET order_no = :c WHERE id = :i"), {"c": ctrl_code, "i": ctrl_id})
    second = push_orders(bridge("run-2"))

    assert second.sent == 1 and second.rejected == 1
    rows = _unkeyed(store, "orders")
    assert rows[str(ctrl_id)]["resolved_at"] is not None and rows[str(blank_id)]["resolved_at"] is None
    assert order_sync_rows(store)[ctrl_code]["state"] == "sent"
    assert sorted(o["order_code"] for o in sim.admin.orders()) == sorted(good - {blank_code})


@pytest.mark.parametrize("backend", BACKENDS)
def test_skus_with_an_out_of_range_time_or_no_usable_code_cost_one_record_each(
        backend, make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop(backend, "reference", orders=10, skus=10, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, chunk_size=1000)
    with shop.engine.begin() as conn:
        (far_id, far_code), (blank_id, _blank_code), (ctrl_id, ctrl_code) = [tuple(r) for r in conn.execute(
            sa.text("SELECT id, sku_code FROM shop_sku WHERE is_active = TRUE ORDER BY id LIMIT 3"))]
        conn.execute(sa.text("UPDATE shop_sku SET updated_at = :t WHERE id = :i"), {"t": FAR, "i": far_id})
        conn.execute(sa.text("UPDATE shop_sku SET sku_code = '   ' WHERE id = :i"), {"i": blank_id})
        # cleaned the same way wherever it is a key: synced as the code without the control character
        conn.execute(sa.text("UPDATE shop_sku SET sku_code = :c WHERE id = :i"), {"c": ctrl_code + "\x07",
                                                                                 "i": ctrl_id})
        active = conn.execute(sa.text("SELECT COUNT(*) FROM shop_sku WHERE is_active = TRUE")).scalar_one()

    report = sync_items(bridge("items-1"))

    assert report.rejected == 2 and report.sent == active - 2
    with store.engine.connect() as conn:
        items = {r.item_code: r._asdict() for r in conn.execute(sa.select(item_sync))}
    assert items[far_code]["state"] == "rejected"
    assert "updated_at: 9999-06-01 00:00:00 cannot be read (out of range" in items[far_code]["violations"]
    assert items[ctrl_code]["state"] == "synced"
    assert ctrl_code in {i["item_code"] for i in sim.admin.items()}
    (blank,) = _unkeyed(store, "items").values()
    assert blank["shop_id"] == str(blank_id) and blank["shop_code"] is None and blank["resolved_at"] is None
    assert "itemCode" in blank["violations"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refund_with_an_out_of_range_change_time_is_still_cancelled(
        backend, make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop(backend, "reference", orders=30, skus=8, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)
    push_orders(bridge("push-1"))
    (far_id, far_code), (plain_id, plain_code) = _paid(shop, 2)
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE shop_order SET status = 'refunded', updated_at = :t WHERE id = :i"),
                     {"t": FAR, "i": far_id})
        conn.execute(sa.text("UPDATE shop_order SET status = 'refunded', updated_at = :t WHERE id = :i"),
                     {"t": datetime(2026, 11, 29, 10, 0), "i": plain_id})

    report = cancel_orders(bridge("cancel-1"), changed_from_utc=datetime(2026, 11, 1, tzinfo=timezone.utc))

    assert report.sent == 2
    rows = order_sync_rows(store)
    assert rows[far_code]["state"] == rows[plain_code]["state"] == "cancelled"
    assert any("cannot be read" in note and far_code in note for note in report.notes)


def test_a_stock_value_that_is_no_number_keeps_its_sku_and_the_rest_is_written(
        make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop("sqlite", "reference", orders=10, skus=8, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, inventory_max_total_change_pct=1000, inventory_max_zeroed_pct=100)
    sync_items(bridge("items-1"))
    codes = sorted(i["item_code"] for i in sim.admin.items())
    sim.admin.seed_stock([{"itemCode": c, "quantity": 500} for c in codes])
    with shop.engine.begin() as conn:  # SQLite keeps text in an INTEGER column
        text_sku = conn.execute(sa.text("SELECT id FROM shop_sku WHERE sku_code = :c"), {"c": codes[0]}).scalar_one()
        conn.execute(sa.text("UPDATE shop_stock SET quantity = 'lots' WHERE sku_id = :s"), {"s": text_sku})

    report = sync_inventory(bridge("inventory-1"), now_utc=datetime.now(timezone.utc) - timedelta(minutes=1))

    assert report.rejected == 1 and report.sent == len(codes) - 1
    with store.engine.connect() as conn:
        decisions = {r.item_code: r._asdict() for r in conn.execute(sa.select(stock_writeback))}
    assert decisions[codes[0]]["outcome"] == "skipped"
    assert "shop stock 'lots' is not a number" in decisions[codes[0]]["reason"]
    assert all(decisions[c]["outcome"] == "applied" for c in codes[1:])
    with shop.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT quantity FROM shop_stock WHERE sku_id = :s"),
                            {"s": text_sku}).scalar_one() == "lots"


def test_the_ship_time_is_the_confirmations_only_when_it_is_plausible():
    received = datetime(2026, 11, 28, 6, 0, tzinfo=timezone.utc)
    at = {"received_at": received}
    assert ship_time({**at, "order_confirm_at": received - timedelta(hours=3)}) == received - timedelta(hours=3)
    assert ship_time({**at, "order_confirm_at": received + timedelta(hours=20)}) == received + timedelta(hours=20)
    assert ship_time({**at, "order_confirm_at": datetime(2150, 1, 1, tzinfo=timezone.utc)}) == received
    assert ship_time({**at, "order_confirm_at": datetime(1999, 12, 31, tzinfo=timezone.utc)}) == received
    assert ship_time({**at, "order_confirm_at": None}) == received


def test_a_rejected_order_the_shop_fixed_is_sent_by_the_next_run_which_says_so(
        make_shop, bridge_env, wms_simulator_factory, caplog, capsys):
    import logging

    shop = make_shop("sqlite", "reference", orders=20, skus=6, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)
    ((bad_id, bad_code),) = _paid(shop, 1)
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE shop_order SET receiver_mobile = 'abc', receiver_phone = NULL WHERE id = :i"),
                     {"i": bad_id})
    assert push_orders(bridge("run-1")).rejected == 1
    with shop.engine.begin() as conn:  # the shop fixes the phone number
        conn.execute(sa.text("UPDATE shop_order SET receiver_mobile = '13912345678' WHERE id = :i"), {"i": bad_id})

    report = push_orders(bridge("run-2"))
    with caplog.at_level(logging.INFO, logger="wmsbridge.pipelines.report"):
        report.log()

    assert report.sent == 1 and report.fixed == [bad_code]
    assert order_sync_rows(store)[bad_code]["state"] == "sent"
    said = caplog.text + capsys.readouterr().out  # Airflow's logging may route it to stdout
    assert f"1 fixed in the shop since an earlier run refused them, sent now: {bad_code}" in said


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_scheduled_cancel_run_reads_the_shop_since_its_last_success_as_airflow_hands_it(
        backend, make_shop, bridge_env, wms_simulator_factory):
    """Airflow hands prev_start_date_success as a pendulum DateTime (sqlite3 cannot bind one)."""
    import pendulum

    from wmsbridge.pipelines import tasks
    from wmsbridge.pipelines.policy import TaskRun, _moment

    shop = make_shop(backend, "reference", orders=20, skus=6, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, live=True)
    push_orders(bridge("push-1"))
    ((refund_id, refund_code),) = _paid(shop, 1)
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE shop_order SET status = 'refunded', updated_at = :t WHERE id = :i"),
                     {"t": datetime.now(timezone.utc).replace(tzinfo=None), "i": refund_id})
    last = pendulum.now("Asia/Shanghai").subtract(minutes=30)

    value = tasks.order_cancel(TaskRun("wms_order_cancel", "scheduled__x", "scheduled", last_success=_moment(last)))

    assert value["counts"]["sent"] == 1 and order_sync_rows(store)[refund_code]["state"] == "cancelled"
    not_live = TaskRun("wms_order_cancel", "scheduled__y", "scheduled")
    bridge_env(shop, sim, live=["orders"])
    from airflow.sdk.exceptions import AirflowSkipException
    with pytest.raises(AirflowSkipException, match="not live"):
        tasks.order_cancel(not_live)
