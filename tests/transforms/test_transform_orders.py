"""build_delivery_orders: round trip through the Qimen parser, every reject reason, truncation,
held orders, content hashes."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pytest
from qimen import rules
from qimen.parsing import parse_request
from qimen.validation import validate
from transform_frames import frame, line_row, order_row

from wmsbridge.transforms import SAFE_TO_TRUNCATE, build_delivery_orders

NOW = datetime(2026, 11, 28, 2, 0, 0, tzinfo=timezone.utc)  # 10:00:00 in Beijing
METHOD = "deliveryorder.create"


def build(orders, lines, settings, **kwargs):
    kwargs.setdefault("now", NOW)
    return build_delivery_orders(frame(orders), frame(lines), settings=settings, **kwargs)


def reasons(batch, order_code: str) -> list[str]:
    row = batch.rejects.set_index("order_code").loc[order_code]
    return list(row["violations"])


def sent(batch, order_code: str) -> dict:
    body = batch.documents.set_index("order_code").loc[order_code, "body"]
    return parse_request(METHOD, body)


# --- round trip ---------------------------------------------------------------------------------


def test_round_trip_carries_every_value_in_beijing_time(settings):
    orders = [order_row(receiver_tel="0576-87654321", seller_message="送赠品")]
    lines = [line_row(line_no=2, item_code="B-2", item_name="毛巾", quantity=3, price=Decimal("5.5")),
             line_row(line_no=1)]
    batch = build(orders, lines, settings)

    assert batch.rejects.empty and batch.held.empty
    doc = sent(batch, "SO1001")
    order = doc["deliveryOrder"]
    assert order["deliveryOrderCode"] == "SO1001"
    assert order["orderType"] == "JYCK"
    assert order["warehouseCode"] == "WH15"
    assert order["sourcePlatformCode"] == "API"
    assert order["placeOrderTime"] == "2026-11-28 00:30:00"  # 2026-11-27T16:30:00Z
    assert order["payTime"] == "2026-11-28 00:30:00"
    assert order["createTime"] == order["operateTime"] == "2026-11-28 10:00:00"
    assert order["shopNick"] == "四海母婴专营店"
    assert order["buyerNick"] == "阿飞88111"
    assert order["logisticsCode"] == "YUNDA"  # the shop's Kdniao YD, mapped
    assert order["totalAmount"] == "39.90"
    assert order["discountAmount"] == "0.00"
    assert order["buyerMessage"] == "请尽快发货"
    assert order["sellerMessage"] == "送赠品"
    assert order["senderInfo"] == {
        "name": "四海", "mobile": "010-56133684", "province": "北京", "city": "北京市",
        "area": "朝阳区", "detailAddress": "北京市朝阳区建国路1号",
    }
    assert order["receiverInfo"] == {
        "name": "金祖飞", "zipCode": "317600", "tel": "0576-87654321", "mobile": "15068648811",
        "province": "浙江省", "city": "台州市", "area": "玉环市", "town": "楚门镇",
        "detailAddress": "楚门镇彭宅村蔡家良志阀门隔壁纸板厂收",
    }
    assert [line["orderLineNo"] for line in doc["orderLines"]] == ["1", "2"]  # shop line order
    second = doc["orderLines"][1]
    assert second == {
        "orderLineNo": "2", "sourceOrderCode": "SO1001", "ownerCode": "OWNER50", "itemCode": "B-2",
        "itemName": "毛巾", "planQty": "3", "retailPrice": "59.90", "actualPrice": "5.50",
    }
    assert validate(METHOD, doc) == []


def test_documents_frame_columns(settings):
    batch = build([order_row()], [line_row()], settings)
    row = batch.documents.iloc[0]
    assert list(batch.documents.columns) == ["order_code", "order_id", "paid_at", "content_hash", "body"]
    assert row["order_id"] == "1001"
    assert row["paid_at"] == pd.Timestamp("2026-11-27T16:30:00Z")
    assert len(row["content_hash"]) == 64
    assert row["body"].startswith('<?xml version="1.0" encoding="utf-8"?>')


def test_naive_times_are_refused(settings):
    with pytest.raises(ValueError, match="naive"):
        build([order_row()], [line_row()], settings, now=datetime(2026, 11, 28, 10, 0))
    orders = frame([order_row()])
    orders["paid_at"] = orders["paid_at"].dt.tz_localize(None)
    with pytest.raises(ValueError, match="naive"):
        build_delivery_orders(orders, frame([line_row()]), settings=settings, now=NOW)


# --- phones ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mobile", "tel", "expected_mobile", "expected_tel"),
    [
        ("+86 150-6864-8811", None, "15068648811", None),
        ("8615068648811", None, "15068648811", None),
        (None, "010-56133684", "010-56133684", "010-56133684"),  # landline stands in for the mobile
        ("", "(0576) 8765 4321", "0576-87654321", "0576-87654321"),
        ("15068648811", "not a number", "15068648811", None),  # junk tel dropped, mobile is enough
        ("15068648811转1234", None, "15068648811-1234", None),  # privacy number with extension
    ],
)
def test_phone_normalisation(settings, mobile, tel, expected_mobile, expected_tel):
    batch = build([order_row(receiver_mobile=mobile, receiver_tel=tel)], [line_row()], settings)
    receiver = sent(batch, "SO1001")["deliveryOrder"]["receiverInfo"]
    assert receiver["mobile"] == expected_mobile
    assert receiver.get("tel") == expected_tel


def test_empty_phone_is_rejected(settings):
    batch = build([order_row(receiver_mobile="  ", receiver_tel=None)], [line_row()], settings)
    assert reasons(batch, "SO1001") == ["deliveryOrder.receiverInfo.mobile: required"]


def test_invalid_phone_is_rejected(settings):
    batch = build([order_row(receiver_mobile="12345", receiver_tel="n/a")], [line_row()], settings)
    assert reasons(batch, "SO1001") == [
        "deliveryOrder.receiverInfo.mobile: no valid phone number in the receiver's mobile or tel"
    ]


# --- every reject reason, and the rest of the batch goes on -------------------------------------


def test_empty_receiver_name_is_rejected(settings):
    batch = build([order_row(receiver_name=" \t ")], [line_row()], settings)
    assert reasons(batch, "SO1001") == ["deliveryOrder.receiverInfo.name: required"]


def test_600_character_address_is_rejected_not_truncated(settings):
    batch = build([order_row(receiver_detail="彭宅村" * 200)], [line_row()], settings)
    assert reasons(batch, "SO1001") == ["deliveryOrder.receiverInfo.detailAddress: longer than 200 characters (600)"]


def test_long_province_city_area_are_rejected(settings):
    limit = rules.DELIVERY_ORDER.child("receiverInfo").child("province").max_len
    long = "省" * (limit + 1)
    batch = build([order_row(receiver_province=long, receiver_city=long, receiver_area=long)], [line_row()], settings)
    assert [r.split(":")[0] for r in reasons(batch, "SO1001")] == [
        "deliveryOrder.receiverInfo.province", "deliveryOrder.receiverInfo.city", "deliveryOrder.receiverInfo.area",
    ]


def test_province_city_area_lose_inner_spaces(settings):
    batch = build([order_row(receiver_province=" 浙江 省", receiver_city="台州\u3000市", receiver_area="玉环 市 ")],
                  [line_row()], settings)
    receiver = sent(batch, "SO1001")["deliveryOrder"]["receiverInfo"]
    assert (receiver["province"], receiver["city"], receiver["area"]) == ("浙江省", "台州市", "玉环市")


def test_unsplittable_address_is_rejected_with_the_parser_reason(settings):
    order = order_row(receiver_province=None, receiver_city=None, receiver_area=None, receiver_detail=None,
                      receiver_address="火星 某处", receiver_address_error="no province found in '火星 某处'")
    batch = build([order], [line_row()], settings)
    # One clear reason, not four "required" echoes of it.
    assert reasons(batch, "SO1001") == [
        "deliveryOrder.receiverInfo: address refused: no province found in '火星 某处'"
    ]


def test_an_unknown_carrier_code_passes_with_a_warning(settings, caplog):
    """logisticsCode is an open list in real WMSs (BSKY, DBKY, RRS, ...): not refused."""
    batch = build([order_row(carrier_code="bsky")], [line_row()], settings)
    assert batch.rejects.empty
    assert sent(batch, "SO1001")["deliveryOrder"]["logisticsCode"] == "BSKY"
    assert "BSKY" in caplog.text and "sent as they are" in caplog.text


def test_a_carrier_value_that_is_no_code_is_rejected_without_default(settings):
    batch = build([order_row(carrier_code="圆通快递")], [line_row()], settings)
    assert reasons(batch, "SO1001") == [
        "deliveryOrder.logisticsCode: shop carrier code '圆通快递' is no carrier code, not in carrier_map, "
        "and there is no default_logistics_code"
    ]


def test_missing_carrier_is_rejected_without_default(settings):
    batch = build([order_row(carrier_code=None)], [line_row()], settings)
    assert reasons(batch, "SO1001") == [
        "deliveryOrder.logisticsCode: the order has no carrier code and there is no default_logistics_code"
    ]


def test_default_carrier_and_qimen_codes_pass(settings):
    with_default = dataclasses.replace(settings, default_logistics_code="ZTO")
    orders = [order_row(order_id="1", order_code="A", carrier_code=None),
              order_row(order_id="2", order_code="B", carrier_code="KDN999"),
              order_row(order_id="3", order_code="C", carrier_code="sf"),  # already a Qimen code
              order_row(order_id="4", order_code="D", carrier_code="yd")]
    lines = [line_row(order_id=i) for i in "1234"]
    batch = build(orders, lines, with_default)
    assert batch.rejects.empty
    codes = {c: sent(batch, c)["deliveryOrder"]["logisticsCode"] for c in "ABCD"}
    assert codes == {"A": "ZTO", "B": "ZTO", "C": "SF", "D": "YUNDA"}


def test_configured_codes_outside_the_spec_list_pass_with_a_warning(settings, caplog):
    """The carrier map stays configurable: the warehouse's own codes (DBKY, RRS) are fine."""
    custom = dataclasses.replace(settings, carrier_map={"DBL": "DBKY"}, default_logistics_code="RRS")
    assert "['DBKY', 'RRS']" in caplog.text
    orders = [order_row(order_id="1", order_code="A", carrier_code="DBL"),
              order_row(order_id="2", order_code="B", carrier_code=None)]
    batch = build(orders, [line_row(order_id="1"), line_row(order_id="2")], custom)
    assert batch.rejects.empty
    assert [sent(batch, c)["deliveryOrder"]["logisticsCode"] for c in "AB"] == ["DBKY", "RRS"]


