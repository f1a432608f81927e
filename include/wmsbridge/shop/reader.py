"""Reading a shop through its profile, in chunks, as canonical frames.

Memory stays flat whatever the shop's size: the driving query is streamed (server-side cursor on
PostgreSQL, unbuffered cursor on MySQL) and consumed ``chunk_size`` rows at a time; each chunk's
lines are fetched on a second connection, because an open streaming cursor owns its connection.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime

import pandas as pd
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine

from wmsbridge.shop import frames
from wmsbridge.shop.checks import check_columns, profile_sql
from wmsbridge.shop.address import fill_districtless_areas, split_addresses, unknown_provinces
from wmsbridge.shop.profile import LIST_PARAMS, ShopProfile, load_profile

DEFAULT_CHUNK = 1000
# Open window ends, as the shop's own wall time (no zone shift: they are no moment). Wide enough that
# every time a server can store is inside, so an implausible one (1900, 2100, a 9999 placeholder) is
# extracted and rejected by name, never silently left out. PostgreSQL and MariaDB compare them with
# any DATETIME / TIMESTAMP (checked from year 1 to 9999-12-31 23:59:59).
_OPEN_FROM, _OPEN_TO = datetime.min, datetime.max
# SQLite stores a text or a number in a DATETIME column, and orders them below (numbers) or above
# (texts) every date. An open end on SQLite is therefore -inf (below every number and text) and a
# BLOB (above every text), so such a row is read, and rejected with its reason, not skipped.
_SQLITE_OPEN_FROM, _SQLITE_OPEN_TO = float("-inf"), b"\xff"


def _open_from(engine: Engine):
    return _SQLITE_OPEN_FROM if engine.dialect.name == "sqlite" else _OPEN_FROM


def _open_to(engine: Engine):
    return _SQLITE_OPEN_TO if engine.dialect.name == "sqlite" else _OPEN_TO


def statement(profile: ShopProfile, query: str, dialect: str):
    """The profile's SQL as a ``text()`` with list parameters bound as expanding ``IN``."""
    sql = text(profile.sql(query, dialect))
    expanding = [bindparam(name, expanding=True) for name in LIST_PARAMS if f":{name}" in sql.text]
    return sql.bindparams(*expanding) if expanding else sql


def local_naive(profile: ShopProfile, moment: datetime) -> datetime:
    """An aware instant as the naive wall time the shop writes in its own zone."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass aware UTC datetimes")
    return moment.astimezone(profile.timezone).replace(tzinfo=None)


def _decode_per_value(conn) -> None:
    """On SQLite (which stores any bytes as TEXT), decode text value by value: sqlite3 would raise
    for the first row that is not UTF-8 and end the whole fetch; this way ``canonical`` names the
    row and column and the rest of the chunk goes on. Server databases refuse such bytes on write."""
    if conn.dialect.name == "sqlite":
        conn.connection.driver_connection.text_factory = frames.lenient_text


def _text_or_none(values: pd.Series) -> pd.Series:
    """Canonical text: object dtype, None (never NaN) for missing."""
    return pd.Series([None if frames._missing(v) else str(v) for v in values], index=values.index, dtype=object)


def _since(profile: ShopProfile, engine: Engine, since_utc: datetime | None) -> dict:
    """``:since`` as the shop's wall time, and ``:since_epoch`` as Unix seconds (CRMEB keeps those);
    no ``since_utc``: open, every row."""
    if since_utc is None:
        return {"since": _open_from(engine), "since_epoch": _open_from(engine) if engine.dialect.name == "sqlite"
                else -(2 ** 62)}
    return {"since": local_naive(profile, since_utc), "since_epoch": int(since_utc.timestamp())}


def _chunks(values: list, size: int) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _json_spec(value) -> str | None:
    """litemall's specifications ``["黑色","XL"]`` as the spec text ``黑色 XL``."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    try:
        parts = json.loads(value)
    except (TypeError, ValueError):
        return str(value)
    if isinstance(parts, list):
        return " ".join(str(p).strip() for p in parts if str(p).strip() and str(p) != "标准") or None
    return str(parts)


