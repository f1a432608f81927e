"""The canonical frames of docs/architecture.md, and the coercion every profile's rows go through.

Whatever a shop calls its columns and however its driver returns them (SQLite gives text and
floats, MySQL naive datetimes), the transforms see exactly these names and types: str keys,
Decimal amounts, int quantities and aware UTC datetimes.

A value that cannot be read as its type (bytes that are not UTF-8, ``'abc'`` as an amount, an
impossible date, a text where a number belongs) never stops the chunk: it becomes missing, and the
row's ``read_errors`` names the column and why (``total_amount: 'abc' is not a number``). The
transforms turn those into rejects, so one bad row costs one record, not the run.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import pandas as pd

STR, INT, DECIMAL, DATETIME = "str", "int", "decimal", "datetime"
#: The last column of every canonical frame: None, or a tuple of ``column: why`` for the values of
#: the row that could not be read as their type (the value itself is then missing).
READ_ERRORS = "read_errors"
ERRORS = "errors"

SKU_COLUMNS: dict[str, str] = {
    "sku_id": STR, "item_code": STR, "item_name": STR, "bar_code": STR, "sku_property": STR,
    "goods_code": STR, "category_name": STR, "brand_name": STR, "stock_unit": STR,
    "retail_price": DECIMAL, "updated_at": DATETIME, READ_ERRORS: ERRORS,
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
    "receiver_address_error": STR, READ_ERRORS: ERRORS,
}
LINE_COLUMNS: dict[str, str] = {
    "order_id": STR, "line_no": INT, "sku_id": STR, "item_code": STR, "item_name": STR,
    "quantity": INT, "price": DECIMAL, "retail_price": DECIMAL, READ_ERRORS: ERRORS,
}
CANCELLED_COLUMNS: dict[str, str] = {
    "order_id": STR, "order_code": STR, "shop_status": STR,
    # cancelled / refund_requested / refunded, from the profile's status map
    "cancel_reason": STR, "updated_at": DATETIME, READ_ERRORS: ERRORS,
}
# A return the shop approved (approved_returns), what it takes back (return_lines) and what the shop
# did on refund (refunded_returns).
RETURN_COLUMNS: dict[str, str] = {
    "return_id": STR, "return_code": STR, "order_code": STR, "express_code": STR, "logistics_code": STR,
    "reason": STR, "updated_at": DATETIME, READ_ERRORS: ERRORS,
}
RETURN_LINE_COLUMNS: dict[str, str] = {
    "return_id": STR, "sku_id": STR, "item_code": STR, "quantity": INT, READ_ERRORS: ERRORS,
}
REFUNDED_COLUMNS: dict[str, str] = {"return_id": STR, "sku_id": STR, "added_back": INT, READ_ERRORS: ERRORS}
# Returns the shop withdrew, refused or deleted after approving them (withdrawn_returns, optional).
WITHDRAWN_COLUMNS: dict[str, str] = {"return_id": STR, "why": STR, READ_ERRORS: ERRORS}

CENT = Decimal("0.01")


class Undecodable(str):
    """Text whose bytes are not valid UTF-8, decoded with U+FFFD in place of the bad bytes: the row
    can still be named (its order code, its SKU) while ``canonical`` reports the column."""


def collated(code) -> str:
    """A code as the shop's database may have matched it in ``IN (...)`` (MariaDB's default
    collations ignore case and trailing spaces), to pair what was asked with what came back."""
    return str(code).strip().casefold()


def lenient_text(data: bytes) -> str:
    """SQLite ``text_factory``: strict UTF-8, else an :class:`Undecodable`, never an exception
    that would end the whole fetch (sqlite3's default raises for the first bad row)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return Undecodable(data.decode("utf-8", "replace"))


def _missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def _shown(value) -> str:
    text = repr(str(value) if isinstance(value, Undecodable) else value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Unreadable(Exception):
    """Why one value cannot be read as its column's type."""


def _to_str(value):
    if _missing(value):
        return None
    if isinstance(value, Undecodable):
        raise _Unreadable(f"not valid UTF-8 (read as {_shown(value)})")
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise _Unreadable("not valid UTF-8") from None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_text(value):
    """A key or code as text before ``canonical`` (reader helpers): never raises; text that is not
    UTF-8 stays :class:`Undecodable`, so ``canonical`` still reports its column."""
    try:
        return _to_str(value)
    except _Unreadable:
        return value if isinstance(value, Undecodable) else Undecodable(_lossy_str(value))


def _lossy_str(value):
    """The text of a value that failed ``_to_str``, for naming the record (U+FFFD for bad bytes)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return None if _missing(value) else str(value)


def _to_decimal(value):
    if _missing(value):
        return None
    if isinstance(value, Undecodable):
        raise _Unreadable("not valid UTF-8")
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise _Unreadable(f"{type(value).__name__} {_shown(value)} is not a number")
    try:
        number = Decimal(str(value).strip())
        if not number.is_finite():
            raise InvalidOperation
        return number.quantize(CENT)
    except InvalidOperation:
        raise _Unreadable(f"{_shown(value)} is not a number") from None


def _to_int(value):
    if _missing(value):
        return None
    if isinstance(value, Undecodable):
        raise _Unreadable("not valid UTF-8")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, (float, str, Decimal)):
        raise _Unreadable(f"{type(value).__name__} {_shown(value)} is not a whole number")
    try:
        exact = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise _Unreadable(f"{_shown(value)} is not a number") from None
    if not exact.is_finite() or exact != exact.to_integral_value():
        raise _Unreadable(f"{_shown(value)} is not a whole number")
    return int(exact)


def whole_number(value) -> int | None:
    """One value as a whole number (None when missing); ``ValueError`` saying why it is not one."""
    try:
        return _to_int(value)
    except _Unreadable as why:
        raise ValueError(str(why)) from None


def _convert(col: pd.Series, convert, lossy=None) -> tuple[list, list]:
    """``convert`` every value; a value it cannot read becomes ``lossy(value)`` (None by default)
    and its reason is listed at the same position (None where the value was read)."""
    values, reasons = [], []
    for value in col:
        try:
            values.append(convert(value))
            reasons.append(None)
        except _Unreadable as why:
            values.append(lossy(value) if lossy else None)
            reasons.append(str(why))
    return values, reasons


# pandas holds a time as nanoseconds since 1970 in 64 bits: 1677-09-21 .. 2262-04-11. A shop value
# outside (a 9999-12-31 placeholder, a year-1 default) cannot be held; a day of margin keeps the
# shift from the shop's zone to UTC inside too. Such a value is unreadable, like 'abc' as an amount.
_LOWEST = pd.Timestamp("1677-09-22")
_HIGHEST = pd.Timestamp("2262-04-10")
_EPOCH_LOWEST, _EPOCH_HIGHEST = _LOWEST.timestamp(), _HIGHEST.timestamp()
OUT_OF_RANGE = f"cannot be read (out of range: years {_LOWEST.year + 1}-{_HIGHEST.year - 1} only)"


def _one_utc(value, zone: ZoneInfo):
    """One timestamp as UTC: aware ones converted, naive ones in the shop's zone; NaT if unreadable."""
    moment = pd.to_datetime(value, errors="coerce", format="ISO8601")
    if moment is pd.NaT or moment is None:
        return pd.NaT
    if not _LOWEST <= moment.replace(tzinfo=None) <= _HIGHEST:
        return moment  # kept as it is: _bounded names it
    if moment.tzinfo is None:
        moment = moment.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
    return pd.NaT if moment is pd.NaT else moment.tz_convert("UTC")


def _bounded(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``values`` (datetimes in any unit, naive or aware) with those nanoseconds cannot hold as NaT,
    and where they were."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        wall = values.dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        wall = values
    else:  # Timestamps of several zones or units, one at a time
        wall = pd.Series([None if _missing(v) else pd.Timestamp(v).replace(tzinfo=None) for v in values],
                         index=values.index, dtype=object)
        outside = wall.map(lambda v: v is not None and not _LOWEST <= v <= _HIGHEST).astype(bool)
        kept = values.where(~outside, None)
        return pd.to_datetime(kept.tolist(), utc=True).to_series(index=values.index), outside
    outside = wall.notna() & ((wall < _LOWEST) | (wall > _HIGHEST))
    return (values.where(~outside) if outside.any() else values), outside


def _plain(value) -> str:
    """A time value as a person wrote it (``9999-06-01 00:00:00``), clipped."""
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _to_utc(series: pd.Series, zone: ZoneInfo) -> tuple[pd.Series, list]:
    """Shop timestamps (naive in the shop's zone, or aware, or Unix seconds as CRMEB keeps them) as
    ``datetime64[ns, UTC]``, and per value why a present one could not be read (None where it was
    read, or was missing): not a time, or outside what a time can be here (:data:`OUT_OF_RANGE`)."""
    numbers = pd.to_numeric(series, errors="coerce") if series.dtype == object else series
    if pd.api.types.is_numeric_dtype(numbers) and not pd.api.types.is_bool_dtype(numbers) \
            and (series.isna() | numbers.notna()).all() and numbers.notna().any():
        outside = numbers.notna() & ((numbers < _EPOCH_LOWEST) | (numbers > _EPOCH_HIGHEST))
        values = pd.to_datetime(numbers.where(~outside), unit="s", utc=True).astype("datetime64[ns, UTC]")
        return values, [f"{_plain(v)} (Unix seconds) {OUT_OF_RANGE}" if bad else None
                        for bad, v in zip(outside.tolist(), series)]
    raw = series.astype(object)
    present = raw.map(lambda v: not _missing(v))
    readable = raw.map(lambda v: isinstance(v, (datetime, date, str)) and not isinstance(v, Undecodable))
    usable = present & readable
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series.dtype):
        values = series
    else:
        candidates = raw.where(usable, None)
        try:
            if len({v.tzinfo is None for v in candidates if isinstance(v, datetime)}) > 1:
                raise TypeError  # pandas would make the naive ones NaT
            values = pd.to_datetime(candidates, format="ISO8601", errors="coerce")
        except (TypeError, ValueError):  # aware and naive mixed: one value at a time
            values = candidates.map(lambda v: _one_utc(v, zone))
    values, outside = _bounded(values)
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        values = pd.to_datetime(values).dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
    values = values.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    failed = (present & values.isna()).tolist()
    reasons = [
        None if not bad
        else f"{_plain(v)} {OUT_OF_RANGE}" if far
        else "not valid UTF-8" if isinstance(v, Undecodable)
        else f"{_shown(v)} is not a date and time" if isinstance(v, (str, datetime, date))
        else f"{type(v).__name__} {_shown(v)} is not a date and time"
        for bad, far, v in zip(failed, outside.tolist(), raw)
    ]
    return values, reasons


def canonical(df: pd.DataFrame, columns: dict[str, str], zone: ZoneInfo) -> pd.DataFrame:
    """Exactly ``columns``, in order, typed; columns the profile did not select are None.

    Values that cannot be read as their type are missing, and ``read_errors`` says which and why.
    """
    out = pd.DataFrame(index=df.index)
    problems: list[list[str]] = [[] for _ in range(len(df))]

    def note(column: str, reasons) -> None:
        for position, reason in enumerate(reasons):
            if reason is not None:
                problems[position].append(f"{column}: {reason}")

    for name, kind in columns.items():
        if kind == ERRORS:
            continue
        if name not in df.columns:
            out[name] = pd.Series([pd.NaT] * len(df), index=df.index, dtype="datetime64[ns, UTC]") \
                if kind == DATETIME else pd.Series([None] * len(df), index=df.index, dtype=object)
            continue
        col = df[name]
        if kind == DATETIME:
            out[name], reasons = _to_utc(col, zone)
            note(name, reasons)
        elif kind == INT:
            if pd.api.types.is_integer_dtype(col.dtype) and not isinstance(col.dtype, pd.api.extensions.ExtensionDtype):
                out[name] = col.astype("int64")  # the common case: the driver gave ints
                continue
            values, reasons = _convert(col, _to_int)
            series = pd.Series(values, index=df.index, dtype=object)
            out[name] = series.astype("int64") if series.notna().all() else series.astype("Int64")
            note(name, reasons)
        elif kind == DECIMAL:
            values, reasons = _convert(col, _to_decimal)
            out[name] = pd.Series(values, index=df.index, dtype=object)
            note(name, reasons)
        else:
            values, reasons = _convert(col, _to_str, _lossy_str)
            out[name] = pd.Series(values, index=df.index, dtype=object)
            note(name, reasons)
    if READ_ERRORS in columns:
        out[READ_ERRORS] = pd.Series([tuple(p) if p else None for p in problems], index=df.index, dtype=object)
    return out.reset_index(drop=True)


def empty(columns: dict[str, str]) -> pd.DataFrame:
    return canonical(pd.DataFrame(), columns, ZoneInfo("UTC"))
