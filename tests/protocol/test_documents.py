"""Building documents: SPEC element order, value formatting, escaping, round trips."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from lxml import etree

from qimen.documents import (
    XML_DECLARATION,
    build_callback_answer,
    build_deliveryorder_confirm,
    build_document,
    build_error_response,
    build_response,
)
from qimen.errors import QimenGatewayError, QimenValidationError
from qimen.parsing import parse_deliveryorder_confirm, parse_request, parse_response
from qimen.rules import DOCUMENTS, RESPONSES
from qimen.validation import validate

METHODS = list(DOCUMENTS)


def tags(xml: str, path: str) -> list[str]:
    root = etree.fromstring(xml.encode("utf-8"))
    return [child.tag for child in root.find(path)] if path != "." else [child.tag for child in root]


def test_declaration_and_root(item_doc):
    xml = build_document("singleitem.synchronize", item_doc)
    assert xml.startswith(XML_DECLARATION + "<request>")
    assert XML_DECLARATION == '<?xml version="1.0" encoding="utf-8"?>'
    assert xml.endswith("</request>")


def test_spec_order_whatever_the_dict_order(order_doc):
    shuffled = {"orderLines": order_doc["orderLines"], "deliveryOrder": dict(reversed(order_doc["deliveryOrder"].items()))}
    shuffled["orderLines"] = [dict(reversed(line.items())) for line in shuffled["orderLines"]]
    xml = build_document("deliveryorder.create", shuffled)
    assert xml == build_document("deliveryorder.create", order_doc)
    assert tags(xml, ".") == ["deliveryOrder", "orderLines"]
    assert tags(xml, "deliveryOrder") == [
        "deliveryOrderCode", "orderType", "warehouseCode", "sourcePlatformCode", "createTime", "placeOrderTime",
        "operateTime", "shopNick", "totalAmount", "freight", "logisticsCode", "isUrgency", "buyerMessage",
        "receiverInfo",
    ]
    assert tags(xml, "deliveryOrder/receiverInfo") == ["name", "mobile", "province", "city", "area", "detailAddress"]
    assert tags(xml, "orderLines/orderLine") == [
        "orderLineNo", "ownerCode", "itemCode", "itemName", "planQty", "actualPrice",
    ]


def test_value_formatting(item_doc, order_doc):
    item = etree.fromstring(build_document("singleitem.synchronize", item_doc).encode()).find("item")
    assert item.findtext("length") == "30.5"
    assert item.findtext("grossWeight") == "1.250"
    assert item.findtext("retailPrice") == "399.00"
    assert item.findtext("isShelfLifeMgmt") == "N"
    assert item.findtext("isValid") == "Y"
    assert item.findtext("safetyStock") == "3"
    assert item.findtext("createTime") == "2024-01-11 11:22:05"  # 03:22:05 UTC in Beijing
    order = etree.fromstring(build_document("deliveryorder.create", order_doc).encode())
    assert order.findtext("deliveryOrder/freight") == "0"
    assert order.findtext("deliveryOrder/placeOrderTime") == "2024-01-11 11:20:00"  # text passes as is
    assert order.findall("orderLines/orderLine")[1].findtext("productDate") == "2023-12-01"
    assert order.findall("orderLines/orderLine")[1].findtext("planQty") == "1"


def test_aware_datetime_in_other_zone_goes_to_beijing(cancel_doc, item_doc):
    new_york = timezone(timedelta(hours=-5))
    item_doc["item"]["updateTime"] = datetime(2024, 1, 10, 22, 30, tzinfo=new_york)
    xml = build_document("singleitem.synchronize", item_doc)
    assert "<updateTime>2024-01-11 11:30:00</updateTime>" in xml


def test_naive_datetime_is_refused(order_doc):
    order_doc["deliveryOrder"]["createTime"] = datetime(2024, 1, 11, 11, 0)
    with pytest.raises(QimenValidationError) as exc:
        build_document("deliveryorder.create", order_doc)
    assert [str(v) for v in exc.value.violations] == ["deliveryOrder.createTime: naive datetime: attach its time zone"]
    with pytest.raises(QimenValidationError):  # even unvalidated: there is no right text for it
        build_document("deliveryorder.create", order_doc, validate=False)


def test_none_and_empty_are_left_out(cancel_doc):
    cancel_doc.update(orderId=None, cancelReason="", orderType="  ")
    xml = build_document("order.cancel", cancel_doc)
    assert tags(xml, ".") == ["warehouseCode", "ownerCode", "orderCode"]


def test_escaping_and_emoji_survive(order_doc):
    xml = build_document("deliveryorder.create", order_doc)
    assert "&amp; 谢谢 &lt;急&gt; 🚀" in xml
    back = parse_request("deliveryorder.create", xml)
    assert back["deliveryOrder"]["buyerMessage"] == "请尽快发货 & 谢谢 <急> 🚀"


def test_control_characters_refused_when_validating_and_stripped_otherwise(order_doc):
    order_doc["deliveryOrder"]["sellerMessage"] = "bad\x00char\x1b"
    with pytest.raises(QimenValidationError) as exc:
        build_document("deliveryorder.create", order_doc)
    assert exc.value.violations[0].path == "deliveryOrder.sellerMessage"
    assert exc.value.violations[0].rule == "xml_char"
    assert "U+0000" in str(exc.value)
    xml = build_document("deliveryorder.create", order_doc, validate=False)
    assert "<sellerMessage>badchar</sellerMessage>" in xml


def test_validation_error_carries_all_violations(order_doc):
    order_doc["deliveryOrder"]["receiverInfo"]["mobile"] = " "
    order_doc["orderLines"][1]["planQty"] = 0
    order_doc["deliveryOrder"]["logisticsCod"] = "ZTO"
    with pytest.raises(QimenValidationError) as exc:
        build_document("deliveryorder.create", order_doc)
    assert {str(v) for v in exc.value.violations} == {
        "deliveryOrder.receiverInfo.mobile: required",
        "orderLines[1].planQty: must be a positive integer",
        "deliveryOrder.logisticsCod: unknown field",
    }
    assert exc.value.retryable is False


def test_unvalidated_build_keeps_unknown_fields_after_known_ones(cancel_doc):
    cancel_doc = {"extraField": "x", **cancel_doc}
    xml = build_document("order.cancel", cancel_doc, validate=False)
    assert tags(xml, ".")[-1] == "extraField"


def test_long_method_names_are_accepted(cancel_doc):
    assert build_document("taobao.qimen.order.cancel", cancel_doc) == build_document("order.cancel", cancel_doc)


def test_extend_props_take_any_names(cancel_doc):
    cancel_doc["extendProps"] = {"refundId": "R1", "empty": ""}
    xml = build_document("order.cancel", cancel_doc)
    assert "<extendProps><refundId>R1</refundId></extendProps>" in xml


@pytest.mark.parametrize("method", METHODS)
def test_round_trip(method, documents):
    document = documents[method]
    xml = build_document(method, document)
    parsed = parse_request(method, xml)
    assert validate(method, parsed) == []
    assert build_document(method, parsed) == xml  # text form rebuilds the very same bytes
    assert set(parsed) == {k for k, v in document.items() if v not in (None, "")}


def test_round_trip_values(order_doc, inventory_doc):
    parsed = parse_request("deliveryorder.create", build_document("deliveryorder.create", order_doc))
    assert parsed["deliveryOrder"]["createTime"] == "2024-01-11 11:22:05"
    assert parsed["deliveryOrder"]["totalAmount"] == "119.80"
    assert [line["itemCode"] for line in parsed["orderLines"]] == ["SKU-001", "SKU-002"]
    parsed = parse_request("inventory.query", build_document("inventory.query", inventory_doc))
    assert parsed["criteriaList"] == [
        {"warehouseCode": "15", "ownerCode": "82073683308314625", "itemCode": "SKU-001", "inventoryType": "ZP"},
        {"warehouseCode": "15", "ownerCode": "82073683308314625", "itemCode": "SKU-002"},
    ]


def test_confirm_round_trip_typed(confirm_doc):
    confirm = parse_deliveryorder_confirm(build_deliveryorder_confirm(confirm_doc))
    assert confirm.deliveryOrderCode == "SO20240111001"
    assert confirm.confirmType == 0 and confirm.is_final
    assert confirm.orderConfirmTime == datetime(2024, 1, 11, 8, 0, tzinfo=timezone.utc)
    assert confirm.operateTime is None
    assert confirm.packages[0].weight == Decimal("1.250")
    assert confirm.packages[0].items[0].quantity == 2
    assert confirm.orderLines[0].productDate == date(2023, 12, 1)
    assert confirm.orderLines[0].snList == ("SN001", "SN002")


def test_build_response_orders_fields_per_method():
    xml = build_response(
        fields={"deliveryOrderId": "JY1", "createTime": "2024-01-11 11:22:05", "warehouseCode": "15"},
        method="deliveryorder.create",
    )
    assert tags(xml, ".") == ["flag", "code", "message", "createTime", "deliveryOrderId", "warehouseCode"]
    resp = parse_response(xml, "deliveryorder.create")
    assert resp.success and resp.code == "0" and resp.fields["deliveryOrderId"] == "JY1"


def test_build_response_with_lists_parses_back_as_lists():
    rows = [
        {"itemCode": "SKU-001", "inventoryType": "ZP", "quantity": 5, "lockQuantity": 1},
        {"itemCode": "SKU-001", "inventoryType": "CC", "quantity": 0},
    ]
    xml = build_response(fields={"items": rows}, method="inventory.query")
    resp = parse_response(xml, "inventory.query")
    assert resp.fields["items"] == [
        {"itemCode": "SKU-001", "inventoryType": "ZP", "quantity": "5", "lockQuantity": "1"},
        {"itemCode": "SKU-001", "inventoryType": "CC", "quantity": "0"},
    ]
    assert "inventory.query" in RESPONSES


def test_callback_answer_and_error_response():
    assert parse_response(build_callback_answer(True)).success
    failed = parse_response(build_callback_answer(False, "sign-check-failure", "签名错误"))
    assert (failed.flag, failed.code, failed.message) == ("failure", "sign-check-failure", "签名错误")
    with pytest.raises(QimenGatewayError) as exc:
        parse_response(build_error_response(sub_code="isp.timeout", sub_msg="超时"))
    assert (exc.value.code, exc.value.sub_code, exc.value.sub_msg) == ("50", "isp.timeout", "超时")
    assert exc.value.retryable is True


TRICKY_TEXT = [
    "]]> end of CDATA",
    "&amp; already escaped",
    "  leading and trailing spaces  ",
    "line1\r\nline2\ttab",
    "emoji 👍🏽 and 𠀀 (outside the BMP)",
    "quotes \" and ' and <tag/>",
    "全角　空格",
]


@pytest.mark.parametrize("text", TRICKY_TEXT)
def test_tricky_text_round_trips_exactly(text, cancel_doc):
    cancel_doc["cancelReason"] = text
    xml = build_document("order.cancel", cancel_doc)
    assert parse_request("order.cancel", xml)["cancelReason"] == text
    assert parse_request("order.cancel", xml.encode("utf-8"))["cancelReason"] == text


def test_pandas_values(order_doc):
    import numpy as np
    import pandas as pd

    head = order_doc["deliveryOrder"]
    head["createTime"] = pd.Timestamp("2024-01-11 03:22:05", tz="UTC")
    head["payTime"] = pd.NaT  # missing: left out, not a crash deep in formatting
    head["sellerNick"] = pd.NA
    head["isUrgency"] = np.bool_(True)
    order_doc["orderLines"][0]["planQty"] = np.int64(2)
    assert validate("deliveryorder.create", order_doc) == []
    order = etree.fromstring(build_document("deliveryorder.create", order_doc).encode())
    assert order.findtext("deliveryOrder/createTime") == "2024-01-11 11:22:05"
    assert order.find("deliveryOrder/payTime") is None and order.find("deliveryOrder/sellerNick") is None
    assert order.findtext("deliveryOrder/isUrgency") == "Y"
    assert order.findtext("orderLines/orderLine/planQty") == "2"
    head["operateTime"] = pd.NaT  # required: NaT counts as missing
    order_doc["orderLines"][0]["actualPrice"] = np.float64(59.9)  # a float stays refused
    assert [str(v) for v in validate("deliveryorder.create", order_doc)] == [
        "deliveryOrder.operateTime: required",
        "orderLines[0].actualPrice: must be a Decimal, int or text, not float (binary floats lose cents)",
    ]


def test_build_response_without_method_keeps_dict_order():
    xml = build_response(fields={"b": "2", "a": {"x": "1"}, "empty": None})
    assert tags(xml, ".") == ["flag", "code", "message", "b", "a"]
    assert parse_response(xml).fields == {"b": "2", "a": {"x": "1"}}