class ShopStock(dict):
    """``{sku_id: stock}`` as the shop holds it, and ``unreadable``: ``{sku_id: why}`` for stock values
    that are no whole number: those SKUs are left as they are, each with its reason, the rest goes on."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.unreadable: dict[str, str] = {}


class ShopReader:
    """Profile queries that read: changed SKUs, paid orders with lines, cancelled orders, stock."""

    def __init__(self, profile: ShopProfile | str):
        self.profile = load_profile(profile) if isinstance(profile, str) else profile

    # -- helpers -------------------------------------------------------------------------------
    def _stream(self, engine: Engine, query: str, params: dict, chunk_size: int) -> Iterator[pd.DataFrame]:
        with engine.connect() as conn:
            _decode_per_value(conn)
            opts = conn.execution_options(stream_results=True, yield_per=chunk_size)
            with profile_sql(self.profile, query):
                result = opts.execute(statement(self.profile, query, engine.dialect.name), params)
            keys = list(result.keys())
            check_columns(self.profile, query, keys)
            while True:
                with profile_sql(self.profile, query):
                    rows = result.fetchmany(chunk_size)
                if not rows:
                    break
                yield pd.DataFrame([tuple(r) for r in rows], columns=keys)

    def _item_codes(self, df: pd.DataFrame) -> pd.Series:
        template = self.profile.item_code
        if not template:
            return df["item_code"]
        cols = df.astype(object).where(df.notna(), "")
        codes = []
        for row in cols.to_dict("records"):
            parts = {k: frames.as_text(v) or "" for k, v in row.items()}
            code = template.format(**parts)
            # a part that is not UTF-8 makes the code unreadable too (canonical names it)
            codes.append(frames.Undecodable(code) if any(isinstance(p, frames.Undecodable) for p in parts.values())
                         else code)
        return pd.Series(codes, index=df.index, dtype=object)

    def _sku_properties(self, df: pd.DataFrame) -> pd.Series:
        if self.profile.sku_property == "json_array":
            return df["sku_property"].map(_json_spec)
        return df["sku_property"]

    # -- SKUs ------------------------------------------------------------------------------------
    def iter_changed_skus(
        self, engine: Engine, since_utc: datetime | None = None, chunk_size: int = DEFAULT_CHUNK
    ) -> Iterator[pd.DataFrame]:
        """SKUs new or changed at or after ``since_utc`` (all when None), canonical SKU frames."""
        params = _since(self.profile, engine, since_utc)
        for chunk in self._stream(engine, "changed_skus", params, chunk_size):
            chunk["sku_id"] = chunk["sku_id"].map(frames.as_text)
            chunk["item_code"] = self._item_codes(chunk)
            if "sku_property" in chunk:
                chunk["sku_property"] = self._sku_properties(chunk)
            yield frames.canonical(chunk, frames.SKU_COLUMNS, self.profile.timezone)

    # -- orders ----------------------------------------------------------------------------------
    def _lines(self, engine: Engine, order_ids: list) -> pd.DataFrame:
        with engine.connect() as conn, profile_sql(self.profile, "order_lines"):
            _decode_per_value(conn)
            result = conn.execute(
                statement(self.profile, "order_lines", engine.dialect.name),
                {"order_ids": [self.profile.key(i) for i in order_ids]},
            )
            check_columns(self.profile, "order_lines", result.keys())
            lines = pd.DataFrame([tuple(r) for r in result], columns=list(result.keys()))
        if lines.empty:
            return frames.empty(frames.LINE_COLUMNS)
        lines["order_id"] = lines["order_id"].map(frames.as_text)
        lines["sku_id"] = lines["sku_id"].map(frames.as_text)
        if "line_no" not in lines:
            lines["line_no"] = lines.groupby("order_id", sort=False).cumcount() + 1
        lines["item_code"] = self._item_codes(lines)
        return frames.canonical(lines, frames.LINE_COLUMNS, self.profile.timezone)

    def _orders_with_lines(self, engine: Engine, chunk: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        if self.profile.address_mode == "one_string":
            orders = frames.canonical(chunk, frames.ORDER_COLUMNS, self.profile.timezone)
            parts = split_addresses(orders["receiver_address"])
            for part in ("province", "city", "area", "town", "detail"):
                orders[f"receiver_{part}"] = _text_or_none(parts[part])
            orders["receiver_address_error"] = _text_or_none(parts["error"])
        else:
            orders = frames.canonical(chunk, frames.ORDER_COLUMNS, self.profile.timezone)
            province = orders["receiver_province"].fillna("").astype(str).str.strip()
            unknown = unknown_provinces(province) & (province != "")
            orders["receiver_address_error"] = pd.Series(
                [f"unknown province {p}" if u else None for p, u in zip(province, unknown)], index=orders.index,
                dtype=object)
        filled = fill_districtless_areas(orders)  # 东莞市 长安镇: the town is the area, said once
        for column in ("receiver_area", "receiver_town", "receiver_detail"):
            orders[column] = _text_or_none(filled[column])
        town = orders["receiver_town"]
        orders["receiver_town"] = _text_or_none(town.where(town != orders["receiver_area"]))
        return orders, self._lines(engine, orders["order_id"].dropna().tolist())

    def iter_paid_orders(
        self,
        engine: Engine,
        *,
        paid_from_utc: datetime | None = None,
        paid_to_utc: datetime | None = None,
        order_codes: Iterable[str] | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        """Paid, unshipped orders as ``(orders_df, lines_df)`` chunks.

        By payment window ``[paid_from_utc, paid_to_utc)`` (open ends when None), plus the paid
        orders without a payment time when the profile has ``paid_orders_without_paid_at``; or by
        order codes when ``order_codes`` is given (only those still paid and unshipped come back).
        """
        if order_codes is not None:
            for codes in _chunks(sorted(set(order_codes)), chunk_size):
                for chunk in self._stream(engine, "paid_orders_by_code", {"order_codes": codes}, chunk_size):
                    yield self._orders_with_lines(engine, chunk)
            return
        params = {
            "paid_from": local_naive(self.profile, paid_from_utc) if paid_from_utc else _open_from(engine),
            "paid_to": local_naive(self.profile, paid_to_utc) if paid_to_utc else _open_to(engine),
        }
        for chunk in self._stream(engine, "paid_orders", params, chunk_size):
            yield self._orders_with_lines(engine, chunk)
        yield from self.iter_paid_orders_without_paid_at(engine, chunk_size=chunk_size)

    def iter_paid_order_keys(self, engine: Engine, *, chunk_size: int = 20000) -> Iterator[pd.DataFrame]:
        """Just ``order_code`` and ``paid_at`` of every paid, unshipped order (the profile's own
        queries, wrapped), streamed: what the operations page needs to count the backlog, without
        the lines and addresses a push reads."""
        columns = {"order_code": frames.STR, "paid_at": frames.DATETIME}
        for query, params in (("paid_orders", {"paid_from": _open_from(engine), "paid_to": _open_to(engine)}),
                              ("paid_orders_without_paid_at", {})):
            if not self.profile.has(query):
                continue
            sql = text(f"SELECT q.order_code, q.paid_at FROM ({self.profile.sql(query, engine.dialect.name)}) q")
            with engine.connect() as conn, profile_sql(self.profile, query):
                _decode_per_value(conn)
                result = conn.execution_options(stream_results=True, yield_per=chunk_size).execute(sql, params)
                while rows := result.fetchmany(chunk_size):
                    chunk = pd.DataFrame([tuple(r) for r in rows], columns=["order_code", "paid_at"])
                    yield frames.canonical(chunk, columns, self.profile.timezone)

    def iter_paid_orders_without_paid_at(
        self, engine: Engine, *, chunk_size: int = DEFAULT_CHUNK
    ) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        """Paid, unshipped orders with no payment time, when the profile has the query: no window
        selects them, so every windowed read adds them (the transform rejects them by name)."""
        if not self.profile.has("paid_orders_without_paid_at"):
            return
        for chunk in self._stream(engine, "paid_orders_without_paid_at", {}, chunk_size):
            yield self._orders_with_lines(engine, chunk)

    def iter_cancelled_orders(
        self,
        engine: Engine,
        *,
        since_utc: datetime | None = None,
        order_codes: Iterable[str] | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> Iterator[pd.DataFrame]:
        """Orders cancelled or refunded (changed since ``since_utc``, or among ``order_codes``)."""
        reasons = self.profile.cancel_reasons

        def finish(chunk: pd.DataFrame) -> pd.DataFrame:
            chunk["shop_status"] = chunk["shop_status"].map(frames.as_text)
            chunk["cancel_reason"] = chunk["shop_status"].map(reasons)
            return frames.canonical(chunk, frames.CANCELLED_COLUMNS, self.profile.timezone)

        if order_codes is not None:
            for codes in _chunks(sorted(set(order_codes)), chunk_size):
                for chunk in self._stream(engine, "cancelled_orders_by_code", {"order_codes": codes}, chunk_size):
                    yield finish(chunk)
            return
        params = _since(self.profile, engine, since_utc)
        for chunk in self._stream(engine, "cancelled_orders", params, chunk_size):
            yield finish(chunk)

    # -- returns ---------------------------------------------------------------------------------
    def iter_approved_returns(
        self, engine: Engine, *, since_utc: datetime | None = None, chunk_size: int = DEFAULT_CHUNK
    ) -> Iterator[pd.DataFrame]:
        """Returns of goods the shop approved, changed at or after ``since_utc`` (all when None)."""
        for chunk in self._stream(engine, "approved_returns", _since(self.profile, engine, since_utc), chunk_size):
            chunk["return_id"] = chunk["return_id"].map(frames.as_text)
            yield frames.canonical(chunk, frames.RETURN_COLUMNS, self.profile.timezone)

    def return_lines(self, engine: Engine, return_ids: Iterable[str]) -> pd.DataFrame:
        """What each return takes back: ``return_id``, ``sku_id``, ``item_code``, ``quantity``."""
        return self._by_returns(engine, "return_lines", return_ids, frames.RETURN_LINE_COLUMNS, item_codes=True)

    def refunded_returns(self, engine: Engine, return_ids: Iterable[str]) -> pd.DataFrame:
        """Which of ``return_ids`` the shop refunded, and per SKU the units it put back itself."""
        return self._by_returns(engine, "refunded_returns", return_ids, frames.REFUNDED_COLUMNS)

    def withdrawn_returns(self, engine: Engine, return_ids: Iterable[str]) -> pd.DataFrame:
        """Which of ``return_ids`` the shop withdrew, refused or deleted (the optional
        ``withdrawn_returns``): ``return_id``, ``why``."""
        return self._by_returns(engine, "withdrawn_returns", return_ids, frames.WITHDRAWN_COLUMNS)

    def _by_returns(self, engine: Engine, query: str, return_ids: Iterable[str], columns: dict[str, str], *,
                    item_codes: bool = False) -> pd.DataFrame:
        ids = [self.profile.key(i) for i in dict.fromkeys(return_ids)]
        parts = []
        for part in _chunks(ids, DEFAULT_CHUNK):
            for chunk in self._stream(engine, query, {"return_ids": part}, DEFAULT_CHUNK):
                chunk["return_id"] = chunk["return_id"].map(frames.as_text)
                if "sku_id" in chunk:
                    chunk["sku_id"] = chunk["sku_id"].map(frames.as_text)
                if item_codes:
                    chunk["item_code"] = self._item_codes(chunk)
                parts.append(frames.canonical(chunk, columns, self.profile.timezone))
        return pd.concat(parts, ignore_index=True) if parts else frames.empty(columns)

    # -- stock -----------------------------------------------------------------------------------
    def iter_held_stock(self, engine: Engine, *, chunk_size: int = DEFAULT_CHUNK) -> Iterator[pd.DataFrame]:
        """The units the shop holds out of its stock for orders not shipped yet (the profile's
        ``held_stock``): ``order_code``, ``item_code``, ``quantity`` per order line; unreadable ones
        are in ``read_errors`` (their quantity missing)."""
        columns = {"order_code": frames.STR, "sku_id": frames.STR, "item_code": frames.STR,
                   "quantity": frames.INT, frames.READ_ERRORS: frames.ERRORS}
        for chunk in self._stream(engine, "held_stock", {}, chunk_size):
            chunk["sku_id"] = chunk["sku_id"].map(frames.as_text)
            chunk["item_code"] = self._item_codes(chunk)
            yield frames.canonical(chunk, columns, self.profile.timezone)


    def read_stock(self, engine: Engine, sku_ids: Iterable[str], chunk_size: int = DEFAULT_CHUNK) -> ShopStock:
        """The shop's stock per SKU id; SKUs the shop does not have are absent from the result, and
        a stock value that is no whole number (NULL, text, 2.5) is in ``unreadable`` with why."""
        stock = ShopStock()
        ids = [self.profile.key(i) for i in dict.fromkeys(sku_ids)]
        with engine.connect() as conn, profile_sql(self.profile, "read_stock"):
            _decode_per_value(conn)
            for part in _chunks(ids, chunk_size):
                result = conn.execute(statement(self.profile, "read_stock", engine.dialect.name), {"sku_ids": part})
                check_columns(self.profile, "read_stock", result.keys())
                for sku, qty in result:
                    key = frames.as_text(sku)
                    try:
                        number = frames.whole_number(qty)
                    except ValueError as why:
                        stock.unreadable[key] = f"shop stock {why}"
                        continue
                    if number is None:
                        stock.unreadable[key] = "shop stock is empty (NULL)"
                    else:
                        stock[key] = number
        return stock


def read_all(iterator: Iterator) -> tuple | pd.DataFrame:
    """Concatenate a reader's chunks; for tests and small shops only (the point of chunks is not to)."""
    parts = list(iterator)
    if parts and isinstance(parts[0], tuple):
        return tuple(pd.concat(cols, ignore_index=True) for cols in zip(*parts))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


__all__ = ["ShopReader", "ShopStock", "local_naive", "read_all", "statement"]
