"""The warehouse's stock changes between daily syncs (stockchange.report) on the three databases:
stored once per outBizCode by the receiver, applied once to litemall's stock; our own orders' sales
outbound left out (the shop counted it); a change that would take the shop below zero, or move its
total stock past the guard rail, waits for a person; nothing is written twice however often it is
posted or applied."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, bridge, paid_order_codes
from databases import BACKENDS
from receivers import TOKEN, ThreadedReceiver

from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import push_orders
from wmsbridge.pipelines.stock_changes import apply_stock_changes
from wmsbridge.receiver.app import create_app
from wmsbridge.receiver.composition import build_receiver
from wmsbridge.store import attention
from wmsbridge.store.schema import stock_adjustment, warehouse_report


def shop_stock(shop) -> dict[str, int]:
    """litemall stock per item code (goods_sn-product id)."""
    with shop.engine.connect() as conn:
        return {f"{sn}-{sku}": n for sku, sn, n in conn.execute(sa.text(
            "SELECT p.id, g.goods_sn, p.number FROM litemall_goods_product p JOIN litemall_goods g ON g.id = p.goods_id"
        )).all()}


@pytest.mark.parametrize("backend", BACKENDS)
def test_stock_changes_are_applied_once_our_sales_left_out_and_a_disagreement_waits(
        backend, make_shop, wms_simulator_factory, bridge_env):
    shop = make_shop(backend, "litemall", orders=10, skus=4, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, callback_token=TOKEN, callback_customer_id=sim.customer_id,
                       enabled_methods=["stockchange.report"])
    assert sync_items(bridge("items")).sent > 0
    assert push_orders(bridge("push")).sent == len(paid_order_codes(shop)) > 0
    ours = sorted(paid_order_codes(shop))[0]
    before = shop_stock(shop)
    a, b, c = sorted(before)[:3]
    sim.admin.seed_stock([{"itemCode": code, "quantity": 1000} for code in (a, b, c)])
    with ThreadedReceiver(create_app(receiver=build_receiver())) as receiver:
        url = receiver.url()
        sim.admin.report_stock_change([{"itemCode": a, "quantity": 5}], order_code="CG-1", order_type="CGRK",
                                      repeat=1, callback_url=url)  # a purchase inbound, posted twice
        sim.admin.report_stock_change([{"itemCode": b, "quantity": -1}], order_code=ours, order_type="JYCK",
                                      callback_url=url)  # our own order's sale: the shop counted it
        sim.admin.report_stock_change([{"itemCode": b, "quantity": 2, "inventoryType": "CC"}], callback_url=url)
        sim.admin.report_stock_change([{"itemCode": c, "quantity": -(before[c] + 3)}], order_type="PKCK",
                                      callback_url=url)  # a stocktake loss larger than the shop's stock
        sim.admin.report_stock_change([{"itemCode": b, "quantity": 10 * sum(before.values())}], order_type="CGRK",
                                      callback_url=url)  # a unit mistake: ten times the shop's whole stock
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(warehouse_report).where(
            warehouse_report.c.method == "stockchange.report")).scalar_one() == 5  # the repeat stored once

    report = apply_stock_changes(bridge("changes-1"))
    assert (report.extracted, report.sent, report.unchanged, report.needs_person) == (5, 1, 2, 2)
    assert report.needs_person_verdict == 2
    after = shop_stock(shop)
    assert after == {**before, a: before[a] + 5}
    below, too_much = sorted(attention.rows(store.engine, "stock_changes_refused"), key=lambda r: int(r["subject"]))
    assert "below zero" in below["reason"] and c in below["reason"]
    assert "inventory_max_total_change_pct 50 %" in too_much["reason"] and b in too_much["reason"]
    with store.engine.connect() as conn:
        assert [(r.item_code, r.delta, r.state) for r in conn.execute(sa.select(stock_adjustment))] == \
            [(a, 5, "applied")]

    # applied again (a retry, a cleared task) and the same report once more: nothing moves
    again = apply_stock_changes(bridge("changes-2"))
    assert (again.extracted, again.sent) == (0, 0) and shop_stock(shop) == after
    with store.engine.begin() as conn:  # even a report put back to `received` (a crash before it was marked)
        conn.execute(sa.update(warehouse_report).where(warehouse_report.c.state == "applied",
                                                       warehouse_report.c.summary.like(f"%{a} +5%"))
                     .values(state="received"))
    third = apply_stock_changes(bridge("changes-3"))
    assert (third.extracted, third.unchanged) == (1, 1) and shop_stock(shop) == after


def test_stock_changes_not_switched_on_are_refused_at_the_door(make_shop, wms_simulator_factory, bridge_env):
    shop = make_shop("sqlite", "litemall", orders=2, skus=2, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, callback_token=TOKEN, callback_customer_id=sim.customer_id)
    assert sync_items(bridge("items")).sent > 0
    code = sorted(shop_stock(shop))[0]
    with ThreadedReceiver(create_app(receiver=build_receiver())) as receiver:
        sim.admin.report_stock_change([{"itemCode": code, "quantity": 5}], callback_url=receiver.url())
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(warehouse_report)).scalar_one() == 0
    report = apply_stock_changes(bridge("changes"))
    assert report.extracted == 0 and "not switched on" in report.notes[0]
