"""build_item_documents: round trip, itemName with spec, add/update/unchanged, duplicates."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from qimen.parsing import parse_request
from qimen.validation import validate
from transform_frames import frame, sku_row

from wmsbridge.transforms import build_item_documents

METHOD = "singleitem.synchronize"


def build(rows, known=None):
    known_frame = None if known is None else pd.DataFrame(known, columns=["item_code", "wms_item_id", "content_hash"])
    return build_item_documents(frame(rows), warehouse_code="1038", owner_code="404781084", known=known_frame)


def sent(batch, item_code: str) -> dict:
    return parse_request(METHOD, batch.documents.set_index("item_code").loc[item_code, "body"])


def test_round_trip_first_sync_is_an_add():
    batch = build([sku_row()])
    assert batch.rejects.empty and batch.unchanged_count == 0
    row = batch.documents.iloc[0]
    assert (row["item_code"], row["sku_id"], row["action_type"]) == ("2.100102.00381", "77", "add")
    doc = sent(batch, "2.100102.00381")
    assert doc == {
        "actionType": "add",
        "warehouseCode": "1038",
        "ownerCode": "404781084",
        "item": {
            "itemCode": "2.100102.00381",
            "goodsCode": "100102",
            "itemName": "DEM-F325 加湿器 白色",
            "barCode": "6901234567892",
            "skuProperty": "白色",
            "stockUnit": "台",
            "categoryName": "加湿器",
            "itemType": "ZC",
            "retailPrice": "129.00",
            "brandName": "德尔玛",
        },
    }
    assert validate(METHOD, doc) == []


@pytest.mark.parametrize(
    ("name", "spec", "expected"),
    [
        ("秋冬大衣", "黑色 XL", "秋冬大衣 黑色 XL"),
        ("秋冬大衣 黑色XL", "黑色 XL", "秋冬大衣 黑色XL"),  # the name already says it
        (None, "黑色XL", "黑色XL"),  # Juxing: a spec name is a valid itemName
        ("秋冬大衣", None, "秋冬大衣"),
        ("  秋冬   大衣 ", "", "秋冬 大衣"),
    ],
)
def test_item_name_with_spec_when_useful(name, spec, expected):
    batch = build([sku_row(item_name=name, sku_property=spec)])
    assert sent(batch, "2.100102.00381")["item"]["itemName"] == expected


def test_bar_code_only_when_present():
    batch = build([sku_row(bar_code="   ")])
    assert "barCode" not in sent(batch, "2.100102.00381")["item"]


def test_sku_without_any_name_is_rejected():
    batch = build([sku_row(item_name=None, sku_property=None)])
    assert batch.rejects.to_dict("records") == [
        {"item_code": "2.100102.00381", "sku_id": "77", "violations": ["item.itemName: required"]}
    ]


def test_long_item_name_is_truncated_but_long_codes_are_rejected():
    rows = [sku_row(sku_id="1", item_code="NAME", item_name="长" * 300, sku_property=None),
            sku_row(sku_id="2", item_code="C" * 51),
            sku_row(sku_id="3", item_code="BAR", bar_code="6" * 501)]
    batch = build(rows)
    assert sent(batch, "NAME")["item"]["itemName"] == "长" * 199 + "…"
    assert dict(zip(batch.rejects["sku_id"], batch.rejects["violations"])) == {
        "2": ["item.itemCode: longer than 50 characters (51)"],
        "3": ["item.barCode: longer than 500 characters (501)"],
    }


def test_emoji_in_item_code_is_rejected_but_kept_in_the_name():
    batch = build([sku_row(sku_id="1", item_code="A😀"), sku_row(sku_id="2", item_code="B", item_name="小熊🧸")])
    assert list(batch.rejects["violations"]) == [["item.itemCode: contains emoji or other non-BMP characters"]]
    assert sent(batch, "B")["item"]["itemName"].startswith("小熊🧸")


def test_unreadable_price_is_rejected():
    batch = build([sku_row(retail_price="免费")])
    assert list(batch.rejects["violations"]) == [["item.retailPrice: not a number"]]


# --- add / update / unchanged ---------------------------------------------------------------------------


def test_known_and_changed_is_an_update_with_the_wms_item_id():
    first = build([sku_row()])
    old_hash = first.documents.loc[0, "content_hash"]
    batch = build([sku_row(item_name="DEM-F325 加湿器 新款")], known=[("2.100102.00381", "CH123", old_hash)])
    row = batch.documents.iloc[0]
    assert (row["action_type"], row["item_id"]) == ("update", "CH123")
    doc = sent(batch, "2.100102.00381")
    assert doc["actionType"] == "update"
    assert doc["item"]["itemId"] == "CH123"
    assert row["content_hash"] != old_hash


def test_known_and_unchanged_is_skipped_even_if_updated_at_moved():
    first = build([sku_row()])
    digest = first.documents.loc[0, "content_hash"]
    batch = build([sku_row(updated_at=pd.Timestamp("2027-01-01T00:00:00Z"))],
                  known=[("2.100102.00381", "CH123", digest)])
    assert batch.documents.empty and batch.rejects.empty
    assert batch.unchanged_count == 1
    assert batch.unchanged.to_dict("records") == [{"item_code": "2.100102.00381", "sku_id": "77", "content_hash": digest}]


def test_update_after_add_hashes_equal_for_equal_content():
    """The hash leaves out actionType and itemId, so an add and the later unchanged state agree."""
    added = build([sku_row()])
    updated = build([sku_row()], known=[("2.100102.00381", "CH123", "stale")])
    assert updated.documents.loc[0, "action_type"] == "update"
    assert added.documents.loc[0, "content_hash"] == updated.documents.loc[0, "content_hash"]


def test_content_hash_ignores_column_order_and_cosmetic_whitespace():
    plain = build([sku_row()])
    df = frame([sku_row(item_name="  DEM-F325   加湿器 ", retail_price=Decimal("129"))])
    reordered = build_item_documents(df[df.columns[::-1]], warehouse_code="1038", owner_code="404781084", known=None)
    assert plain.documents.loc[0, "content_hash"] == reordered.documents.loc[0, "content_hash"]


def test_known_without_item_id_still_updates():
    batch = build([sku_row()], known=[("2.100102.00381", None, "stale")])
    assert batch.documents.loc[0, "action_type"] == "update"
    assert "itemId" not in sent(batch, "2.100102.00381")["item"]


# --- duplicates -------------------------------------------------------------------------------------------


def test_two_skus_sharing_an_item_code_are_both_rejected():
    rows = [sku_row(sku_id="1", item_code="SAME"), sku_row(sku_id="2", item_code="SAME", sku_property="黑色"),
            sku_row(sku_id="3", item_code="OWN")]
    batch = build(rows)
    assert list(batch.documents["item_code"]) == ["OWN"]
    assert batch.rejects.to_dict("records") == [
        {"item_code": "SAME", "sku_id": "1", "violations": ["item.itemCode: item code shared by SKUs 1, 2; fix it in the shop"]},
        {"item_code": "SAME", "sku_id": "2", "violations": ["item.itemCode: item code shared by SKUs 1, 2; fix it in the shop"]},
    ]


def test_the_same_sku_twice_is_one_sku_with_its_latest_row():
    rows = [sku_row(item_name="新名", updated_at=pd.Timestamp("2026-11-28T00:00:00Z"), sku_property=None),
            sku_row(item_name="旧名", updated_at=pd.Timestamp("2026-11-27T00:00:00Z"), sku_property=None)]
    batch = build(rows)
    assert batch.rejects.empty and len(batch.documents) == 1
    assert sent(batch, "2.100102.00381")["item"]["itemName"] == "新名"


def test_missing_required_column_is_a_programming_error():
    with pytest.raises(ValueError, match="item_code"):
        build_item_documents(pd.DataFrame({"sku_id": ["1"]}), warehouse_code="W", owner_code="O", known=None)


def test_optional_columns_may_be_absent():
    """litemall has no barcode or brand: a profile may return only what it has."""
    batch = build_item_documents(pd.DataFrame({"sku_id": ["1"], "item_code": ["G1-1"], "item_name": ["T恤"]}),
                                 warehouse_code="W", owner_code="O", known=None)
    assert sent(batch, "G1-1")["item"] == {"itemCode": "G1-1", "itemName": "T恤", "itemType": "ZC"}


def test_an_empty_chunk_gives_empty_frames():
    batch = build_item_documents(pd.DataFrame(columns=["sku_id", "item_code"]), warehouse_code="W", owner_code="O",
                                 known=pd.DataFrame(columns=["item_code", "wms_item_id", "content_hash"]))
    assert (len(batch.documents), len(batch.rejects), batch.unchanged_count) == (0, 0, 0)


@pytest.mark.parametrize("unit", ["’件‘", "'件'", "“件”", " 件 "])
def test_a_unit_is_sent_without_quote_marks(unit):
    """litemall's column default for litemall_goods.unit is the text ’件‘ (quotes included)."""
    assert sent(build([sku_row(stock_unit=unit)]), "2.100102.00381")["item"]["stockUnit"] == "件"


def test_a_unit_of_only_quote_marks_is_left_out():
    assert "stockUnit" not in sent(build([sku_row(stock_unit="‘’")]), "2.100102.00381")["item"]
