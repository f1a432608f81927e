"""Start-up settings of one simulator instance (command line, pytest fixtures, demos)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .faults import FaultSettings

JUXING_PATH_V2 = "/api/v2/openapi/wms/wmsnotify/9"
JUXING_PATH_V1 = "/api/v1/openapi/wms/wmsnotify/9"
QIMEN_ROUTER_PATH = "/router/qimen/service"
QIMEN_PATHS = (JUXING_PATH_V2, JUXING_PATH_V1, QIMEN_ROUTER_PATH)
ADMIN_PREFIX = "/__admin/"

#: Juxing's note: items go to /api/v2/..., orders to /api/v1/... (``--juxing-paths``): a method
#: listed here is refused at any other path, so a connection pointing at the wrong one is caught.
JUXING_METHOD_PATHS: dict[str, tuple[str, ...]] = {
    "singleitem.synchronize": (JUXING_PATH_V2,),
    "deliveryorder.create": (JUXING_PATH_V1,),
}
MAX_CLOCK_SKEW_S = 600.0  # a Qimen gateway refuses a timestamp more than 10 minutes off

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024  # same cap as qimen.parsing.DEFAULT_MAX_BYTES
ADMIN_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_TWO_PARCEL_SHARE = 0.1  # "most orders in one parcel, a few in two"
DEFAULT_REDELIVER_AFTER_S = 30.0


@dataclass
class SimulatorConfig:
    """What a real warehouse would be configured with, plus the simulator's own switches.

    ``secret`` / ``customer_id`` / ``warehouse_code`` / ``owner_code``: when set, requests must
    match (signature verified, other values refused); when ``None`` anything is accepted, like
    Juxing, which says it checks neither app_key nor sign.
    """

    host: str = "127.0.0.1"
    port: int = 0
    secret: str | None = None
    customer_id: str | None = None
    warehouse_code: str | None = None
    owner_code: str | None = None
    callback_url: str | None = None
    callback_secret: str | None = None  # defaults to ``secret``
    callback_app_key: str = "wms-simulator"
    callback_timeout_s: float = 10.0
    confirm_shape: str = "qimen"  # "juxing": confirmations exactly like Juxing's sample (empty elements, .0 times)
    db: str | None = None  # SQLite file; in memory when None
    require_known_items: bool = True
    strict_stock: bool = False  # refuse orders whose lines exceed the available stock
    # Public parameters checked like a Qimen gateway: a timestamp within ``max_clock_skew_s`` of
    # Beijing time, format=xml, v=2.0, and (when signatures are verified) an upper-case sign.
    strict_public_params: bool = True
    max_clock_skew_s: float = MAX_CLOCK_SKEW_S
    # method -> the only paths it is accepted at (methods not listed: every Qimen path).
    method_paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Methods this warehouse has not enabled (e.g. returnorder.create): answered flag=failure
    # ``method-not-enabled`` once the request is authentic; empty: every method it knows.
    disabled_methods: tuple[str, ...] = ()
    faults: FaultSettings = field(default_factory=FaultSettings)
    # Automatic shipping (auto_ship.py): every accepted order ships this many seconds after it was
    # accepted and its confirmation is posted to ``callback_url``; None: only when asked (/__admin/ship).
    auto_ship_after_s: float | None = None
    two_parcel_share: float = DEFAULT_TWO_PARCEL_SHARE  # of auto-shipped orders with two or more lines
    redeliver_after_s: float = DEFAULT_REDELIVER_AFTER_S  # auto-ship: a failed delivery is posted again
    # The goods on the shelves when singleitem.synchronize creates an item (ZP, no batch): its entry
    # here, else ``starting_stock``; 0 and not listed: no stock row, as before.
    starting_stock: int = 0
    starting_stock_by_item: dict[str, int] = field(default_factory=dict)

    @property
    def effective_callback_secret(self) -> str | None:
        return self.callback_secret if self.callback_secret is not None else self.secret

    def starting_stock_of(self, item_code: str) -> int:
        return self.starting_stock_by_item.get(item_code, self.starting_stock)

    def public_view(self) -> dict:
        """Settings as JSON for ``/__admin/config``; secrets masked (the callback address's token too),
        the stock list counted."""
        data = asdict(self)
        data.pop("faults")
        data["starting_stock_by_item"] = len(self.starting_stock_by_item)
        for key in ("secret", "callback_secret"):
            data[key] = None if data[key] is None else "***"
        data["callback_url"] = _masked_query(self.callback_url)
        return data

    # Only these may change at run time; the rest define the instance.
    RUNTIME_KEYS = ("callback_url", "require_known_items", "strict_stock", "callback_timeout_s",
                    "strict_public_params", "max_clock_skew_s", "method_paths", "confirm_shape",
                    "auto_ship_after_s", "two_parcel_share", "redeliver_after_s", "starting_stock",
                    "disabled_methods")

    def __post_init__(self) -> None:
        from qimen.transport import METHODS, normalize_method

        paths = {}
        for method, allowed in (self.method_paths or {}).items():
            name = normalize_method(method)
            if name not in METHODS:
                raise ValueError(f"method_paths: unknown Qimen method {method!r}")
            allowed = (allowed,) if isinstance(allowed, str) else tuple(allowed)
            wrong = [p for p in allowed if p not in QIMEN_PATHS]
            if wrong:
                raise ValueError(f"method_paths: {wrong} are no Qimen paths of the simulator {QIMEN_PATHS}")
            paths[name] = allowed
        self.method_paths = paths
        disabled = (self.disabled_methods,) if isinstance(self.disabled_methods, str) else self.disabled_methods
        names = tuple(dict.fromkeys(normalize_method(m) for m in disabled or ()))
        unknown = [m for m in names if m not in METHODS]
        if unknown:
            raise ValueError(f"disabled_methods: unknown Qimen methods {unknown}")
        self.disabled_methods = names
        check_automation(self)


def check_automation(config: SimulatorConfig) -> None:
    """Refuse automatic shipping and starting stock settings that cannot mean anything."""
    if config.auto_ship_after_s is not None and float(config.auto_ship_after_s) < 0:
        raise ValueError(f"auto_ship_after_s must not be negative, got {config.auto_ship_after_s}")
    if not 0.0 <= float(config.two_parcel_share) <= 1.0:
        raise ValueError(f"two_parcel_share must be a fraction between 0 and 1, got {config.two_parcel_share}")
    if float(config.redeliver_after_s) < 0:
        raise ValueError(f"redeliver_after_s must not be negative, got {config.redeliver_after_s}")
    stock = {"": config.starting_stock, **(config.starting_stock_by_item or {})}
    wrong = [code or "starting_stock" for code, qty in stock.items()
             if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0]
    if wrong:
        raise ValueError(f"starting stock must be a whole number >= 0: {', '.join(wrong[:5])}")


_SECRET_PARAMS = {"token", "secret", "app_secret", "appsecret", "sign", "access_token"}


def _masked_query(url: str | None) -> str | None:
    """``url`` with the values of its secret-bearing query parameters shown as ``***``."""
    if not url or "?" not in url:
        return url
    parts = urlsplit(url)
    pairs = [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe="*")))
