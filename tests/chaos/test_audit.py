"""The chaos audit counts what it must: a check that always says 0 would make `make chaos` prove nothing."""

from __future__ import annotations

from types import SimpleNamespace as Row

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
