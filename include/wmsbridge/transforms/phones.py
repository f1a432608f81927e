"""Chinese phone numbers as couriers dial them.

Shops store ``138 0013 8000``, ``+86-13800138000``, ``８６１３８００１３８０００`` (full width),
landlines such as ``(010) 5613-3684`` and platform privacy numbers with an extension
(``13800138000-1234``, ``13800138000转1234``). The warehouse gets mobiles as 11 digits and landlines
as ``0area-number``, each with ``-ext`` when there is one. Anything else is not guessed at.
"""

from __future__ import annotations

import pandas as pd

_COUNTRY = r"(?:\+?86-?|0086-?)"
_EXT = r"(?:-(?P<ext>\d{1,6}))?"
_MOBILE = rf"^{_COUNTRY}?(?P<a>1[3-9]\d)-?(?P<b>\d{{4}})-?(?P<c>\d{{4}}){_EXT}$"
# Area codes: 10 and 2x are two digits, every other one three; the trunk 0 may be lost after +86.
_LANDLINE = rf"^(?:{_COUNTRY}0?|0)(?P<area>[12]\d|[3-9]\d\d)-?(?P<a>[2-9]\d{{2,3}})-?(?P<b>\d{{4}}){_EXT}$"


def normalize_phone(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return ``(normalised, invalid)``: normalised numbers (NA where missing or invalid) and a
    mask that is True where a value was present but is not a phone number.

    Expects text cleaned by :func:`wmsbridge.transforms.text.clean_text`.
    """
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
    mobile_text = mobile["a"] + mobile["b"] + mobile["c"]
    out[is_mobile] = _with_ext(mobile_text, mobile["ext"])[is_mobile]
    is_landline = ~is_mobile & landline["a"].notna()
    landline_text = "0" + landline["area"] + "-" + landline["a"] + landline["b"]
    out[is_landline] = _with_ext(landline_text, landline["ext"])[is_landline]
    invalid = (s.notna() & out.isna()).astype(bool)
    return out, invalid


def _with_ext(number: pd.Series, ext: pd.Series) -> pd.Series:
    return number.where(ext.isna(), number + "-" + ext)
