"""Bridge settings: one JSON Airflow Variable (`wms_bridge_config`), defaults for everything.

One deployment may serve several bridges (a bridge: one shop database <-> one warehouse account):
``{"bridges": {"<id>": {...}, ...}, <shared defaults>}`` (``Deployment``). Without ``bridges`` the
object is one bridge, id ``default``, as before.

Read inside tasks only (a Variable read is I/O; DAG files must not do it at parse time).
Environment fallback `WMS_BRIDGE_CONFIG` (JSON) serves `make demo` and tests.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from qimen.answers import DEFAULT_RULES, AnswerRules
from qimen.transport import METHODS, normalize_method
from wmsbridge.errors import ConfigError

log = logging.getLogger(__name__)
VARIABLE_KEY = "wms_bridge_config"
ENV_KEY = "WMS_BRIDGE_CONFIG"
#: The flows, as ``live`` and the run reports name them.
FLOWS = ("items", "orders", "cancels", "shipments", "inventory", "returns")
#: The methods Juxing's note names: always on.
JUXING_METHODS = ("singleitem.synchronize", "deliveryorder.create", "order.cancel", "deliveryorder.confirm",
                  "inventory.query")
#: Standard Qimen methods this version handles when ``enabled_methods`` names them.
SWITCHABLE_METHODS = ("itemlack.report", "orderprocess.report", "returnorder.create", "returnorder.confirm",
                      "stockchange.report")
#: Methods that only work together: a return announced is followed to what the warehouse received.
PAIRED_METHODS = (("returnorder.create", "returnorder.confirm"),)
#: What ``alerts.events`` may name: a run that failed, and records newly waiting for a person.
ALERT_EVENTS = ("failed_run", "needs_person")
#: The key that holds several bridges, and the id of the bridge a flat config is.
BRIDGES_KEY = "bridges"
DEFAULT_BRIDGE_ID = "default"
#: A bridge id is stored in VARCHAR(50) columns and shown in URLs: keep it plain.
BRIDGE_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")


@dataclass(frozen=True)
class SenderInfo:
    """Who ships, printed on the waybill (senderInfo). Juxing: "发件人信息自行安排" - the shop says
    who ships; there is no default, a made-up sender would go out on every parcel."""

    name: str | None = None
    mobile: str | None = None
    province: str | None = None
    city: str | None = None
    area: str | None = None  # optional, as in the Qimen SPEC
    detail: str | None = None

    REQUIRED = ("name", "mobile", "province", "city", "detail")

    def missing(self) -> list[str]:
        return [k for k in self.REQUIRED if not str(getattr(self, k) or "").strip()]


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go (docs/operations.md#alerts). The secrets (DingTalk access token and signing
    secret, the WeCom robot key) live in the named Airflow connections, never here."""

    dingtalk_conn_id: str | None = None   # a `dingding` connection (Airflow's Dingding provider)
    webhook_conn_id: str | None = None    # an `http` connection: a WeCom (企业微信) group robot webhook
    events: tuple[str, ...] = ALERT_EVENTS
    at_mobiles: tuple[str, ...] = ()      # DingTalk: who is @-mentioned

    @property
    def enabled(self) -> bool:
        return bool(self.dingtalk_conn_id or self.webhook_conn_id)