def test_lines_carry_the_warehouse_item_id_when_known(settings):
    lines = [line_row(line_no=1, item_code="A-1"), line_row(line_no=2, item_code="B-2")]
    batch = build([order_row()], lines, settings, item_ids={"A-1": "WMS-77"})
    doc_lines = sent(batch, "SO1001")["orderLines"]
    assert doc_lines[0]["itemId"] == "WMS-77"
    assert "itemId" not in doc_lines[1]  # none known: the element is left out


def test_settings_refuse_what_the_rules_do_not_allow(settings):
    with pytest.raises(ValueError, match="order_type"):
        dataclasses.replace(settings, order_type="XXCK")
    with pytest.raises(ValueError, match="not safe to truncate"):
        dataclasses.replace(settings, truncate_fields=frozenset({"deliveryOrder.receiverInfo.detailAddress"}))


def test_order_without_payment_time_is_rejected(settings):
    batch = build([order_row(paid_at=None)], [line_row()], settings)
    assert reasons(batch, "SO1001") == ["deliveryOrder.placeOrderTime: the order has no payment time"]


def test_order_without_lines_is_rejected(settings):
    batch = build([order_row()], [line_row(order_id="someone else")], settings)
    assert reasons(batch, "SO1001") == ["orderLines: the order has no lines"]


