"""The canonical frames of docs/architecture.md, and the coercion every profile's rows go through.

Whatever a shop calls its columns and however its driver returns them (SQLite gives text and
floats, MySQL naive datetimes), the transforms see exactly these names and types: str keys,
Decimal amounts, int quantities and aware UTC datetimes.
"""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import pandas as pd

STR, INT, DECIMAL, DATETIME = "str", "int", "decimal", "datetime"

SKU_COLUMNS: dict[str, str] = {
    "sku_id": STR, "item_code": STR, "item_name": STR, "bar_code": STR, "sku_property": STR,
    "goods_code": STR, "category_name": STR, "brand_name": STR, "stock_unit": STR,
    "retail_price": DECIMAL, "updated_at": DATETIME,
}
ORDER_COLUMNS: dict[str, str] = {
    "order_id": STR, "order_code": STR, "shop_status": STR, "paid_at": DATETIME, "created_at": DATETIME,
    "receiver_name": STR, "receiver_mobile": STR, "receiver_tel": STR, "receiver_province": STR,
    "receiver_city": STR, "receiver_area": STR, "receiver_town": STR, "receiver_detail": STR,
    "receiver_address": STR, "receiver_zip": STR, "buyer_nick": STR, "buyer_message": STR,
    "seller_message": STR, "total_amount": DECIMAL, "item_amount": DECIMAL, "discount_amount": DECIMAL,
    "freight": DECIMAL, "carrier_code": STR, "updated_at": DATETIME,
    # None, or why the address is refused: a one-string address the parser cannot split, or a
    # province that does not exist (see wmsbridge.shop.address).
    "receiver_address_error": STR,
}
LINE_COLUMNS: dict[str, str] = {
    "order_id": STR, "line_no": INT, "sku_id": STR, "item_code": STR, "item_name": STR,
    "quantity": INT, "price": DECIMAL, "retail_price": DECIMAL,
}
CANCELLED_COLUMNS: dict[str, str] = {
    "order_id": STR, "order_code": STR, "shop_status": STR,
    # cancelled / refund_requested / refunded, from the profile's status map
    "cancel_reason": STR, "updated_at": DATETIME,
}

CENT = Decimal("0.01")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NaT


def _to_str(value):
    if _missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _to_decimal(value):
    if _missing(value):
        return None
    return Decimal(str(value)).quantize(CENT)


def _to_utc(series: pd.Series, zone: ZoneInfo) -> pd.Series:
    """Shop timestamps (naive in the shop's zone, or aware, or Unix seconds as CRMEB keeps them) as
    ``datetime64[ns, UTC]``."""
    numbers = pd.to_numeric(series, errors="coerce") if series.dtype == object else series
    if pd.api.types.is_numeric_dtype(numbers) and not pd.api.types.is_bool_dtype(numbers) \
            and (series.isna() | numbers.notna()).all() and numbers.notna().any():
        return pd.to_datetime(numbers, unit="s", utc=True).astype("datetime64[ns, UTC]")
    values = pd.to_datetime(series, format="ISO8601") if series.dtype == object else series
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        values = pd.to_datetime(values).dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
    return values.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def canonical(df: pd.DataFrame, columns: dict[str, str], zone: ZoneInfo) -> pd.DataFrame:
    """Exactly ``columns``, in order, typed; columns the profile did not select are None."""
    out = pd.DataFrame(index=df.index)
    for name, kind in columns.items():
        if name not in df.columns:
            out[name] = pd.Series([pd.NaT] * len(df), index=df.index, dtype="datetime64[ns, UTC]") \
                if kind == DATETIME else pd.Series([None] * len(df), index=df.index, dtype=object)
            continue
        col = df[name]
        if kind == DATETIME:
            out[name] = _to_utc(col.astype(object).where(col.notna(), None), zone)
        elif kind == INT:
            out[name] = col.astype("int64")
        elif kind == DECIMAL:
            out[name] = pd.Series([_to_decimal(v) for v in col], index=df.index, dtype=object)
        else:
            out[name] = pd.Series([_to_str(v) for v in col], index=df.index, dtype=object)
    return out.reset_index(drop=True)


def empty(columns: dict[str, str]) -> pd.DataFrame:
    return canonical(pd.DataFrame(), columns, ZoneInfo("UTC"))