@dataclass(frozen=True)
class BridgeConfig:
    # Set by the parser from the key in ``bridges`` (``default`` for a flat config), never written by hand.
    bridge_id: str = DEFAULT_BRIDGE_ID
    # A disabled bridge stays configured (its records, its token) but no run works for it.
    enabled: bool = True
    profile: str = "reference"
    shop_conn_id: str = "shop_db"
    store_conn_id: str | None = None  # None: the integration store lives in the shop database
    qimen_conn_id: str = "qimen_default"
    # Per-method connection ids where the warehouse wants another address for some messages (Juxing's
    # note gives /api/v2/... for items and /api/v1/... for orders), e.g. {"deliveryorder.create": "qimen_orders"}.
    qimen_method_conn_ids: dict[str, str] = field(default_factory=dict)
    chunk_size: int = 2000
    push_concurrency: int = 4
    shop_nick: str = "微商城"
    default_logistics_code: str | None = None
    # A `sending` order without a lease (written before leases existed) is taken over after this.
    sending_stale_minutes: int = 15
    # A run's claim on a `sending` order; renewed every third of it while the run lives, so a dead
    # run's orders are recovered this long after its last heartbeat (store/orders.py).
    sending_lease_seconds: float = 60
    # Backoff between runs for orders that failed for a passing reason: base * 2**(attempts-1),
    # capped; they are retried for ever (counted retry_waiting until due), never dropped.
    retry_backoff_seconds: float = 60
    retry_backoff_max_seconds: float = 3600
    # Incremental reads start this long before the stored cursor (transactions still open then).
    watermark_overlap_minutes: float = 10
    # Required by the order flow (no default sender): {"name", "mobile", "province", "city", "detail", "area"?}.
    sender: SenderInfo = field(default_factory=SenderInfo)
    # More warehouse wordings for qimen.answers, e.g. {"passing_codes": ["WMS_LOCKED"],
    # "passing_phrases": ["库存同步中"]}: keys as the fields of qimen.answers.AnswerRules.
    answer_rules: dict[str, list[str]] = field(default_factory=dict)
    # The receiver of deliveryorder.confirm (docs/receiver.md). Without callback_token it refuses to
    # start: the URL handed to the warehouse is .../wms/qimen/callback?token=<callback_token>.
    callback_token: str | None = field(default=None, repr=False)
    callback_customer_id: str | None = None  # when a callback names a customerId, it must be this one
    callback_secret: str | None = field(default=None, repr=False)  # the Qimen secret the warehouse signs with
    callback_verify_sign: bool = False  # with a secret: check the sign of callbacks carrying Qimen parameters
    callback_allowed_ips: list[str] = field(default_factory=list)  # addresses or networks; empty: any
    callback_max_bytes: int = 1024 * 1024
    # A confirmation waiting this long for its order record counts as needing a person (still retried).
    shipment_waiting_alert_hours: int = 24
    # Daily stock (pipelines/inventory.py): items per inventory.query, its own request pace, guard rails.
    inventory_batch_size: int = 50
    inventory_requests_per_second: float = 2.0
    inventory_max_missing_pct: float = 10.0       # SKUs the warehouse said nothing about
    inventory_max_zeroed_pct: float = 20.0        # SKUs in stock in the shop the write-back would zero
    inventory_max_total_change_pct: float = 50.0  # move of the shop's total stock
    # Scheduled runs do their work only for live flows: true (all), false (none), or a list such as
    # ["shipments", "inventory"]. Manual runs and backfills always do what they were asked. Airflow's
    # own pause is no off switch: its trigger and backfill dialogs unpause a DAG by default.
    live: bool | list[str] = False
    # Standard Qimen methods beyond Juxing's note, each switched on once agreed with the warehouse
    # (docs/connection.md); one that is off is never sent, and its callbacks are refused.
    enabled_methods: list[str] = field(default_factory=list)
    alerts: AlertSettings = field(default_factory=AlertSettings)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> "BridgeConfig":
        """One flat config (no ``bridges``); several bridges are read by ``Deployment.from_mapping``."""
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError(f"{VARIABLE_KEY} must be a JSON object, not {type(data).__name__}")
        data = dict(data or {})
        if BRIDGES_KEY in data:
            raise ConfigError(f"{VARIABLE_KEY}.{BRIDGES_KEY}: several bridges are read by Deployment.from_mapping "
                              "(load_deployment or load_config(bridge_id))")
        _check_keys(data, VARIABLE_KEY)
        return _parse_bridge(data, VARIABLE_KEY)

    def method_enabled(self, method: str) -> bool:
        """Whether ``method`` (one of Juxing's five, or a standard one switched on) may be used."""
        method = normalize_method(method)
        return method in JUXING_METHODS or method in {normalize_method(m) for m in self.enabled_methods}

    def is_live(self, flow: str) -> bool:
        """Whether scheduled runs of ``flow`` do their work (``live``)."""
        return self.live is True or (isinstance(self.live, list) and flow in self.live)

    def require_sender(self) -> SenderInfo:
        """The sender, or a ConfigError naming every missing key: orders never go out with a made-up one."""
        missing = self.sender.missing()
        if missing:
            keys = ", ".join(f"sender.{k}" for k in missing)
            raise ConfigError(
                f"{VARIABLE_KEY}: {keys} not set; the order flow sends the shop's own sender (senderInfo), "
                'e.g. "sender": {"name": "…", "mobile": "…", "province": "…", "city": "…", "area": "…", "detail": "…"}'
            )
        return self.sender

    def rules(self) -> AnswerRules:
        """The answer classification with this deployment's extra codes and phrases."""
        return DEFAULT_RULES.extended(self.answer_rules)

    def as_dict(self) -> dict[str, Any]:
        """The settings, secrets masked (for logs and the UI)."""
        data = asdict(self)
        for key in ("callback_token", "callback_secret"):
            if data[key]:
                data[key] = "***"
        return data