@pytest.mark.parametrize("quantity", [0, -2, 1.5, "two"])
def test_quantity_must_be_a_positive_integer(settings, quantity):
    lines = [line_row(line_no=1), line_row(line_no=2, quantity=quantity)]
    batch = build([order_row()], lines, settings)
    assert reasons(batch, "SO1001") == ["orderLines[1].planQty: must be a positive integer"]


def test_line_problems_and_order_problems_are_all_listed(settings):
    order = order_row(receiver_name=None, receiver_mobile=None, total_amount="abc", carrier_code="??")
    lines = [line_row(item_code=None, item_name=None, quantity=0, price=None)]
    batch = build([order], lines, settings)
    assert sorted(reasons(batch, "SO1001")) == sorted([
        "deliveryOrder.logisticsCode: shop carrier code '??' is no carrier code, not in carrier_map, "
        "and there is no default_logistics_code",
        "deliveryOrder.totalAmount: not a number",
        "deliveryOrder.receiverInfo.name: required",
        "deliveryOrder.receiverInfo.mobile: required",
        "orderLines[0].planQty: must be a positive integer",
        "orderLines[0].itemCode: required",
        "orderLines[0].itemName: required",
        "orderLines[0].actualPrice: required",
    ])


def test_long_item_code_is_rejected(settings):
    batch = build([order_row()], [line_row(item_code="X" * 51)], settings)
    assert reasons(batch, "SO1001") == ["orderLines[0].itemCode: longer than 50 characters (51)"]


