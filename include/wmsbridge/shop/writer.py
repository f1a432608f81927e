"""Writing to a shop through its profile: the shipment write-back and stock.

Both go through the profile's own UPDATE statements, so the shop sees exactly what its admin
"ship" and stock edit would do, and nothing else in its schema is touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wmsbridge.shop.checks import profile_sql
from wmsbridge.shop.profile import ShopProfile, load_profile
from wmsbridge.shop.reader import local_naive, statement

WRITE_CHUNK = 2000  # SKUs per bulk UPDATE
STOCK_IN = "wms_stock_in"


@dataclass(frozen=True)
class Shipment:
    """One order's shipment as the shop's ``ship`` statement takes it."""

    order_id: str
    tracking_no: str
    carrier_shop_code: str
    shipped_at_utc: datetime
    carrier_name: str | None = None


class ShopWriter:
    def __init__(self, profile: ShopProfile | str):
        self.profile = load_profile(profile) if isinstance(profile, str) else profile

    def write_shipment(
        self, engine: Engine, order_id: str, tracking_no: str, carrier_shop_code: str, shipped_at_utc: datetime,
        carrier_name: str | None = None, now_utc: datetime | None = None,
    ) -> bool:
        """Mark one order shipped in a transaction of its own; False when the shop refuses (not
        paid-and-unshipped, deleted, unknown). See ``write_shipments``."""
        shipment = Shipment(order_id, tracking_no, carrier_shop_code, shipped_at_utc, carrier_name)
        with engine.begin() as conn:
            return self.write_shipments(conn, [shipment], now_utc=now_utc)[0]

    def write_shipments(self, conn: Connection, shipments: Sequence[Shipment],
                        now_utc: datetime | None = None) -> list[bool]:
        """Mark orders shipped on ``conn``, in the caller's transaction (one commit for them all);
        returns, per shipment, whether the shop took it (False: not paid-and-unshipped, deleted,
        unknown). The profiles' ``ship`` also matches an order already shipped with exactly these
        tracking numbers, so writing the same shipment again changes nothing and is not a refusal.
        The profile's optional ``ship_log`` runs for the shipments taken. ``:shipped_at`` is when the
        parcel left (the confirmation's time), ``:now`` the moment of this write (what the shop's own
        ship action stamps as its change time). One order at most once per call."""
        if not shipments:
            return []
        now = local_naive(self.profile, now_utc or datetime.now(timezone.utc))
        params = [self._ship_params(s, now) for s in shipments]
        dialect = conn.dialect.name
        with profile_sql(self.profile, "ship"):
            taken = _ship(conn, statement(self.profile, "ship", dialect), params)
        if any(taken) and "ship_log" in self.profile.queries:
            with profile_sql(self.profile, "ship_log"):
                conn.execute(statement(self.profile, "ship_log", dialect), [p for p, ok in zip(params, taken) if ok])
        return taken

    def _ship_params(self, shipment: Shipment, now: datetime) -> dict:
        return {
            "order_id": self.profile.key(shipment.order_id),
            "tracking_no": shipment.tracking_no,
            "carrier_code": shipment.carrier_shop_code,
            "carrier_name": shipment.carrier_name or shipment.carrier_shop_code,
            "shipped_at": local_naive(self.profile, shipment.shipped_at_utc),
            "now": now,
        }

    def mark_return_received(self, engine: Engine, return_id: str, note: str, received_at_utc: datetime,
                             now_utc: datetime | None = None) -> bool:
        """The profile's ``return_received``: the shop's after-sale record shows that the warehouse
        received the parcel. False when the profile has no such query or the shop changed nothing
        (the record moved on, or already says so)."""
        if not self.profile.has("return_received"):
            return False
        params = {"return_id": self.profile.key(return_id), "note": note,
                  "received_at": local_naive(self.profile, received_at_utc),
                  "now": local_naive(self.profile, now_utc or datetime.now(timezone.utc))}
        with engine.begin() as conn, profile_sql(self.profile, "return_received"):
            return conn.execute(statement(self.profile, "return_received", engine.dialect.name), params).rowcount > 0

    def adjust_stock(self, engine: Engine, deltas: Mapping[str, int], now_utc: datetime | None = None) -> set[str]:
        """Move each SKU's stock by its signed delta (the profile's ``adjust_stock``, never below 0),
        in one transaction; returns the SKU ids the shop has (the others changed nothing)."""
        now = local_naive(self.profile, now_utc or datetime.now(timezone.utc))
        moved = set()
        with engine.begin() as conn, profile_sql(self.profile, "adjust_stock"):
            sql = statement(self.profile, "adjust_stock", engine.dialect.name)
            for sku_id, delta in deltas.items():
                if conn.execute(sql, {"sku_id": self.profile.key(sku_id), "delta": int(delta), "now": now}).rowcount:
                    moved.add(sku_id)
        return moved

    def write_stock(
        self,
        engine: Engine,
        quantities: Mapping[str, int],
        now_utc: datetime | None = None,
        *,
        chunk_size: int = WRITE_CHUNK,
    ) -> int:
        """Set the shop's stock per SKU id in one transaction; returns how many SKUs were updated.

        With the profile's ``write_stock_bulk``: per chunk, the chunk goes into the temporary table
        ``wms_stock_in(sku_id, quantity)`` (one multi-row INSERT) and ONE UPDATE joins it, then the
        optional ``write_stock_totals`` fixes the totals the shop derives from SKU stock. Without it,
        the per-SKU ``write_stock`` is sent for every row (slow on big shops).
        """
        rows = []
        for sku_id, quantity in quantities.items():
            if int(quantity) < 0:
                raise ValueError(f"negative stock {quantity} for SKU {sku_id}")
            rows.append({"sku_id": self.profile.key(sku_id), "quantity": int(quantity)})
        if not rows:
            return 0
        now = local_naive(self.profile, now_utc or datetime.now(timezone.utc))
        dialect = engine.dialect.name
        updated = 0
        with engine.begin() as conn:
            if not self.profile.has("write_stock_bulk"):
                with profile_sql(self.profile, "write_stock"):
                    stmt = statement(self.profile, "write_stock", dialect)
                    for row in rows:
                        updated += conn.execute(stmt, {**row, "now": now}).rowcount
                return updated
            table = _stock_in(self.profile.key_type)
            bulk = statement(self.profile, "write_stock_bulk", dialect)
            totals = statement(self.profile, "write_stock_totals", dialect) if self.profile.has(
                "write_stock_totals") else None
            _drop_stock_in(conn)
            table.create(conn)
            for start in range(0, len(rows), chunk_size):
                conn.execute(table.delete())
                conn.execute(sa.insert(table), rows[start:start + chunk_size])
                with profile_sql(self.profile, "write_stock_bulk"):
                    updated += conn.execute(bulk, {"now": now}).rowcount
                if totals is not None:
                    with profile_sql(self.profile, "write_stock_totals"):
                        conn.execute(totals, {"now": now})
            # On failure the transaction is rolled back (and the temporary table with it where DDL
            # is transactional; MySQL's is dropped by the next write before it is created again).
            _drop_stock_in(conn)
        return updated


def _ship(conn: Connection, ship: sa.TextClause, params: list[dict]) -> list[bool]:
    """Run ``ship`` for every order; per order, whether it changed one row (taken). One executemany
    when the driver sums its rowcounts and the sum says every order was taken (the statement is keyed
    by the order's id: at most one row each); else each order on its own, which also tells apart the
    refused ones after a short sum: those taken answer 1 again (already shipped with these numbers)."""
    if len(params) > 1 and conn.dialect.supports_sane_multi_rowcount:
        if conn.execute(ship, params).rowcount == len(params):
            return [True] * len(params)
    return [conn.execute(ship, p).rowcount == 1 for p in params]


def _stock_in(key_type: type) -> sa.Table:
    """The temporary table the bulk write-back joins (one per connection, dropped after use)."""
    sku = sa.BigInteger() if key_type is int else sa.String(64)
    return sa.Table(
        STOCK_IN, sa.MetaData(),
        sa.Column("sku_id", sku, primary_key=True, autoincrement=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        prefixes=["TEMPORARY"],
    )


def _drop_stock_in(conn: Connection) -> None:
    """Drop a left-over temporary table (pooled MySQL/SQLite connections keep them) or ours."""
    sql = {
        "postgresql": f"DROP TABLE IF EXISTS pg_temp.{STOCK_IN}",
        "sqlite": f"DROP TABLE IF EXISTS temp.{STOCK_IN}",
    }.get(conn.dialect.name, f"DROP TEMPORARY TABLE IF EXISTS {STOCK_IN}")
    conn.execute(sa.text(sql))
