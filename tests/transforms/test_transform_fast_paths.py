"""The one-pass cleaning and record hand-over give exactly what the pandas chains they replaced gave."""

from __future__ import annotations

import random
from decimal import Decimal

import numpy as np
import pandas as pd

from wmsbridge.transforms.problems import records
from wmsbridge.transforms.text import _INVISIBLE, _WHITESPACE, clean_text

ALPHABET = ["a", "é", "e\u0301", " ", "  ", "\t", "\n", "\r", "\u3000", "\xa0", "\u200b", "\ufeff", "\x01",
            "\x1c", "\x85", "\u2028", "秋", "🚀", "\ufe0f", "A", "1", "-", "\x7f", "\ud800"]


def clean_text_reference(values: pd.Series) -> pd.Series:
    """The pandas chain clean_text used to be (six vectorised passes)."""
    s = values.astype("string")
    s = s.str.normalize("NFC")
    s = s.str.replace(_WHITESPACE, " ", regex=True)
    s = s.str.replace(_INVISIBLE, "", regex=True)
    s = s.str.replace(r"\s+", " ", regex=True).str.strip()
    return s.mask(s == "")


def records_reference(frame: pd.DataFrame) -> list[dict]:
    plain = frame.astype(object)
    return plain.where(plain.notna(), None).to_dict("records")


def test_clean_text_equals_the_pandas_chain_on_random_text():
    rng = random.Random(3)
    values = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 8))) for _ in range(5000)]
    values += [None, pd.NA, 12, 3.5, Decimal("1.50"), "", " ", "plain text", "中文 地址 1号"]
    series = pd.Series(values, dtype=object)
    pd.testing.assert_series_equal(clean_text(series), clean_text_reference(series))
    for dtype in ("string", "Int64", "float64"):
        typed = pd.Series([1, None, 3], dtype=dtype)
        pd.testing.assert_series_equal(clean_text(typed), clean_text_reference(typed))


def test_records_equal_to_dict_records():
    frame = pd.DataFrame({
        "text": pd.Series(["a", None, "c"], dtype="string"),
        "obj": [Decimal("1.5"), np.int64(4), float("nan")],
        "ints": pd.Series([1, None, 3], dtype="Int64"),
        "floats": [1.5, np.nan, 2.0],
        "bools": [True, False, True],
        "when": pd.to_datetime(["2026-11-27T16:30:00Z", None, "2026-11-28T00:00:00Z"], utc=True),
        "plain": [1, 2, 3],
    }, index=[7, 3, 5])
    got, expected = records(frame), records_reference(frame)
    assert got == expected
    assert [[type(v) for v in row.values()] for row in got] == [[type(v) for v in row.values()] for row in expected]
    assert records(frame.iloc[:0]) == []


def normalize_phone_reference(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The pandas chain normalize_phone used to be."""
    from wmsbridge.transforms.phones import _LANDLINE, _MOBILE

    s = values.astype("string").str.normalize("NFKC").str.lower()
    s = s.mask(s.str.strip() == "")
    compact = (
        s.str.replace(r"\s*(?:转|ext\.?|x|#)\s*(?=\d{1,6}$)", "-", regex=True)
        .str.replace(r"[\u2010-\u2015\u2212]", "-", regex=True)
        .str.replace(r"[\s().（）]", "", regex=True)
    )
    mobile = compact.str.extract(_MOBILE)
    landline = compact.str.extract(_LANDLINE)
    out = pd.Series(pd.NA, index=values.index, dtype="string")
    is_mobile = mobile["a"].notna()
    text = mobile["a"] + mobile["b"] + mobile["c"]
    out[is_mobile] = text.where(mobile["ext"].isna(), text + "-" + mobile["ext"])[is_mobile]
    is_landline = ~is_mobile & landline["a"].notna()
    text = "0" + landline["area"] + "-" + landline["a"] + landline["b"]
    out[is_landline] = text.where(landline["ext"].isna(), text + "-" + landline["ext"])[is_landline]
    return out, (s.notna() & out.isna()).astype(bool)


def test_normalize_phone_equals_the_pandas_chain():
    from wmsbridge.transforms.phones import normalize_phone

    rng = random.Random(5)
    parts = ["1", "3", "8", "0", "0", "1", "2", "5", "9", " ", "-", "+86", "0086", "(", ")", "（", "）", "转", "ext",
             "x", "#", "１", "３", "８", "\u2013", "\u2212", "010", "0571", "\n", "٣", "X", "EXT."]
    values = ["".join(rng.choice(parts) for _ in range(rng.randint(0, 14))) for _ in range(4000)]
    for _ in range(2000):  # near-valid numbers: prefixes, separators, extensions
        digits = f"1{rng.randint(0, 9)}{rng.randint(0, 10**9 - 1):09d}" if rng.random() < 0.6 else \
            f"0{rng.randint(10, 999)}{rng.choice(['-', ' ', ''])}{rng.randint(10**6, 10**8 - 1)}"
        values.append(rng.choice(["", "+86", "0086-", "86", "(", " "]) + digits
                      + rng.choice(["", "", "-12", "转3", " ext 45", "#9", "x1234567"]))
    values += ["13800138000", "138 0013 8000", "+86-13800138000", "８６１３８００１３８０００", "(010) 5613-3684",
               "13800138000-1234", "13800138000转1234", "0571-87654321 ext. 12", "", " ", None, pd.NA, "phone"]
    series = pd.Series(values, dtype=object)
    got, expected = normalize_phone(series), normalize_phone_reference(series)
    pd.testing.assert_series_equal(got[0], expected[0])
    pd.testing.assert_series_equal(got[1], expected[1])


def test_squeeze_spaces_and_has_non_bmp_equal_the_pandas_string_methods():
    from wmsbridge.transforms.text import _NON_BMP, has_non_bmp, squeeze_spaces

    rng = random.Random(9)
    values = pd.Series(["".join(rng.choice(ALPHABET + ["❤", "☀", "✨"]) for _ in range(rng.randint(0, 6)))
                        for _ in range(3000)] + [None], dtype="string")
    expected = values.str.replace(r"\s+", "", regex=True)
    pd.testing.assert_series_equal(squeeze_spaces(values), expected.mask(expected == ""))
    pd.testing.assert_series_equal(has_non_bmp(values),
                                   values.str.contains(_NON_BMP, regex=True).fillna(False).astype(bool))


def test_content_hash_cuts_like_the_pattern():
    import hashlib

    from wmsbridge.transforms.hashing import _exclusion, content_hash

    method, names = "deliveryorder.create", ("createTime", "operateTime")
    pattern = _exclusion(method, names)
    bodies = [
        "<request><deliveryOrder><createTime>2026-11-28 09:30:00</createTime><x>1</x>"
        "<operateTime>2026-11-28 09:30:00</operateTime></deliveryOrder></request>",
        "<request><createTime/><operateTime>t</operateTime></request>",
        "<request><createTime>a</createTime><createTime>b</createTime></request>",
        "<request><createTime>a<b/></createTime><operateTime></operateTime></request>",
        "<request><createTimeX>a</createTimeX><operateTime>z</operateTime></request>",
        "<request><x>no times</x></request>",
        "<request><operateTime>z</operateTime>",
        "<request><createTime/><createTime>a</createTime></request>",
        "<request><createTimeX>q</createTimeX><createTime>a</createTime></request>",
    ]
    for body in bodies:
        expected = hashlib.sha256(pattern.sub("", body).encode("utf-8")).hexdigest()
        assert content_hash(method, body, exclude=names) == expected, body
