"""The chaos audit counts what it must: a check that always says 0 would make `make chaos` prove nothing."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace as Row

import sqlalchemy as sa

from wmsbridge_tools.chaos import audit


def order(state: str, retryable: bool = False) -> Row:
    return Row(state=state, last_error_retryable=retryable)


def test_orders_lost_and_duplicated():
    count = audit.FlowCount()
    orders = {"A": order("sent"), "B": order("failed", retryable=True), "C": order("rejected"),
              "D": order("pending"), "E": order("failed")}
    warehouse = {"A": {}, "D": {}, "X": {}}  # D arrived but the store thinks it pending; X was never paid
    audit._orders(count, ["A", "B", "C", "D", "E"], orders, warehouse, requests=[])
    assert (count.lost, count.duplicated) == (2, 1), count.examples  # B (retryable, not sent) and D; X


def test_cancels_lost():
    count = audit.FlowCount()
    refunds = {"unshipped": ["A", "B"], "shipped": ["C"], "never_sent": ["D"]}
    orders = {"A": order("cancelled"), "B": order("cancel_requested"), "C": order("shipped"), "D": order("cancelled")}
    warehouse = {"A": {"status": "CANCELED"}, "B": {"status": "ACCEPT"}, "C": {"status": "DELIVERED"}}
    audit._cancels(count, refunds, orders, warehouse, requests=[])
    assert count.lost == 2 and count.duplicated == 0, count.examples  # B still active, C not waiting visibly


def test_items_lost_and_duplicated():
    count = audit.FlowCount()
    items = {"S1": Row(state="synced", wms_item_id="IT1", last_error_code=None),
             "S2": Row(state="synced", wms_item_id="IT9", last_error_code=None),
             "S3": Row(state="synced", wms_item_id=None, last_error_code=None)}
    audit._items(count, items, [{"item_code": "S1", "item_id": "IT1"}, {"item_code": "S2", "item_id": "IT2"}])
    assert (count.lost, count.duplicated) == (1, 1), count.examples  # S3 unknown there; S2 under another id


# -- across bridges: each check must see a planted crossing (the shops share every code) -------------

MARK = Row(id="shop-a", customer_id="CUST-A", marker="chaos bridge shop-a", tracking_prefix="CHXA",
           paid=["A1", "A2"], refunds={"unshipped": ["A1"], "shipped": [], "never_sent": []})


def _create(code: str, message: str) -> str:
    return (f"<request><deliveryOrder><deliveryOrderCode>{code}</deliveryOrderCode>"
            f"<sellerMessage>{message}</sellerMessage></deliveryOrder></request>")


def test_requests_under_another_account_or_of_another_shop_are_crossings():
    requests = [
        {"id": 1, "method": "deliveryorder.create", "query": {"customerId": "CUST-A"}, "body": _create("A1", MARK.marker)},
        {"id": 2, "method": "deliveryorder.create", "query": {"customerId": "CUST-B"}, "body": _create("A2", MARK.marker)},
        {"id": 3, "method": "deliveryorder.create", "query": {"customerId": "CUST-A"},
         "body": _create("A2", "chaos bridge shop-b")},
        {"id": 4, "method": "order.cancel", "query": {"customerId": "CUST-A"}, "body": "<request><orderCode>A1</orderCode></request>"},
        {"id": 5, "method": "order.cancel", "query": {"customerId": "CUST-A"}, "body": "<request><orderCode>A2</orderCode></request>"},
    ]
    crossing = audit.Crossing()
    audit._requests_crossing(crossing, MARK, requests)
    assert (crossing.checked, crossing.crossed) == (5, 3), crossing.examples  # 2: account, 3: shop b's order, 5: not refunded


def test_another_warehouses_tracking_number_is_a_crossing(tmp_path):
    shop = sa.create_engine(f"sqlite:///{tmp_path / 'shop.sqlite'}")
    with shop.begin() as conn:
        conn.execute(sa.text("CREATE TABLE shop_order (order_no TEXT, tracking_no TEXT)"))
        conn.execute(sa.text("INSERT INTO shop_order VALUES ('A1', 'CHXA00000001'), ('A2', 'CHXB00000002'),"
                             " ('OLD', 'SF123')"))  # OLD: shipped by the generator, not by chaos
    orders = [Row(delivery_order_code="A1", tracking_numbers="CHXA00000001,CHXB00000009")]
    crossing = audit.Crossing()
    audit._tracking_crossing(crossing, MARK, shop, orders, inbox=[])
    assert (crossing.checked, crossing.crossed) == (3, 2), crossing.examples  # A2 in the shop, A1's second number


def test_a_stored_message_another_warehouse_posted_is_a_crossing():
    posted = [{"out_biz_code": "OB1", "body": "<request>a's</request>"}, {"out_biz_code": "OB2", "body": "<request>x</request>"}]
    inbox = [Row(out_biz_code="OB1", raw_body="<request>a's</request>"), Row(out_biz_code="OB2", raw_body="<request>b's</request>")]
    crossing = audit.Crossing()
    audit._bodies_crossing(crossing, MARK, inbox, reports=[], posted=posted)
    assert (crossing.checked, crossing.crossed) == (2, 1), crossing.examples


def test_another_warehouses_stock_figure_is_a_crossing():
    stock = [{"item_code": "S1", "inventory_type": "ZP", "batch_code": "", "quantity": 7},
             {"item_code": "S2", "inventory_type": "ZP", "batch_code": "", "quantity": -2}]  # read as 0
    snapshot = [Row(item_code="S1", inventory_type="ZP", batch_code="", quantity=23),
                Row(item_code="S2", inventory_type="ZP", batch_code="", quantity=0)]
    writebacks = [Row(item_code="S1", wms_quantity=23), Row(item_code="S2", wms_quantity=5)]
    crossing = audit.Crossing()
    audit._stock_crossing(crossing, MARK, snapshot, writebacks, stock)
    assert (crossing.checked, crossing.crossed) == (4, 2), crossing.examples  # S1's snapshot; S2 decided on 5


def test_store_rows_of_no_configured_bridge_are_found(tmp_path):
    from wmsbridge.store.migrate import upgrade
    from wmsbridge.store.schema import NO_BRIDGE, exchange_log, item_sync

    store = sa.create_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    upgrade(store)
    now = datetime.now(timezone.utc)
    with store.begin() as conn:
        conn.execute(sa.insert(item_sync), [{"bridge_id": b, "item_code": "S1", "state": "synced", "attempts": 0,
                                             "created_at": now, "updated_at": now} for b in ("shop-a", "default")])
        conn.execute(sa.insert(exchange_log), [{"bridge_id": NO_BRIDGE, "logged_at": now, "direction": "inbound",
                                                "method": "deliveryorder.confirm", "outcome": "refused"}])
    stray = audit.stray_rows(store, ["shop-a", "shop-b"])
    assert (stray.checked, stray.crossed) == (3, 1), stray.examples  # item S1 of 'default'; the unknown callback is allowed


def test_another_warehouses_ids_and_orders_logged_for_another_account_are_crossings():
    admin = Row(orders=lambda: [{"order_code": "A1", "order_id": "DO1"}, {"order_code": "A2", "order_id": "DO2"}],
                returns=lambda: [])
    orders = [Row(delivery_order_code="A1", wms_order_id="DO1"), Row(delivery_order_code="A2", wms_order_id="DO7")]
    crossing = audit.Crossing()
    audit._ids_crossing(crossing, MARK, orders, returns=[], admin=admin)
    assert (crossing.checked, crossing.crossed) == (2, 1), crossing.examples  # A2 under warehouse b's id

    url = "http://127.0.0.1:1/api/v1/x?method=deliveryorder.create&customerId="
    sent = [Row(request_body=_create("A1", MARK.marker), request_url=url + "CUST-A"),
            Row(request_body=_create("A2", MARK.marker), request_url=url + "CUST-B"),
            Row(request_body=_create("A2", "chaos bridge shop-b"), request_url=url + "CUST-A")]
    crossing = audit.Crossing()
    audit._sent_crossing(crossing, MARK, sent)
    assert (crossing.checked, crossing.crossed) == (3, 2), crossing.examples