def test_duplicate_order_codes_are_all_rejected(settings):
    orders = [order_row(order_id="1", order_code="SAME"), order_row(order_id="2", order_code="SAME"),
              order_row(order_id="3", order_code="OTHER")]
    lines = [line_row(order_id=i) for i in "123"]
    batch = build(orders, lines, settings)
    assert sorted(batch.rejects["order_id"]) == ["1", "2"]
    assert all(v == ["deliveryOrder.deliveryOrderCode: order code shared by orders 1, 2"]
               for v in batch.rejects["violations"])
    assert list(batch.documents["order_code"]) == ["OTHER"]


def test_same_order_extracted_twice_is_sent_once_with_its_latest_row(settings):
    orders = [order_row(receiver_name="新名字", updated_at=pd.Timestamp("2026-11-27T18:00:00Z")),
              order_row(receiver_name="旧名字", updated_at=pd.Timestamp("2026-11-27T17:00:00Z"))]
    batch = build(orders, [line_row()], settings)
    assert batch.rejects.empty and len(batch.documents) == 1
    assert sent(batch, "SO1001")["deliveryOrder"]["receiverInfo"]["name"] == "新名字"


def test_bad_orders_do_not_stop_the_rest_of_the_batch(settings):
    bad = {
        "B1": {"receiver_name": None},
        "B2": {"receiver_mobile": None},
        "B3": {"receiver_detail": "长" * 600},
        "B4": {"carrier_code": "快递?"},
    }
    orders, lines = [], []
    for n in range(20):
        code = f"G{n}"
        orders.append(order_row(order_id=code, order_code=code))
        lines.append(line_row(order_id=code))
    for code, change in bad.items():
        orders.append(order_row(order_id=code, order_code=code, **change))
        lines.append(line_row(order_id=code))
    batch = build(orders, lines, settings)
    assert sorted(batch.rejects["order_code"]) == sorted(bad)
    assert sorted(batch.documents["order_code"]) == sorted(f"G{n}" for n in range(20))
    for body in batch.documents["body"]:
        assert validate(METHOD, parse_request(METHOD, body)) == []


# --- emoji and control characters ------------------------------------------------------------------