@dataclass(frozen=True)
class Deployment:
    """Every bridge this deployment serves, by id, in config order. A flat ``wms_bridge_config``
    is one bridge, ``default``."""

    bridges: dict[str, BridgeConfig]

    def __post_init__(self) -> None:
        if not self.bridges:
            raise ConfigError(f"{VARIABLE_KEY}.{BRIDGES_KEY}: no bridge configured")
        for bridge_id, cfg in self.bridges.items():
            _check_bridge_id(bridge_id)
            if cfg.bridge_id != bridge_id:  # a hand-built Deployment: ids must agree for lookups
                raise ConfigError(f"{_where(bridge_id)}: holds the settings of bridge {cfg.bridge_id!r}")
        _check_distinct(self.bridges)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> "Deployment":
        """The parsed ``wms_bridge_config``: with ``bridges``, each bridge over the shared top-level
        defaults (a bridge's own value replaces a default whole); without, one ``default`` bridge."""
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError(f"{VARIABLE_KEY} must be a JSON object, not {type(data).__name__}")
        if data is None or BRIDGES_KEY not in data:
            return cls({DEFAULT_BRIDGE_ID: BridgeConfig.from_mapping(data)})
        shared = {k: v for k, v in data.items() if k != BRIDGES_KEY}
        _check_keys(shared, VARIABLE_KEY, also=(BRIDGES_KEY,))
        bridges = data[BRIDGES_KEY]
        if not isinstance(bridges, Mapping):
            raise ConfigError(f"{VARIABLE_KEY}.{BRIDGES_KEY} must be an object of bridge id -> settings, "
                              f"not {type(bridges).__name__}")
        if not bridges:
            raise ConfigError(f"{VARIABLE_KEY}.{BRIDGES_KEY} is empty: configure at least one bridge, "
                              "or leave the key out for one bridge")
        return cls({bridge_id: _bridge_over(shared, bridge_id, own) for bridge_id, own in bridges.items()})

    def bridge(self, bridge_id: str) -> BridgeConfig:
        """The named bridge; an unknown id is a configuration error, naming the configured ones."""
        try:
            return self.bridges[bridge_id]
        except (KeyError, TypeError):
            raise ConfigError(f"unknown bridge {bridge_id!r}: {VARIABLE_KEY} configures "
                              f"{', '.join(self.bridges)}") from None

    def enabled_ids(self) -> list[str]:
        """The bridges runs work for, in config order."""
        return [bridge_id for bridge_id, cfg in self.bridges.items() if cfg.enabled]

    def by_token(self, token: str | None) -> BridgeConfig | None:
        """The bridge whose ``callback_token`` is ``token`` (enabled or not: the caller decides), or
        None. Every configured token is compared, each in constant time, so the answer's timing
        says nothing about which token came close."""
        if not token:
            return None
        given = str(token).encode("utf-8")
        found = None
        for cfg in self.bridges.values():
            if cfg.callback_token and hmac.compare_digest(given, str(cfg.callback_token).encode("utf-8")):
                found = found or cfg
        return found

    @property
    def single(self) -> bool:
        return len(self.bridges) == 1

    @property
    def primary(self) -> BridgeConfig:
        """The bridge shown or told when none is named: ``default`` if configured, else the first.
        For what a person sees first (the page, deployment-wide alerts), never to pick a shop to act on."""
        return self.bridges.get(DEFAULT_BRIDGE_ID) or next(iter(self.bridges.values()))

    def resolve(self, bridge_id: str | None = None) -> BridgeConfig:
        """The named bridge; unnamed, the only one, else ``default``; with several and no ``default``
        a caller must say which (a guess would act on the wrong shop)."""
        if bridge_id is not None:
            return self.bridge(bridge_id)
        if self.single:
            return next(iter(self.bridges.values()))
        if DEFAULT_BRIDGE_ID in self.bridges:
            return self.bridges[DEFAULT_BRIDGE_ID]
        raise ConfigError(f"{VARIABLE_KEY} configures several bridges ({', '.join(self.bridges)}) and none is "
                          f"{DEFAULT_BRIDGE_ID!r}: a bridge id is needed")


