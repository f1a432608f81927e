"""Chinese phone numbers as couriers dial them.

Shops store ``138 0013 8000``, ``+86-13800138000``, ``８６１３８００１３８０００`` (full width),
landlines such as ``(010) 5613-3684`` and platform privacy numbers with an extension
(``13800138000-1234``, ``13800138000转1234``). The warehouse gets mobiles as 11 digits and landlines
as ``0area-number``, each with ``-ext`` when there is one. Anything else is not guessed at.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

_COUNTRY = r"(?:\+?86-?|0086-?)"
_EXT = r"(?:-(?P<ext>\d{1,6}))?"
_MOBILE = rf"^{_COUNTRY}?(?P<a>1[3-9]\d)-?(?P<b>\d{{4}})-?(?P<c>\d{{4}}){_EXT}$"
# Area codes: 10 and 2x are two digits, every other one three; the trunk 0 may be lost after +86.
_LANDLINE = rf"^(?:{_COUNTRY}0?|0)(?P<area>[12]\d|[3-9]\d\d)-?(?P<a>[2-9]\d{{2,3}})-?(?P<b>\d{{4}}){_EXT}$"


_EXTENSION_SEPARATOR = re.compile(r"\s*(?:转|ext\.?|x|#)\s*(?=\d{1,6}$)")
_DASHES = re.compile(r"[\u2010-\u2015\u2212]")
_DECORATION = re.compile(r"[\s().（）]")
_MOBILE_RE = re.compile(_MOBILE)
_LANDLINE_RE = re.compile(_LANDLINE)


def normalize_one(text: str) -> tuple[str | None, bool]:
    """One value as :func:`normalize_phone` reads it: (number or None, present but invalid)."""
    s = unicodedata.normalize("NFKC", text).lower()
    if not s.strip():
        return None, False
    compact = _DECORATION.sub("", _DASHES.sub("-", _EXTENSION_SEPARATOR.sub("-", s)))
    found = _MOBILE_RE.search(compact)
    if found:
        number = found["a"] + found["b"] + found["c"]
    else:
        found = _LANDLINE_RE.search(compact)
        if not found:
            return None, True
        number = "0" + found["area"] + "-" + found["a"] + found["b"]
    return (number if found["ext"] is None else number + "-" + found["ext"]), False


def normalize_phone(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return ``(normalised, invalid)``: normalised numbers (NA where missing or invalid) and a
    mask that is True where a value was present but is not a phone number.

    Expects text cleaned by :func:`wmsbridge.transforms.text.clean_text`. Each distinct value is
    read once: NFKC (full-width digits), lower case, extension markers (转, ext, x, #) to ``-``,
    dashes unified, spaces and brackets dropped, then the mobile or the landline pattern.
    """
    text = values.astype("string").to_numpy(dtype=object, na_value=None)
    codes, uniques = pd.factorize(text)
    read = [normalize_one(v) for v in uniques] + [(None, False)]  # code -1 (missing): neither
    numbers = np.array([number for number, _ in read], dtype=object)
    invalid = np.array([bad for _, bad in read], dtype=bool)
    return (pd.Series(numbers[codes], index=values.index, dtype="string"),
            pd.Series(invalid[codes], index=values.index, dtype=bool))
