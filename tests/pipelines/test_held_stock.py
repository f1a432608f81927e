"""Stock the shop itself holds, with litemall's real order/stock behaviour, on the three databases.

litemall takes stock when an order is submitted (``reduceStock``: 101 unpaid) and puts it back on a
cancel (102/103/104) and on refund approval (203, ``addStock``). The daily write-back must subtract
every unit the shop holds for orders the warehouse does not hold (the profile's ``held_stock``), or
those units are sold twice once the shop gives them back: after unpaid orders time out and a refund
is approved, no SKU's shop stock may exceed what the warehouse can sell.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, bridge, order_sync_rows
from databases import BACKENDS

from wmsbridge.pipelines.cancels import cancel_orders
from wmsbridge.pipelines.inventory import sync_inventory
from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import push_orders

HELD = (101, 201, 202)  # litemall's statuses whose units the shop has taken and not given back


def _lines(conn, statuses) -> list[tuple]:
    """(order id, order code, status, SKU id, quantity) of the orders in ``statuses``."""
    return [tuple(r) for r in conn.execute(sa.text(
        "SELECT o.id, o.order_sn, o.order_status, g.product_id, g.number FROM litemall_order o "
        "JOIN litemall_order_goods g ON g.order_id = o.id WHERE o.deleted = FALSE AND g.deleted = FALSE "
        f"AND o.order_status IN ({', '.join(str(s) for s in statuses)})"))]


def add_stock(conn, order_id: int) -> None:
    """litemall's addStock: an order's units back to its SKUs (cancel, refund approval)."""
    for sku, number in conn.execute(sa.text("SELECT product_id, number FROM litemall_order_goods "
                                            "WHERE order_id = :o AND deleted = FALSE"), {"o": order_id}).all():
        conn.execute(sa.text("UPDATE litemall_goods_product SET number = number + :n WHERE id = :s"),
                     {"n": number, "s": sku})


def set_status(conn, order_id: int, status: int) -> None:
    conn.execute(sa.text("UPDATE litemall_order SET order_status = :s, update_time = :t WHERE id = :o"),
                 {"s": status, "o": order_id, "t": datetime.now(timezone(timedelta(hours=8))).replace(tzinfo=None)})


def warehouse_sellable(sim) -> dict[str, int]:
    return {row["item_code"]: row["quantity"] for row in sim.admin.stock()
            if row["inventory_type"] == "ZP" and not row["batch_code"]}


def shop_stock_by_item(shop, store) -> dict[str, int]:
    with store.engine.connect() as conn:
        skus = dict(conn.execute(sa.text("SELECT sku_id, item_code FROM wms_item_sync WHERE state = 'synced'")).all())
    with shop.engine.connect() as conn:
        stock = dict(conn.execute(sa.text("SELECT id, number FROM litemall_goods_product")).all())
    return {code: stock[int(sku)] for sku, code in skus.items()}


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_sku_sells_more_than_the_warehouse_holds_after_timeouts_and_refunds(
        backend, make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop(backend, "litemall", orders=80, skus=6, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim, inventory_max_total_change_pct=1000, inventory_max_zeroed_pct=100,
                       inventory_requests_per_second=0)
    assert sync_items(bridge("items")).sent > 0
    # The goods on the warehouse's shelves: the shop's stock plus every unit it holds for an order
    # not shipped yet (litemall took those at submit); so far the two agree.
    with shop.engine.connect() as conn:
        held = _lines(conn, HELD)
    assert {status for _id, _code, status, _sku, _n in held} >= {101, 201}, "need unpaid and paid orders"
    shelves = shop_stock_by_item(shop, store)
    with store.engine.connect() as conn:
        item_of = {int(s): c for s, c in conn.execute(sa.text("SELECT sku_id, item_code FROM wms_item_sync")).all()}
    for _id, _code, _status, sku, number in held:
        if sku in item_of:
            shelves[item_of[sku]] += number
    sim.admin.seed_stock([{"itemCode": code, "quantity": qty} for code, qty in shelves.items()])

    push_orders(bridge("push"))  # the paid orders: accepted, their units locked at the warehouse
    with shop.engine.begin() as conn:  # a buyer asks for a refund of one the warehouse accepted
        refunded_id, refunded_code = next((r[0], r[1]) for r in _lines(conn, (201,))
                                          if order_sync_rows(store).get(r[1], {}).get("state") == "sent")
        set_status(conn, refunded_id, 202)
    cancel_orders(bridge("cancel"), changed_from_utc=datetime.now(timezone.utc) - timedelta(hours=1))
    assert order_sync_rows(store)[refunded_code]["state"] == "cancelled"  # the warehouse released its units

    report = sync_inventory(bridge("stock"), force=True)  # the daily write-back, while all of that is pending
    assert report.sent + report.unchanged > 0

    with shop.engine.begin() as conn:  # then litemall gives units back by itself
        for order_id, *_ in {r[0]: r for r in _lines(conn, (101,))}.values():
            set_status(conn, order_id, 103)  # unpaid orders time out
            add_stock(conn, order_id)
        set_status(conn, refunded_id, 203)  # the admin approves the refund
        add_stock(conn, refunded_id)

    sellable, shop_now = warehouse_sellable(sim), shop_stock_by_item(shop, store)
    oversold = {code: (shop_now[code], sellable.get(code, 0)) for code in shop_now
                if shop_now[code] > sellable.get(code, 0)}
    assert not oversold, f"shop stock above what the warehouse can sell (shop, warehouse): {oversold}"
    # and nothing is held back either: every SKU shows what the warehouse can sell, less the units
    # still promised to orders the warehouse does not hold (refunds not approved yet, say)
    states = order_sync_rows(store)
    with shop.engine.connect() as conn:
        still = [(sku, number) for _id, code, _status, sku, number in _lines(conn, HELD)
                 if states.get(code, {}).get("state") not in ("sent", "partially_shipped")]
    expected = {code: sellable.get(code, 0) for code in shop_now}
    for sku, number in still:
        if sku in item_of:
            expected[item_of[sku]] -= number
    assert shop_now == expected
