"""Vectorised text cleaning shared by the item and order transforms.

Shop columns arrive with stray whitespace, control characters pasted from spreadsheets, zero-width
marks and empty strings standing for "nothing". The warehouse sees one normalised form: NFC, no
control characters (lxml refuses most of them anyway), single spaces, and missing instead of "".
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

# C0/C1 controls (tabs and newlines included: they become spaces first), DEL, zero-width marks,
# BOM, lone surrogates and the XML non-characters. None of them is printable on a waybill.
_WHITESPACE = r"[\t\n\r\x0b\x0c\u2028\u2029]"
_INVISIBLE = r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b\u200c\u200e\u200f\ufeff\ufffe\uffff\ud800-\udfff]"
# Outside the BMP, plus the emoji that live inside it (Misc Symbols and Dingbats such as U+2764 in
# "❤️", and the emoji variation selector U+FE0F): the same set shop.address refuses.
_NON_BMP = r"[\U00010000-\U0010FFFF\u2600-\u27BF\uFE0F]"
# Characters that must not end a cut string: they modify or join the character before them.
_DANGLING_TAIL = "\u200d\ufe0e\ufe0f\u0300\u0301\u0302\u0303\u0308\u20e3"

ELLIPSIS = "…"


# A value none of clean_one's steps would change: NFC already, no control/invisible character, no
# whitespace but single inner spaces. Most shop text is like that and skips the four rewrites.
_NEEDS_CLEANING = re.compile(rf"{_INVISIBLE}|[^\S ]|  |^ | $")
_WHITESPACE_RE = re.compile(_WHITESPACE)
_INVISIBLE_RE = re.compile(_INVISIBLE)
_SPACES_RE = re.compile(r"\s+")
_NON_BMP_RE = re.compile(_NON_BMP)


def clean_one(text: str) -> str | None:
    """One value as :func:`clean_text` cleans it (None for nothing left)."""
    if _NEEDS_CLEANING.search(text) is None and unicodedata.is_normalized("NFC", text):
        return text or None
    text = unicodedata.normalize("NFC", text)
    text = _WHITESPACE_RE.sub(" ", text)
    text = _INVISIBLE_RE.sub("", text)
    text = _SPACES_RE.sub(" ", text).strip()
    return text or None


def why_not_a_key(text: str) -> str | None:
    """Why a shop code cannot be a record's key as it is (None: it can). A key must reach the
    warehouse and every later lookup in the shop (cancellations, resends by code) exactly as the
    shop holds it, so a code cleaning would change is refused, never silently cleaned."""
    if text == "":
        return "it is empty"
    cleaned = clean_one(text)
    if cleaned == text:
        return None
    if cleaned is None:
        return "it is blank (only spaces or control characters)"
    if _INVISIBLE_RE.search(text):
        return "it holds control characters or invisible marks"
    if _WHITESPACE_RE.search(text):
        return "it holds a tab or a line break"
    if text.strip() != text:
        return "it has spaces around it"
    if "  " in text:
        return "it holds doubled spaces"
    return "it is not in Unicode's composed form (NFC)"


def clean_text(values: pd.Series) -> pd.Series:
    """Trim, collapse inner whitespace to one space, drop controls; "" and whitespace-only -> NA.

    Returns pandas' nullable ``string`` dtype whatever came in (object, str, numbers). One pass
    per value (NFC, controls to spaces, invisibles out, runs of whitespace to one space, trim),
    skipped for values that are clean already.
    """
    text = values.astype("string").to_numpy(dtype=object, na_value=None)
    codes, uniques = pd.factorize(text)  # provinces, cities, item names repeat: clean each once
    cleaned = np.array([clean_one(v) for v in uniques] + [None], dtype=object)  # code -1 (NA) -> None
    return pd.Series(cleaned[codes], index=values.index, dtype="string")


def _per_distinct(values: pd.Series, read, missing, dtype) -> pd.Series:
    """``read`` applied once per distinct value of a ``string`` column (``missing`` for NA)."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object, na_value=None))
    table = np.array([read(v) for v in uniques] + [missing], dtype=object if dtype == "string" else dtype)
    return pd.Series(table[codes], index=values.index, dtype=dtype)


def squeeze_spaces(values: pd.Series) -> pd.Series:
    """Remove every space: province/city/area names and codes have none (``浙江 省`` -> ``浙江省``)."""
    if values.dtype == "string":  # clean_text's output: each distinct name once
        return _per_distinct(values, lambda v: _SPACES_RE.sub("", v) or None, None, "string")
    s = values.str.replace(r"\s+", "", regex=True)
    return s.mask(s == "")


def has_non_bmp(values: pd.Series) -> pd.Series:
    """True where a value holds an emoji (BMP ones like ❤️ included) or another non-BMP character."""
    if values.dtype == "string":
        return _per_distinct(values, lambda v: _NON_BMP_RE.search(v) is not None, False, bool)
    return values.str.contains(_NON_BMP, regex=True).fillna(False).astype(bool)


def too_long(values: pd.Series, max_len: int | None) -> pd.Series:
    """True where a value has more characters than ``max_len`` (Qimen lengths count characters)."""
    if max_len is None:
        return pd.Series(False, index=values.index)
    return (values.str.len() > max_len).fillna(False).astype(bool)


def truncate(values: pd.Series, max_len: int | None, marker: str = ELLIPSIS) -> pd.Series:
    """Cut values longer than ``max_len`` to ``max_len`` characters ending in ``marker``.

    The cut never leaves a joiner, variation selector or combining mark dangling at the end, so an
    emoji sequence or an accented letter is dropped whole rather than half-printed.
    """
    if max_len is None:
        return values
    if max_len <= len(marker):
        raise ValueError(f"max_len {max_len} leaves no room for the marker {marker!r}")
    long = too_long(values, max_len)
    if not long.any():
        return values
    head = values[long].str.slice(0, max_len - len(marker)).str.rstrip(_DANGLING_TAIL + " ")
    out = values.copy()
    out[long] = head + marker
    return out
