"""The column-level helpers: text cleaning, truncation, phones, money and quantities."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from wmsbridge.transforms.hashing import content_hash
from wmsbridge.transforms.numbers import to_money, to_positive_int
from wmsbridge.transforms.phones import normalize_phone
from wmsbridge.transforms.text import clean_text, has_non_bmp, truncate


def test_clean_text_trims_collapses_and_blanks_to_missing():
    cleaned = clean_text(pd.Series([" a \t b\n", "", "  ", None, "x\u200by", "é", 12]))
    assert cleaned.tolist()[:2] == ["a b", pd.NA]
    assert cleaned.isna().tolist() == [False, True, True, True, False, False, False]
    assert cleaned[4] == "xy"
    assert cleaned[5] == "\u00e9"  # NFC: one code point
    assert cleaned[6] == "12"


def test_has_non_bmp():
    assert has_non_bmp(pd.Series(["abc", "a😀", None, "中文"], dtype="string")).tolist() == [False, True, False, False]
    # BMP emoji too: ❤️ is U+2764 U+FE0F, ☀ is U+2600; CJK punctuation is not emoji
    assert has_non_bmp(pd.Series(["任磊❤️", "☀", "北京，朝阳"], dtype="string")).tolist() == [True, True, False]


def test_truncate_marks_the_cut_and_leaves_short_values():
    values = pd.Series(["abcdefgh", "abcde", None], dtype="string")
    assert truncate(values, 5).tolist() == ["abcd…", "abcde", pd.NA]
    assert truncate(values, None).equals(values)
    with pytest.raises(ValueError):
        truncate(values, 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("138 0013 8000", "13800138000"),
        ("+86-138-0013-8000", "13800138000"),
        ("０086 13800138000", "13800138000"),
        ("８６１３８００１３８０００", "13800138000"),
        ("13800138000-1234", "13800138000-1234"),
        ("13800138000 ext. 12", "13800138000-12"),
        ("010-56133684", "010-56133684"),
        ("01056133684", "010-56133684"),
        ("(0571) 8888 9999", "0571-88889999"),
        ("+86 10 56133684", "010-56133684"),
        ("0755-23456789转808", "0755-23456789-808"),
    ],
)
def test_phone_normalisation(raw, expected):
    numbers, invalid = normalize_phone(pd.Series([raw]))
    assert (numbers[0], bool(invalid[0])) == (expected, False)


@pytest.mark.parametrize("raw", ["12345", "23800138000", "1380013800", "phone", "010-123", "400-820-8820"])
def test_phone_that_is_not_a_number_is_invalid(raw):
    numbers, invalid = normalize_phone(pd.Series([raw]))
    assert pd.isna(numbers[0]) and bool(invalid[0])


def test_missing_phone_is_not_invalid():
    numbers, invalid = normalize_phone(pd.Series([None, ""], dtype="string"))
    assert numbers.isna().all() and not invalid.any()


def test_money_is_decimal_half_up_to_fen():
    amounts, invalid = to_money(pd.Series([Decimal("39.9"), 1.005, "2.345", 7, None, float("nan"), "abc"]))
    assert amounts.tolist()[:5] == [Decimal("39.90"), Decimal("1.01"), Decimal("2.35"), Decimal("7.00"), None]
    assert amounts[5] is None and amounts[6] is None
    assert invalid.tolist() == [False] * 6 + [True]


def test_quantities_are_whole_and_positive():
    quantities, invalid = to_positive_int(pd.Series([1, 2.0, Decimal("3"), "4", 2.5, 0, -1, None, "x"], dtype=object))
    assert quantities.tolist()[:4] == [1, 2, 3, 4]
    assert invalid.tolist() == [False] * 4 + [True] * 5


def test_content_hash_cuts_only_the_named_elements():
    body = "<request><deliveryOrder><createTime>1</createTime><operateTime/><shopNick>x</shopNick></deliveryOrder></request>"
    same = body.replace("<createTime>1</createTime>", "<createTime>2</createTime>")
    other = body.replace("<shopNick>x</shopNick>", "<shopNick>y</shopNick>")
    exclude = ("createTime", "operateTime")
    assert content_hash("deliveryorder.create", body, exclude=exclude) == content_hash("deliveryorder.create", same, exclude=exclude)
    assert content_hash("deliveryorder.create", body, exclude=exclude) != content_hash("deliveryorder.create", other, exclude=exclude)


def test_content_hash_refuses_an_element_name_that_is_not_unique():
    with pytest.raises(ValueError, match="exactly one element"):
        content_hash("deliveryorder.create", "<request/>", exclude=("itemCode",))  # every order line has one