def where(config: BridgeConfig | str, key: str | None = None) -> str:
    """The key path a message names, so a person finds the setting: ``wms_bridge_config.<key>`` for
    the ``default`` bridge (the flat form), ``wms_bridge_config.bridges.<id>.<key>`` for the others.
    ``config`` is a bridge's settings or its id."""
    bridge_id = config.bridge_id if isinstance(config, BridgeConfig) else config
    path = VARIABLE_KEY if bridge_id == DEFAULT_BRIDGE_ID else _where(bridge_id)
    return f"{path}.{key}" if key else path


def _where(bridge_id: str) -> str:
    """The path of a bridge in the ``bridges`` form."""
    return f"{VARIABLE_KEY}.{BRIDGES_KEY}.{bridge_id}"


def _check_bridge_id(bridge_id) -> None:
    if not isinstance(bridge_id, str) or not BRIDGE_ID_PATTERN.fullmatch(bridge_id):
        shown = repr(bridge_id) if len(repr(bridge_id)) <= 60 else repr(bridge_id)[:57] + "..."
        raise ConfigError(f"{VARIABLE_KEY}.{BRIDGES_KEY}: {shown} is not a bridge id: 1-50 characters of lowercase "
                          "letters, digits, _ or -, starting with a letter or digit (it is stored in VARCHAR(50) "
                          "columns and shown in URLs)")


def _bridge_over(shared: Mapping[str, Any], bridge_id, own) -> BridgeConfig:
    """One bridge: its own keys over the shared defaults, checked with messages naming the bridge."""
    _check_bridge_id(bridge_id)
    path = _where(bridge_id)
    if not isinstance(own, Mapping):
        raise ConfigError(f"{path} must be an object of settings, not {type(own).__name__}")
    _check_keys(own, path)
    try:
        cfg = _parse_bridge({**shared, **own}, path)
    except ConfigError as err:
        raise _name_inherited(err, path, set(shared) - set(own)) from err
    return replace(cfg, bridge_id=bridge_id)


def _name_inherited(err: ConfigError, path: str, inherited: set[str]) -> ConfigError:
    """A bad value the bridge took from the top level is fixed there: say so."""
    message = str(err)
    keys = sorted(k for k in inherited if re.search(rf"\b{re.escape(k)}\b", message))
    if not keys:
        return err
    return ConfigError(f"{message} (inherited from the top-level {', '.join(f'{VARIABLE_KEY}.{k}' for k in keys)}; "
                       "fix it there or set it in this bridge)")


def _check_distinct(bridges: Mapping[str, BridgeConfig]) -> None:
    """Bridges the receiver or the runs could not tell apart. Tokens are compared, never printed."""
    _check_unique(bridges, "callback_token", lambda c: c.callback_token or None,
                  "the receiver tells bridges apart by their token; give each bridge its own (a top-level "
                  "callback_token is shared by every bridge that does not set one)")
    _check_unique(bridges, "callback_customer_id", lambda c: str(c.callback_customer_id or "").strip() or None,
                  "a callback names its owner (货主ID) by it; each warehouse account has its own")
    enabled = {i: c for i, c in bridges.items() if c.enabled}
    _check_unique(enabled, "qimen_conn_id and shop_conn_id", lambda c: (c.qimen_conn_id, c.shop_conn_id),
                  "one shop and one warehouse account configured twice; disable or remove one")


