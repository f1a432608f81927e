"""Every validator rule, caught at least once, with the path and message an operator reads."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from qimen.validation import Violation, validate


@pytest.mark.parametrize("method", ["singleitem.synchronize", "deliveryorder.create", "order.cancel",
                                    "inventory.query", "deliveryorder.confirm"])
def test_valid_documents_have_no_violations(method, documents):
    assert validate(method, documents[method]) == []


def _set(doc: dict, path: tuple, value) -> None:
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DELETE = object()

# (method, path to change, new value, expected rule, expected str(violation))
CASES = [
    # required: missing, None, empty, whitespace-only, missing struct, missing list
    ("deliveryorder.create", ("deliveryOrder", "receiverInfo", "mobile"), _DELETE, "required",
     "deliveryOrder.receiverInfo.mobile: required"),
    ("deliveryorder.create", ("deliveryOrder", "receiverInfo", "name"), "   ", "required",
     "deliveryOrder.receiverInfo.name: required"),
    ("deliveryorder.create", ("deliveryOrder", "receiverInfo", "area"), None, "required",
     "deliveryOrder.receiverInfo.area: required"),
    ("deliveryorder.create", ("deliveryOrder", "shopNick"), "", "required", "deliveryOrder.shopNick: required"),
    ("deliveryorder.create", ("deliveryOrder", "receiverInfo"), _DELETE, "required",
     "deliveryOrder.receiverInfo: required"),
    ("deliveryorder.create", ("orderLines",), _DELETE, "required", "orderLines: required"),
    ("deliveryorder.create", ("orderLines", 0, "itemName"), "\t", "required", "orderLines[0].itemName: required"),
    ("singleitem.synchronize", ("item",), None, "required", "item: required"),
    ("singleitem.synchronize", ("item", "itemType"), _DELETE, "required", "item.itemType: required"),
    ("inventory.query", ("criteriaList", 1, "itemCode"), "", "required", "criteriaList[1].itemCode: required"),
    ("order.cancel", ("orderCode",), None, "required", "orderCode: required"),
    # max length counts characters, not UTF-8 bytes
    ("deliveryorder.create", ("deliveryOrder", "receiverInfo", "province"), "省" * 51, "max_len",
     "deliveryOrder.receiverInfo.province: longer than 50 characters (51)"),
    ("order.cancel", ("cancelReason",), "x" * 501, "max_len", "cancelReason: longer than 500 characters (501)"),
    # enumerations
    ("deliveryorder.create", ("deliveryOrder", "orderType"), "jyck", "enum",
     "deliveryOrder.orderType: must be one of JYCK, HHCK, BFCK, QTCK (got 'jyck')"),
    ("singleitem.synchronize", ("actionType",), "delete", "enum",
     "actionType: must be one of add, update (got 'delete')"),
    ("inventory.query", ("criteriaList", 0, "inventoryType"), "GOOD", "enum",
     "criteriaList[0].inventoryType: must be one of ZP, CC, JS, XS, ZT (got 'GOOD')"),
    ("deliveryorder.confirm", ("deliveryOrder", "confirmType"), 2, "enum",
     "deliveryOrder.confirmType: must be one of 0, 1 (got '2')"),
    # integers
    ("deliveryorder.create", ("orderLines", 1, "planQty"), "1.5", "int",
     "orderLines[1].planQty: must be a positive integer"),
    ("deliveryorder.create", ("orderLines", 1, "planQty"), True, "int",
     "orderLines[1].planQty: must be a positive integer"),
    ("deliveryorder.create", ("orderLines", 0, "planQty"), 0, "min_value",
     "orderLines[0].planQty: must be a positive integer"),
    ("singleitem.synchronize", ("item", "safetyStock"), -1, "min_value",
     "item.safetyStock: must be a non-negative integer"),
    ("deliveryorder.confirm", ("deliveryOrder", "confirmType"), "final", "int",
     "deliveryOrder.confirmType: must be an integer"),
    # decimals and their scale
    ("deliveryorder.create", ("orderLines", 0, "actualPrice"), "59,90", "decimal",
     "orderLines[0].actualPrice: must be a decimal number"),
    ("deliveryorder.create", ("orderLines", 0, "actualPrice"), 59.9, "decimal",
     "orderLines[0].actualPrice: must be a Decimal, int or text, not float (binary floats lose cents)"),
    ("deliveryorder.create", ("deliveryOrder", "totalAmount"), Decimal("NaN"), "decimal",
     "deliveryOrder.totalAmount: must be a finite decimal number"),
    ("deliveryorder.create", ("deliveryOrder", "totalAmount"), Decimal("1" * 17), "decimal",
     "deliveryOrder.totalAmount: more than 16 digits before the decimal point"),
    ("deliveryorder.create", ("orderLines", 0, "actualPrice"), Decimal("59.905"), "scale",
     "orderLines[0].actualPrice: at most 2 decimal places (59.905)"),
    ("singleitem.synchronize", ("item", "grossWeight"), "1.2345", "scale",
     "item.grossWeight: at most 3 decimal places (1.2345)"),
    # date-times and dates
    ("deliveryorder.create", ("deliveryOrder", "placeOrderTime"), "2024-01-11T11:20:00", "datetime",
     "deliveryOrder.placeOrderTime: must be yyyy-MM-dd HH:mm:ss"),
    ("deliveryorder.create", ("deliveryOrder", "payTime"), datetime(2024, 1, 11, 11, 20), "datetime",
     "deliveryOrder.payTime: naive datetime: attach its time zone"),
    ("deliveryorder.create", ("deliveryOrder", "payTime"), 1704943200, "datetime",
     "deliveryOrder.payTime: must be an aware datetime or yyyy-MM-dd HH:mm:ss text"),
    ("deliveryorder.create", ("orderLines", 1, "productDate"), "2023/12/01", "date",
     "orderLines[1].productDate: must be yyyy-MM-dd"),
    ("deliveryorder.create", ("orderLines", 1, "expireDate"), datetime(2025, 1, 1), "date",
     "orderLines[1].expireDate: naive datetime: attach its time zone"),
    # Y/N
    ("deliveryorder.create", ("deliveryOrder", "isUrgency"), "yes", "yn", "deliveryOrder.isUrgency: must be Y or N"),
    ("singleitem.synchronize", ("item", "isValid"), 1, "yn", "item.isValid: must be Y or N"),
    # shapes
    ("deliveryorder.create", ("deliveryOrder", "receiverInfo"), "浙江省台州市", "type",
     "deliveryOrder.receiverInfo: must be a mapping of fields"),
    ("deliveryorder.create", ("orderLines",), {"orderLine": {}}, "type", "orderLines: must be a list of orderLine"),
    ("deliveryorder.create", ("orderLines", 0), "SKU-001", "type",
     "orderLines[0]: each orderLine must be a mapping of fields"),
    ("deliveryorder.create", ("deliveryOrder", "shopNick"), {"name": "x"}, "type",
     "deliveryOrder.shopNick: must be a single value"),
    ("deliveryorder.create", ("deliveryOrder", "shopNick"), date(2024, 1, 1), "type",
     "deliveryOrder.shopNick: must be text, not date"),
    ("order.cancel", ("extendProps",), ["a"], "type", "extendProps: must be a mapping of names to values"),
    # list minimum
    ("deliveryorder.create", ("orderLines",), [], "min_items", "orderLines: needs at least 1 orderLine"),
    ("inventory.query", ("criteriaList",), [], "min_items", "criteriaList: needs at least 1 criteria"),
    # unknown fields, at any depth
    ("deliveryorder.create", ("deliveryOrder", "receiverInfo", "mobil"), "150", "unknown",
     "deliveryOrder.receiverInfo.mobil: unknown field"),
    ("deliveryorder.create", ("orderLines", 1, "quantity"), 1, "unknown", "orderLines[1].quantity: unknown field"),
    ("singleitem.synchronize", ("itemName",), "x", "unknown", "itemName: unknown field"),
    # XML-illegal characters
    ("singleitem.synchronize", ("item", "itemName"), "大衣\x0b", "xml_char",
     "item.itemName: contains a character not allowed in XML (U+000B)"),
    ("deliveryorder.confirm", ("orderLines", 0, "snList"), ["SN1", "SN\ufffe"], "xml_char",
     "orderLines[0].snList[1]: contains a character not allowed in XML (U+FFFE)"),
    # extendProps element names
    ("order.cancel", ("extendProps",), {"bad name": "x"}, "name", "extendProps.bad name: not a valid XML element name"),
]


@pytest.mark.parametrize(
    "method, path, value, rule, expected", CASES, ids=[f"{c[3]}:{'.'.join(map(str, c[1]))}" for c in CASES]
)
def test_rule_is_caught(method, path, value, rule, expected, documents):
    document = documents[method]
    _set(document, path, value)
    violations = validate(method, document)
    assert [str(v) for v in violations] == [expected]
    assert violations[0].rule == rule


def test_every_rule_has_a_case():
    rules_in_docstring = {"required", "max_len", "enum", "int", "min_value", "decimal", "scale", "datetime", "date",
                          "yn", "type", "min_items", "unknown", "xml_char", "name"}
    assert {case[3] for case in CASES} == rules_in_docstring


def test_all_violations_are_reported_at_once(order_doc):
    order_doc["deliveryOrder"].pop("deliveryOrderCode")
    order_doc["deliveryOrder"]["receiverInfo"]["mobile"] = ""
    order_doc["orderLines"].append({"itemCode": "SKU-3", "planQty": -2, "actualPrice": "1.999", "colour": "红"})
    assert [str(v) for v in validate("deliveryorder.create", order_doc)] == [
        "deliveryOrder.deliveryOrderCode: required",
        "deliveryOrder.receiverInfo.mobile: required",
        "orderLines[2].ownerCode: required",
        "orderLines[2].itemName: required",
        "orderLines[2].planQty: must be a positive integer",
        "orderLines[2].actualPrice: at most 2 decimal places (1.999)",
        "orderLines[2].colour: unknown field",
    ]


def test_counting_is_in_characters_not_bytes(order_doc):
    order_doc["deliveryOrder"]["receiverInfo"]["province"] = "省" * 50  # 150 UTF-8 bytes, 50 characters
    assert validate("deliveryorder.create", order_doc) == []


def test_accepted_value_types(order_doc):
    line = order_doc["orderLines"][0]
    line.update(planQty=Decimal("3"), actualPrice=12, discountAmount="0.50", productDate="2024-01-01")
    order_doc["deliveryOrder"]["isUrgency"] = "Y"
    order_doc["deliveryOrder"]["warehouseCode"] = 15  # numeric codes are fine as text
    assert validate("deliveryorder.create", order_doc) == []


def test_not_a_mapping_and_unknown_method():
    assert validate("order.cancel", ["x"]) == [Violation("", "type", "document must be a mapping")]
    assert str(Violation("", "type", "document must be a mapping")) == "document must be a mapping"
    with pytest.raises(ValueError, match="unknown Qimen method"):
        validate("order.create", {})