def test_emoji_kept_in_free_text(settings):
    batch = build([order_row(buyer_message="谢谢😊 尽快", seller_message="🎁赠品")],
                  [line_row(item_name="小熊🧸玩偶")], settings)
    doc = sent(batch, "SO1001")
    assert doc["deliveryOrder"]["buyerMessage"] == "谢谢😊 尽快"
    assert doc["deliveryOrder"]["sellerMessage"] == "🎁赠品"
    assert doc["orderLines"][0]["itemName"] == "小熊🧸玩偶"


def test_emoji_rejected_in_receiver_name_and_address(settings):
    batch = build([order_row(receiver_name="小王😊", receiver_detail="彭宅村🏠3号")], [line_row()], settings)
    assert reasons(batch, "SO1001") == [
        "deliveryOrder.receiverInfo.name: contains emoji or other characters a waybill cannot print",
        "deliveryOrder.receiverInfo.detailAddress: contains emoji or other characters a waybill cannot print",
    ]


def test_control_characters_and_stray_whitespace_are_removed(settings):
    order = order_row(receiver_name="\u200b金祖飞\x00 ", buyer_message="第一行\r\n第二行\t 完\x07",
                      receiver_detail="  楚门镇\u3000彭宅村  ")
    batch = build([order], [line_row(item_name="沐浴露\x1b[0m")], settings)
    doc = sent(batch, "SO1001")
    assert doc["deliveryOrder"]["receiverInfo"]["name"] == "金祖飞"
    assert doc["deliveryOrder"]["buyerMessage"] == "第一行 第二行 完"
    assert doc["deliveryOrder"]["receiverInfo"]["detailAddress"] == "楚门镇 彭宅村"
    assert doc["orderLines"][0]["itemName"] == "沐浴露[0m"


# --- truncation only of the safe list --------------------------------------------------------------


def test_safe_fields_are_truncated_with_a_marker(settings):
    long_settings = dataclasses.replace(settings, shop_nick="店" * 300)
    order = order_row(buyer_message="留" * 600, seller_message="备" * 501, buyer_nick="昵" * 201)
    batch = build([order], [line_row(item_name="品" * 250)], long_settings)
    doc = sent(batch, "SO1001")
    order_doc = doc["deliveryOrder"]
    assert order_doc["buyerMessage"] == "留" * 499 + "…"
    assert order_doc["sellerMessage"] == "备" * 499 + "…"
    assert order_doc["buyerNick"] == "昵" * 199 + "…"
    assert order_doc["shopNick"] == "店" * 199 + "…"
    assert doc["orderLines"][0]["itemName"] == "品" * 199 + "…"


def test_fields_at_the_limit_are_not_touched(settings):
    batch = build([order_row(buyer_message="留" * 500)], [line_row()], settings)
    assert sent(batch, "SO1001")["deliveryOrder"]["buyerMessage"] == "留" * 500


def test_truncation_never_splits_an_emoji_sequence(settings):
    family = "👨\u200d👩\u200d👧"
    message = "留" * 496 + family + "尾" * 10  # the cut at 499 falls inside the ZWJ sequence
    batch = build([order_row(buyer_message=message)], [line_row()], settings)
    text = sent(batch, "SO1001")["deliveryOrder"]["buyerMessage"]
    assert text.endswith("…") and len(text) <= 500
    assert not text[:-1].endswith("\u200d")


def test_a_field_dropped_from_the_policy_is_rejected_instead(settings):
    strict = dataclasses.replace(settings, truncate_fields=frozenset(SAFE_TO_TRUNCATE) - {"deliveryOrder.buyerMessage"})
    batch = build([order_row(buyer_message="留" * 501)], [line_row()], strict)
    assert reasons(batch, "SO1001") == ["deliveryOrder.buyerMessage: longer than 500 characters (501)"]