def _check_unique(bridges: Mapping[str, BridgeConfig], key: str, value_of, why: str) -> None:
    seen: dict[Any, str] = {}
    for bridge_id, cfg in bridges.items():
        value = value_of(cfg)
        if value is None:
            continue
        if value in seen:
            raise ConfigError(f"{_where(seen[value])} and {_where(bridge_id)}: the same {key}; {why}")
        seen[value] = bridge_id


def _check_keys(data: Mapping[str, Any], path: str, *, also: tuple[str, ...] = ()) -> None:
    """Unknown keys are typos: refuse them, naming them, rather than run with a default."""
    if "bridge_id" in data:
        raise ConfigError(f'{path}.bridge_id: not a setting; a bridge\'s id is its key in "{BRIDGES_KEY}"')
    known = {f.name for f in fields(BridgeConfig)} - {"bridge_id"} | set(also)
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown {path} keys: {sorted(unknown)} (known: {sorted(known)})")


def _parse_bridge(data: dict[str, Any], path: str) -> BridgeConfig:
    """One bridge's settings, every message prefixed with ``path`` (the key path to this bridge)."""
    data["sender"] = _sender(data.get("sender"), path)
    data["alerts"] = _alert_settings(data.get("alerts"), path)
    try:
        cfg = BridgeConfig(**data)
    except TypeError as err:  # defensive: the keys were checked
        raise ConfigError(f"{path}: {err}") from err
    _check_values(cfg, path)
    return cfg


def _check_values(cfg: BridgeConfig, path: str) -> None:
    if not isinstance(cfg.enabled, bool):
        raise ConfigError(f"{path}.enabled: {cfg.enabled!r} is not true or false")
    _check_live(cfg.live, path)
    _check_enabled_methods(cfg.enabled_methods, path)
    unknown_methods = {normalize_method(m) for m in cfg.qimen_method_conn_ids} - set(METHODS)
    if unknown_methods:
        raise ConfigError(f"{path}.qimen_method_conn_ids: unknown Qimen methods {sorted(unknown_methods)}")
    if cfg.callback_max_bytes < 1024:
        raise ConfigError(f"{path}.callback_max_bytes: at least 1024 bytes")
    if cfg.callback_token is not None and len(str(cfg.callback_token)) < 16:
        raise ConfigError(f"{path}.callback_token: use at least 16 random characters "
                          "(python -c 'import secrets; print(secrets.token_urlsafe(24))')")
    if cfg.chunk_size < 1 or cfg.push_concurrency < 1:
        raise ConfigError(f"{path}: chunk_size and push_concurrency must be >= 1")
    if cfg.sending_lease_seconds <= 0:
        raise ConfigError(f"{path}.sending_lease_seconds must be > 0")
    if cfg.retry_backoff_seconds < 0 or cfg.retry_backoff_max_seconds < cfg.retry_backoff_seconds:
        raise ConfigError(f"{path}: need 0 <= retry_backoff_seconds <= retry_backoff_max_seconds")
    if cfg.inventory_batch_size < 1 or cfg.inventory_requests_per_second < 0 or min(
            cfg.inventory_max_missing_pct, cfg.inventory_max_zeroed_pct, cfg.inventory_max_total_change_pct) < 0:
        raise ConfigError(f"{path}: inventory_batch_size must be >= 1, inventory_* rates and limits >= 0")
    try:
        cfg.rules()
    except ValueError as err:
        raise ConfigError(f"{path}.answer_rules: {err}") from err


