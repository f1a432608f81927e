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
from sqlalchemy import text

from wmsbridge.errors import ConfigError
from wmsbridge.shop.carriers import CarrierMap

PROFILES_DIR = Path(__file__).with_name("profiles")

# Every query a profile must provide, with the bind parameters it receives. ``since_epoch`` is the
# same instant as ``since`` in Unix seconds, for shops that keep only those (CRMEB's add_time).
QUERIES: dict[str, tuple[str, ...]] = {
    "changed_skus": ("since", "since_epoch"),
    "paid_orders": ("paid_from", "paid_to"),
    "paid_orders_by_code": ("order_codes",),
    "order_lines": ("order_ids",),
    "cancelled_orders": ("since", "since_epoch"),
    "cancelled_orders_by_code": ("order_codes",),
    # ``now``: the moment of the write, as the shop's own ship action stamps ``update_time``
    "ship": ("order_id", "tracking_no", "carrier_code", "shipped_at", "now"),
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
# - ``paid_orders_without_paid_at``: paid, unshipped orders whose payment time is empty (a manual
#   edit, a migration). No payment window ever selects them; with this query every windowed push
#   reads them too, and the transform rejects them by name ("the order has no payment time"), so
#   they wait for a person instead of never being sent without a word.
OPTIONAL_QUERIES: dict[str, tuple[str, ...]] = {
    "paid_orders_without_paid_at": (),
    "ship_log": ("order_id", "tracking_no", "carrier_code", "carrier_name", "shipped_at", "now"),
    # ``held_stock``: per order line, the units the shop holds out of its stock for orders that are
    # not shipped yet (litemall takes them when an order is submitted, and gives them back itself on
    # cancel and refund): the daily stock write-back subtracts those of orders the warehouse does not
    # hold. Without it, the paid orders (``paid_orders``) are what the shop holds.
    "held_stock": (),
    "write_stock_bulk": ("now",),
    "write_stock_totals": ("now",),
    # Returns (pipelines/returns.py; all three, or none, and ``adjust_stock``): ``approved_returns``
    # the shop approved as returns of goods (changed since ``since``), ``return_lines`` what each
    # takes back, ``refunded_returns`` which of them the shop has refunded and the units it put back
    # in stock itself on refund (``added_back``, 0 when it does not). ``adjust_stock``: a signed
    # change of one SKU's stock (``number = number + :delta``, never below 0), for returns and for
    # the warehouse's stock changes (stockchange.report). ``return_received`` (optional) marks the
    # shop's after-sale record when the warehouse received the parcel (a note, a status).
    "approved_returns": ("since", "since_epoch"),
    "return_lines": ("return_ids",),
    "refunded_returns": ("return_ids",),
    "adjust_stock": ("sku_id", "delta", "now"),
    "return_received": ("return_id", "note", "received_at", "now"),
    # ``withdrawn_returns`` (optional, with the returns queries): which of the registered returns not
    # received yet (``:return_ids``) the shop withdrew, refused or deleted since it approved them:
    # ``return_id``, and a short ``why``. Without it a withdrawal goes unseen: one not sent yet is
    # still announced, one sent stays expected by the warehouse (docs/profiles.md).
    "withdrawn_returns": ("return_ids",),
}
RETURN_QUERIES = ("approved_returns", "return_lines", "refunded_returns")
# Parameters bound as lists (rendered as IN (...) by SQLAlchemy's expanding bind parameters).
LIST_PARAMS = frozenset({"order_codes", "order_ids", "sku_ids", "return_ids"})
ADDRESS_MODES = ("split", "one_string")
SKU_PROPERTY_MODES = ("text", "json_array")
KEY_TYPES = {"int": int, "str": str}
# Every key a profile file may have: anything else is a typo (``adress_mode``) and refused.
SETTINGS = ("name", "description", "timezone", "key_type", "address_mode", "item_code", "sku_property",
            "statuses", "carriers", "shipment", "queries")
CARRIER_KEYS = ("codes", "aliases", "names", "unknown_to_qimen", "unknown_to_shop")
SHIPMENT_KEYS = ("tracking", "tracking_separator", "tracking_max_length")
TRACKING_MODES = ("all", "first")
STATUS_KEYS = ("paid", "shipped", "cancelled")


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
    # How the shop records several parcels in its one tracking-number column: ``all`` of them joined
    # by the separator, or only the ``first`` (a shop that looks the number up whole, like litemall at
    # Kdniao; every parcel stays in the store and on the operations page).
    tracking: str = "all"
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

    @property
    def handles_returns(self) -> bool:
        """Whether the profile has the returns queries (RETURN_QUERIES) and ``adjust_stock``."""
        return all(q in self.queries for q in (*RETURN_QUERIES, "adjust_stock"))

    def key(self, value) -> object:
        """A shop key (order or SKU id, a str in canonical frames) as the shop's column type."""
        return self.key_type(value)

    @property
    def cancel_reasons(self) -> Mapping[str, str]:
        """shop status -> ``cancelled`` / ``refund_requested`` / ``refunded`` ... for cancelled orders."""
        return {str(k): str(v) for k, v in (self.statuses.get("cancelled") or {}).items()}


def _variants(source: Path, name: str, value) -> dict[str, str]:
    if isinstance(value, str):
        return {"default": value}
    if isinstance(value, Mapping) and "default" in value:
        unknown = set(value) - {"default", "sqlite", "postgresql", "mysql"}
        if unknown:
            raise ProfileError(f"{source}: query {name!r}: unknown dialect(s) {sorted(unknown)} "
                               "(known: default, sqlite, postgresql, mysql)")
        return {str(k): str(v) for k, v in value.items()}
    raise ProfileError(f"{source}: query {name!r} must be SQL text or a mapping with a 'default' entry")


def parse_profile(data: Mapping, source: Path) -> ShopProfile:
    def need(key: str):
        if key not in data:
            raise ProfileError(f"{source}: missing {key!r}")
        return data[key]

    unknown = sorted(str(k) for k in data if k not in SETTINGS)
    if unknown:
        raise ProfileError(f"{source}: unknown setting(s) {unknown} (known: {', '.join(SETTINGS)})")
    queries = need("queries")
    if not isinstance(queries, Mapping):
        raise ProfileError(f"{source}: 'queries' must be a mapping of query name -> SQL")
    missing = [q for q in QUERIES if q not in queries]
    if missing:
        raise ProfileError(f"{source}: missing queries {missing}")
    extra = sorted(str(q) for q in queries if q not in QUERIES and q not in OPTIONAL_QUERIES)
    if extra:
        raise ProfileError(f"{source}: unknown queries {extra} (known: {', '.join((*QUERIES, *OPTIONAL_QUERIES))})")
    address_mode = data.get("address_mode", "split")
    if address_mode not in ADDRESS_MODES:
        raise ProfileError(f"{source}: address_mode must be one of {ADDRESS_MODES}, not {address_mode!r}")
    sku_property = data.get("sku_property", "text")
    if sku_property not in SKU_PROPERTY_MODES:
        raise ProfileError(f"{source}: sku_property must be one of {SKU_PROPERTY_MODES}, not {sku_property!r}")
    shipment = data.get("shipment") or {}
    if not isinstance(shipment, Mapping) or set(shipment) - set(SHIPMENT_KEYS):
        raise ProfileError(f"{source}: shipment takes {', '.join(SHIPMENT_KEYS)} only")
    if shipment.get("tracking", "all") not in TRACKING_MODES:
        raise ProfileError(f"{source}: shipment.tracking must be one of {TRACKING_MODES}, "
                           f"not {shipment.get('tracking')!r}")
    key_type = data.get("key_type", "str")
    if key_type not in KEY_TYPES:
        raise ProfileError(f"{source}: key_type must be one of {sorted(KEY_TYPES)}, not {key_type!r}")
    try:
        zone = ZoneInfo(str(need("timezone")))
    except (ValueError, KeyError) as err:  # ZoneInfoNotFoundError is a KeyError
        raise ProfileError(f"{source}: timezone {data.get('timezone')!r} is no IANA zone (e.g. Asia/Shanghai)") from err
    for section, known in (("carriers", CARRIER_KEYS), ("statuses", STATUS_KEYS)):
        value = data.get(section) or {}
        if not isinstance(value, Mapping):
            raise ProfileError(f"{source}: {section!r} must be a mapping")
        wrong = sorted(str(k) for k in value if k not in known)
        if wrong:
            raise ProfileError(f"{source}: unknown setting(s) {[f'{section}.{k}' for k in wrong]} "
                               f"(known: {', '.join(known)})")
    try:
        carriers = CarrierMap.from_config(data.get("carriers"))
    except (TypeError, ValueError, AttributeError) as err:
        raise ProfileError(f"{source}: carriers: {err}") from err
    given = [q for q in RETURN_QUERIES if q in queries]
    if given and len(given) != len(RETURN_QUERIES):
        raise ProfileError(f"{source}: returns need all of {', '.join(RETURN_QUERIES)}; missing "
                           f"{[q for q in RETURN_QUERIES if q not in queries]}")
    if "withdrawn_returns" in queries and not given:
        raise ProfileError(f"{source}: withdrawn_returns is part of the returns queries: it needs "
                           f"{', '.join(RETURN_QUERIES)}")
    params = {**QUERIES, **OPTIONAL_QUERIES}
    variants = {name: _variants(source, name, queries[name]) for name in params if name in queries}
    for name, sqls in variants.items():
        for dialect, sql in sqls.items():
            unknown_params = sorted(set(text(sql)._bindparams) - set(params[name]))
            if unknown_params:
                where = "" if dialect == "default" else f" ({dialect})"
                raise ProfileError(f"{source}: query {name!r}{where} uses bind parameters {unknown_params} it never "
                                   f"receives (it gets: {', '.join(':' + p for p in params[name])})")
    return ShopProfile(
        name=str(need("name")),
        description=str(data.get("description", "")).strip(),
        timezone=zone,
        key_type=KEY_TYPES[key_type],
        address_mode=address_mode,
        item_code=data.get("item_code"),
        sku_property=sku_property,
        statuses=dict(need("statuses")),
        carriers=carriers,
        queries=variants,
        source=source,
        tracking=str(shipment.get("tracking", "all")),
        tracking_separator=str(shipment.get("tracking_separator", ",")),
        tracking_max_length=int(shipment["tracking_max_length"]) if shipment.get("tracking_max_length") else None,
    )


def load_profile(name_or_path: str | Path) -> ShopProfile:
    """A shipped profile by name (``reference``, ``litemall``), or your own file by path
    (``/opt/airflow/shop_profiles/crmeb.yaml``; a relative path is relative to the worker's
    working directory, so give an absolute one)."""
    path = Path(name_or_path).expanduser()
    if not path.suffix:
        path = PROFILES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
        raise ProfileError(f"no shop profile {str(name_or_path)!r}: not a file (shipped names: {shipped}; "
                           "or give the path of your own YAML file)")
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, Mapping):
        raise ProfileError(f"{path}: not a YAML mapping")
    return parse_profile(data, path)
