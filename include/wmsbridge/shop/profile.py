"""Shop profiles: one YAML file per mall schema, holding its SQL and a small declarative mapping.

Adding a mall means adding a file (see docs/profiles.md): the pipelines only ever run the named
queries below and apply the mapping, so no Python changes per shop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from wmsbridge.errors import ConfigError
from wmsbridge.shop.carriers import CarrierMap

PROFILES_DIR = Path(__file__).with_name("profiles")

# Every query a profile must provide, with the bind parameters it receives.
QUERIES: dict[str, tuple[str, ...]] = {
    "changed_skus": ("since",),
    "paid_orders": ("paid_from", "paid_to"),
    "paid_orders_by_code": ("order_codes",),
    "order_lines": ("order_ids",),
    "cancelled_orders": ("since",),
    "cancelled_orders_by_code": ("order_codes",),
    "ship": ("order_id", "tracking_no", "carrier_code", "shipped_at"),
    "read_stock": ("sku_ids",),
    "write_stock": ("sku_id", "quantity", "now"),
}
# Queries a profile may add:
# - ``ship_log`` runs in the ship's transaction when the ship updated the order (a shop that also
#   keeps an order-status log, like CRMEB's eb_store_order_status).
# - Stock write-back in bulk: the bridge fills a temporary table ``wms_stock_in(sku_id, quantity)``
#   per chunk, then runs ``write_stock_bulk`` (one UPDATE joining it) and ``write_stock_totals``
#   (derived totals the shop keeps, e.g. a product's stock over its SKUs). Without
#   ``write_stock_bulk`` the per-SKU ``write_stock`` runs for every row.
OPTIONAL_QUERIES: dict[str, tuple[str, ...]] = {
    "ship_log": ("order_id", "tracking_no", "carrier_code", "carrier_name", "shipped_at"),
    "write_stock_bulk": ("now",),
    "write_stock_totals": ("now",),
}
# Parameters bound as lists (rendered as IN (...) by SQLAlchemy's expanding bind parameters).
LIST_PARAMS = frozenset({"order_codes", "order_ids", "sku_ids"})
ADDRESS_MODES = ("split", "one_string")
SKU_PROPERTY_MODES = ("text", "json_array")
KEY_TYPES = {"int": int, "str": str}


class ProfileError(ConfigError):
    """A profile file that is missing a query, a setting, or has an invalid value."""


@dataclass(frozen=True)
class ShopProfile:
    name: str
    description: str
    timezone: ZoneInfo
    key_type: type
    address_mode: str
    item_code: str | None
    sku_property: str
    statuses: Mapping[str, object]
    carriers: CarrierMap
    queries: Mapping[str, Mapping[str, str]]
    source: Path
    # How the shop records several parcels in its one tracking-number column.
    tracking_separator: str = ","
    tracking_max_length: int | None = None  # the column's width; longer lists go to a person, never cut

    def sql(self, query: str, dialect: str) -> str:
        """The SQL of ``query`` for a dialect (``sqlite``, ``postgresql``, ``mysql``), else the default."""
        variants = self.queries[query]
        if dialect == "mariadb":
            dialect = "mysql"
        return variants.get(dialect) or variants["default"]

    def has(self, query: str) -> bool:
        """Whether the profile provides ``query`` (always true for the required ones)."""
        return query in self.queries

    def key(self, value) -> object:
        """A shop key (order or SKU id, a str in canonical frames) as the shop's column type."""
        return self.key_type(value)

    @property
    def cancel_reasons(self) -> Mapping[str, str]:
        """shop status -> ``cancelled`` / ``refund_requested`` / ``refunded`` ... for cancelled orders."""
        return {str(k): str(v) for k, v in (self.statuses.get("cancelled") or {}).items()}


def _variants(name: str, value) -> dict[str, str]:
    if isinstance(value, str):
        return {"default": value}
    if isinstance(value, Mapping) and "default" in value:
        unknown = set(value) - {"default", "sqlite", "postgresql", "mysql"}
        if unknown:
            raise ProfileError(f"query {name!r}: unknown dialect(s) {sorted(unknown)}")
        return {str(k): str(v) for k, v in value.items()}
    raise ProfileError(f"query {name!r} must be SQL text or a mapping with a 'default' entry")


def parse_profile(data: Mapping, source: Path) -> ShopProfile:
    def need(key: str):
        if key not in data:
            raise ProfileError(f"{source}: missing {key!r}")
        return data[key]

    queries = need("queries")
    missing = [q for q in QUERIES if q not in queries]
    if missing:
        raise ProfileError(f"{source}: missing queries {missing}")
    address_mode = data.get("address_mode", "split")
    if address_mode not in ADDRESS_MODES:
        raise ProfileError(f"{source}: address_mode must be one of {ADDRESS_MODES}")
    sku_property = data.get("sku_property", "text")
    if sku_property not in SKU_PROPERTY_MODES:
        raise ProfileError(f"{source}: sku_property must be one of {SKU_PROPERTY_MODES}")
    shipment = data.get("shipment") or {}
    if not isinstance(shipment, Mapping) or set(shipment) - {"tracking_separator", "tracking_max_length"}:
        raise ProfileError(f"{source}: shipment takes tracking_separator and tracking_max_length only")
    key_type = data.get("key_type", "str")
    if key_type not in KEY_TYPES:
        raise ProfileError(f"{source}: key_type must be one of {sorted(KEY_TYPES)}")
    return ShopProfile(
        name=str(need("name")),
        description=str(data.get("description", "")).strip(),
        timezone=ZoneInfo(str(need("timezone"))),
        key_type=KEY_TYPES[key_type],
        address_mode=address_mode,
        item_code=data.get("item_code"),
        sku_property=sku_property,
        statuses=dict(need("statuses")),
        carriers=CarrierMap.from_config(data.get("carriers")),
        queries={name: _variants(name, queries[name]) for name in (*QUERIES, *OPTIONAL_QUERIES) if name in queries},
        source=source,
        tracking_separator=str(shipment.get("tracking_separator", ",")),
        tracking_max_length=int(shipment["tracking_max_length"]) if shipment.get("tracking_max_length") else None,
    )


def load_profile(name_or_path: str | Path) -> ShopProfile:
    """A shipped profile by name (``reference``, ``litemall``) or any profile file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
        raise ProfileError(f"no shop profile {str(name_or_path)!r} (shipped: {shipped})")
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, Mapping):
        raise ProfileError(f"{path}: not a YAML mapping")
    return parse_profile(data, path)