def test_unsafe_fields_are_never_truncated(settings):
    orders = [order_row(order_id="1", order_code="A", receiver_name="名" * 51),
              order_row(order_id="2", order_code="B", receiver_mobile="1" * 60),
              order_row(order_id="3", order_code="C" * 51)]
    lines = [line_row(order_id=i) for i in "123"]
    batch = build(orders, lines, settings)
    assert batch.documents.empty
    assert len(batch.rejects) == 3


# --- held orders --------------------------------------------------------------------------------------


def test_orders_with_unknown_items_are_held_not_rejected(settings):
    orders = [order_row(order_id="1", order_code="KNOWN"), order_row(order_id="2", order_code="NEW")]
    lines = [line_row(order_id="1", item_code="A"),
             line_row(order_id="2", line_no=1, item_code="A"),
             line_row(order_id="2", line_no=2, item_code="Z2"),
             line_row(order_id="2", line_no=3, item_code="Z1")]
    batch = build(orders, lines, settings, known_item_codes={"A"})
    assert list(batch.documents["order_code"]) == ["KNOWN"]
    assert batch.rejects.empty
    assert batch.held.to_dict("records") == [{"order_code": "NEW", "order_id": "2", "missing_item_codes": ["Z1", "Z2"]}]


def test_nothing_is_held_without_known_item_codes(settings):
    batch = build([order_row()], [line_row(item_code="ANY")], settings, known_item_codes=None)
    assert len(batch.documents) == 1 and batch.held.empty


def test_an_invalid_order_is_rejected_even_if_its_items_are_unknown(settings):
    batch = build([order_row(receiver_name=None)], [line_row(item_code="Z")], settings, known_item_codes=set())
    assert batch.held.empty
    assert reasons(batch, "SO1001") == ["deliveryOrder.receiverInfo.name: required"]


# --- content hash --------------------------------------------------------------------------------------


def test_content_hash_ignores_now(settings):
    first = build([order_row()], [line_row()], settings, now=NOW)
    later = build([order_row()], [line_row()], settings, now=NOW + timedelta(hours=5))
    assert first.documents.loc[0, "body"] != later.documents.loc[0, "body"]
    assert first.documents.loc[0, "content_hash"] == later.documents.loc[0, "content_hash"]


def test_content_hash_ignores_column_and_row_order(settings):
    orders = [order_row(order_id="1", order_code="A"), order_row(order_id="2", order_code="B")]
    lines = [line_row(order_id="1", line_no=1), line_row(order_id="1", line_no=2, item_code="X"),
             line_row(order_id="2")]
    straight = build(orders, lines, settings)
    order_frame, line_frame = frame(orders), frame(lines)
    shuffled = build_delivery_orders(
        order_frame[order_frame.columns[::-1]].iloc[::-1],
        line_frame[line_frame.columns[::-1]].iloc[::-1],
        settings=settings, now=NOW,
    )
    a = straight.documents.set_index("order_code")
    b = shuffled.documents.set_index("order_code")
    assert a.loc["A", "content_hash"] == b.loc["A", "content_hash"]
    assert a.loc["B", "content_hash"] == b.loc["B", "content_hash"]
    assert a.loc["A", "body"] == b.loc["A", "body"]


def test_content_hash_changes_with_business_content(settings):
    one = build([order_row()], [line_row()], settings)
    other = build([order_row()], [line_row(quantity=2)], settings)
    assert one.documents.loc[0, "content_hash"] != other.documents.loc[0, "content_hash"]


def test_settings_are_frozen(settings):
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.warehouse_code = "other"  # type: ignore[misc]


def test_an_empty_chunk_gives_empty_frames(settings):
    orders = pd.DataFrame(columns=["order_id", "order_code", "paid_at"])
    lines = pd.DataFrame(columns=["order_id", "line_no", "item_code", "quantity", "price"])
    batch = build_delivery_orders(orders, lines, settings=settings, now=NOW)
    assert (len(batch.documents), len(batch.rejects), len(batch.held)) == (0, 0, 0)
    assert list(batch.rejects.columns) == ["order_code", "order_id", "violations", "shop_code"]
