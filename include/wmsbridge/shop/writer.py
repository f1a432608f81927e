"""Writing to a shop through its profile: the shipment write-back and stock.

Both go through the profile's own UPDATE statements, so the shop sees exactly what its admin
"ship" and stock edit would do, and nothing else in its schema is touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from sqlalchemy.engine import Engine

from wmsbridge.shop.checks import profile_sql
from wmsbridge.shop.profile import ShopProfile, load_profile
from wmsbridge.shop.reader import local_naive, statement


class ShopWriter:
    def __init__(self, profile: ShopProfile | str):
        self.profile = load_profile(profile) if isinstance(profile, str) else profile

    def write_shipment(
        self, engine: Engine, order_id: str, tracking_no: str, carrier_shop_code: str, shipped_at_utc: datetime
    ) -> bool:
        """Mark one order shipped; False when the shop refuses (not paid-and-unshipped, deleted, unknown)."""
        params = {
            "order_id": self.profile.key(order_id),
            "tracking_no": tracking_no,
            "carrier_code": carrier_shop_code,
            "shipped_at": local_naive(self.profile, shipped_at_utc),
        }
        with engine.begin() as conn, profile_sql(self.profile, "ship"):
            result = conn.execute(statement(self.profile, "ship", engine.dialect.name), params)
            return result.rowcount == 1

    def write_stock(self, engine: Engine, quantities: Mapping[str, int], now_utc: datetime | None = None) -> int:
        """Set the shop's stock per SKU in one transaction; returns how many SKUs were updated."""
        now = local_naive(self.profile, now_utc or datetime.now(timezone.utc))
        updated = 0
        with engine.begin() as conn, profile_sql(self.profile, "write_stock"):
            stmt = statement(self.profile, "write_stock", engine.dialect.name)
            for sku_id, quantity in quantities.items():
                if int(quantity) < 0:
                    raise ValueError(f"negative stock {quantity} for SKU {sku_id}")
                params = {"sku_id": self.profile.key(sku_id), "quantity": int(quantity), "now": now}
                updated += conn.execute(stmt, params).rowcount
        return updated
