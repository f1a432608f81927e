"""inventory.query: the request for several items, and the lenient, typed reading of the answer."""

from __future__ import annotations

from datetime import date

import pytest

from qimen import build_inventory_query, build_response, parse_inventory_response, parse_request, sellable_by_item
from qimen.inventory import InventoryRow


def _answer(items) -> str:
    return build_response("success", "0", f"{len(items)} rows", {"items": items}, method="inventory.query")


def test_request_names_every_item_once_with_warehouse_and_owner():
    body = build_inventory_query(["A-1", "B-2", "C-3"], warehouse_code="WH01", owner_code="OWNER01")
    doc = parse_request("inventory.query", body)
    assert [c["itemCode"] for c in doc["criteriaList"]] == ["A-1", "B-2", "C-3"]
    assert {c["warehouseCode"] for c in doc["criteriaList"]} == {"WH01"}
    with pytest.raises(ValueError):
        build_inventory_query([])


def test_several_rows_per_item_combine_into_zp_quantity_only():
    answer = parse_inventory_response(_answer([
        {"itemCode": "A", "inventoryType": "ZP", "quantity": "5", "lockQuantity": "2", "batchCode": "B1",
         "productDate": "2026-01-01", "expireDate": "2027-01-01"},
        {"itemCode": "A", "inventoryType": "ZP", "quantity": "7", "batchCode": "B2"},
        {"itemCode": "A", "inventoryType": "CC", "quantity": "3"},
        {"itemCode": "B", "inventoryType": "ZT", "quantity": "9"},
    ]))
    assert answer.problems == ()
    assert len(answer.rows) == 4
    first = answer.rows[0]
    assert (first.batch_code, first.lock_quantity, first.product_date) == ("B1", 2, date(2026, 1, 1))
    # locked stock is not in `quantity` (Qimen: quantity is the part not frozen): not subtracted again
    assert answer.sellable() == {"A": 12, "B": 0}


def test_missing_inventory_type_means_zp_and_empty_quantity_means_zero():
    answer = parse_inventory_response(_answer([{"itemCode": "A", "quantity": "4"}, {"itemCode": "B"}]))
    assert [(r.inventory_type, r.quantity) for r in answer.rows] == [("ZP", 4), ("ZP", 0)]
    assert answer.sellable() == {"A": 4, "B": 0}


def test_negative_quantities_are_clamped_and_reported():
    answer = parse_inventory_response(_answer([{"itemCode": "A", "quantity": "-3", "lockQuantity": "-1"}]))
    assert (answer.rows[0].quantity, answer.rows[0].lock_quantity) == (0, 0)
    assert len(answer.problems) == 2 and "quantity -3 clamped to 0" in answer.problems[0]


def test_unreadable_rows_are_dropped_and_reported_the_rest_kept():
    body = (
        "<response><flag>success</flag><code>0</code><message/><items>"
        "<item><itemCode>A</itemCode><quantity>2.0</quantity><productDate>not a date</productDate>"
        "<somethingNew>x</somethingNew></item>"
        "<item><quantity>1</quantity></item>"
        "<item><itemCode>C</itemCode><quantity>1.5</quantity></item>"
        "<item><itemCode>D</itemCode><quantity>lots</quantity></item>"
        "</items></response>"
    )
    answer = parse_inventory_response(body)
    assert [(r.item_code, r.quantity, r.product_date) for r in answer.rows] == [("A", 2, None)]
    assert len(answer.problems) == 3
    assert any("no itemCode" in p for p in answer.problems)
    assert any("C" in p and "whole number" in p for p in answer.problems)


def test_an_answer_without_items_is_empty_not_an_error():
    assert parse_inventory_response("<response><flag>success</flag><code>0</code></response>").rows == ()


def test_sellable_by_item_sums_batches_and_warehouses():
    rows = [InventoryRow("A", "ZP", 1, 0, "WH1", batch_code="x"), InventoryRow("A", "ZP", 2, 5, "WH2"),
            InventoryRow("A", "XS", 8, 0)]
    assert sellable_by_item(rows) == {"A": 3}