def _nested(value, kind: type, path: str, key: str) -> dict | None:
    """A nested settings object's keys checked against ``kind``'s fields: None when unset, the
    mapping when well formed, else a ConfigError naming ``path.key``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}.{key} must be an object, not {type(value).__name__}")
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigError(f"{path}.{key}: unknown keys {unknown} (known: {sorted(known)})")
    return dict(value)


def _sender(value, path: str) -> SenderInfo:
    if isinstance(value, SenderInfo):
        return value
    checked = _nested(value, SenderInfo, path, "sender")
    return SenderInfo() if checked is None else SenderInfo(**checked)


def _check_enabled_methods(methods, path: str = VARIABLE_KEY) -> None:
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise ConfigError(f"{path}.enabled_methods: {methods!r} is not a list of Qimen method names")
    unknown = sorted({normalize_method(m) for m in methods} - set(SWITCHABLE_METHODS))
    if unknown:
        raise ConfigError(f"{path}.enabled_methods: {unknown} cannot be switched on by this version "
                          f"(it handles: {', '.join(SWITCHABLE_METHODS)}; Juxing's own methods are always on)")
    named = {normalize_method(m) for m in methods}
    for pair in PAIRED_METHODS:
        if named & set(pair) and not set(pair) <= named:
            raise ConfigError(f"{path}.enabled_methods: {' and '.join(pair)} go together (a return "
                              f"announced is followed to what the warehouse received): switch on both or neither")


def _check_live(live, path: str = VARIABLE_KEY) -> None:
    if isinstance(live, bool):
        return
    if not isinstance(live, list) or not all(isinstance(f, str) for f in live):
        raise ConfigError(f"{path}.live: {live!r} is not true, false or a list of flows ({', '.join(FLOWS)})")
    unknown = sorted(set(live) - set(FLOWS))
    if unknown:
        raise ConfigError(f"{path}.live: unknown flows {unknown}; known: {', '.join(FLOWS)}")


def _alert_settings(value, path: str = VARIABLE_KEY) -> AlertSettings:
    if isinstance(value, AlertSettings):
        return value
    value = _nested(value, AlertSettings, path, "alerts")
    if value is None:
        return AlertSettings()
    events = value.get("events", ALERT_EVENTS)
    if isinstance(events, str) or not all(e in ALERT_EVENTS for e in events):
        raise ConfigError(f"{path}.alerts.events: {events!r}; each one of {', '.join(ALERT_EVENTS)}")
    mobiles = value.get("at_mobiles", ())
    if isinstance(mobiles, str):
        raise ConfigError(f"{path}.alerts.at_mobiles must be a list of mobile numbers")
    return AlertSettings(**{**value, "events": tuple(events), "at_mobiles": tuple(str(m) for m in mobiles)})


def _variable() -> str | None:
    """The Variable's text, None when it is not set. Any other failure to read it is an error: going
    on with defaults would run the wrong profile against the shop."""
    try:
        from airflow.sdk import Variable
    except ImportError:  # the receiver or a CLI tool without Airflow installed
        return None
    try:
        found = Variable.get(VARIABLE_KEY, default=None)
    except Exception as err:  # noqa: BLE001 - re-raised with the key named
        raise ConfigError(f"could not read the Airflow Variable {VARIABLE_KEY!r}: {type(err).__name__}: {err}") from err
    return found if found is not None or _in_task() else _metastore_variable()


def _in_task() -> bool:
    """Inside a task the SDK asks the API server, and has answered."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:
        return False
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def _metastore_variable() -> str | None:
    """A command-line tool beside Airflow (``make migrate``, ``python -m wmsbridge.alerts``): the SDK
    reads only environment and external secrets there, so the Variable set in the UI is read from
    Airflow's metadata database, as the ``airflow variables`` command does. A process that cannot
    reach that database goes on with the environment fallback, saying so."""
    try:
        from airflow.models.variable import Variable

        return Variable.get(VARIABLE_KEY, default_var=None)
    except Exception as err:  # noqa: BLE001 - told, then the environment decides
        log.warning("the Airflow Variable %s cannot be read from this process (%s: %s); using %s",
                    VARIABLE_KEY, type(err).__name__, err, ENV_KEY)
        return None


def _read_source() -> tuple[str, Any]:
    """(where the settings came from, the parsed JSON or None): the Variable if set, else the
    environment fallback ``WMS_BRIDGE_CONFIG``, else None (defaults)."""
    source, raw = f"Variable {VARIABLE_KEY}", _variable()
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        source, raw = f"environment variable {ENV_KEY}", os.environ.get(ENV_KEY)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError as err:
            raise ConfigError(f"{source} is not valid JSON: {err}") from err
    return source, raw


def load_deployment() -> Deployment:
    """Every configured bridge; errors name the source (Variable or environment) first."""
    source, raw = _read_source()
    try:
        return Deployment.from_mapping(raw)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err


def load_config(bridge_id: str | None = None) -> BridgeConfig:
    """One bridge's settings (``Deployment.resolve``): the only one, or ``default``, unless named."""
    return load_deployment().resolve(bridge_id)
