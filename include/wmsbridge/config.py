"""Bridge settings: one JSON Airflow Variable (`wms_bridge_config`), defaults for everything.

Read inside tasks only (a Variable read is I/O; DAG files must not do it at parse time).
Environment fallback `WMS_BRIDGE_CONFIG` (JSON) serves `make demo` and tests.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
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
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError(f"{VARIABLE_KEY} must be a JSON object, not {type(data).__name__}")
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown {VARIABLE_KEY} keys: {sorted(unknown)} (known: {sorted(known)})")
        try:
            if "sender" in data and data["sender"] is None:
                data["sender"] = SenderInfo()
            if isinstance(data.get("sender"), Mapping):
                data["sender"] = SenderInfo(**data["sender"])
            data["alerts"] = _alert_settings(data.get("alerts"))
            cfg = cls(**data)
        except TypeError as err:  # an unknown sender key
            raise ConfigError(f"{VARIABLE_KEY}: {err}") from err
        _check_live(cfg.live)
        _check_enabled_methods(cfg.enabled_methods)
        unknown_methods = {normalize_method(m) for m in cfg.qimen_method_conn_ids} - set(METHODS)
        if unknown_methods:
            raise ConfigError(f"{VARIABLE_KEY}.qimen_method_conn_ids: unknown Qimen methods {sorted(unknown_methods)}")
        if cfg.callback_max_bytes < 1024:
            raise ConfigError(f"{VARIABLE_KEY}.callback_max_bytes: at least 1024 bytes")
        if cfg.callback_token is not None and len(str(cfg.callback_token)) < 16:
            raise ConfigError(f"{VARIABLE_KEY}.callback_token: use at least 16 random characters "
                              "(python -c 'import secrets; print(secrets.token_urlsafe(24))')")
        if cfg.chunk_size < 1 or cfg.push_concurrency < 1:
            raise ConfigError(f"{VARIABLE_KEY}: chunk_size and push_concurrency must be >= 1")
        if cfg.sending_lease_seconds <= 0:
            raise ConfigError(f"{VARIABLE_KEY}.sending_lease_seconds must be > 0")
        if cfg.retry_backoff_seconds < 0 or cfg.retry_backoff_max_seconds < cfg.retry_backoff_seconds:
            raise ConfigError(f"{VARIABLE_KEY}: need 0 <= retry_backoff_seconds <= retry_backoff_max_seconds")
        if cfg.inventory_batch_size < 1 or cfg.inventory_requests_per_second < 0 or min(
                cfg.inventory_max_missing_pct, cfg.inventory_max_zeroed_pct, cfg.inventory_max_total_change_pct) < 0:
            raise ConfigError(f"{VARIABLE_KEY}: inventory_batch_size must be >= 1, inventory_* rates and limits >= 0")
        try:
            cfg.rules()
        except ValueError as err:
            raise ConfigError(f"{VARIABLE_KEY}.answer_rules: {err}") from err
        return cfg

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


def _check_enabled_methods(methods) -> None:
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise ConfigError(f"{VARIABLE_KEY}.enabled_methods: {methods!r} is not a list of Qimen method names")
    unknown = sorted({normalize_method(m) for m in methods} - set(SWITCHABLE_METHODS))
    if unknown:
        raise ConfigError(f"{VARIABLE_KEY}.enabled_methods: {unknown} cannot be switched on by this version "
                          f"(it handles: {', '.join(SWITCHABLE_METHODS)}; Juxing's own methods are always on)")
    named = {normalize_method(m) for m in methods}
    for pair in PAIRED_METHODS:
        if named & set(pair) and not set(pair) <= named:
            raise ConfigError(f"{VARIABLE_KEY}.enabled_methods: {' and '.join(pair)} go together (a return "
                              f"announced is followed to what the warehouse received): switch on both or neither")


def _check_live(live) -> None:
    if isinstance(live, bool):
        return
    if not isinstance(live, list) or not all(isinstance(f, str) for f in live):
        raise ConfigError(f"{VARIABLE_KEY}.live: {live!r} is not true, false or a list of flows ({', '.join(FLOWS)})")
    unknown = sorted(set(live) - set(FLOWS))
    if unknown:
        raise ConfigError(f"{VARIABLE_KEY}.live: unknown flows {unknown}; known: {', '.join(FLOWS)}")


def _alert_settings(value) -> AlertSettings:
    if value is None:
        return AlertSettings()
    if isinstance(value, AlertSettings):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"{VARIABLE_KEY}.alerts must be an object, not {type(value).__name__}")
    known = {f.name for f in fields(AlertSettings)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigError(f"{VARIABLE_KEY}.alerts: unknown keys {unknown} (known: {sorted(known)})")
    events = value.get("events", ALERT_EVENTS)
    if isinstance(events, str) or not all(e in ALERT_EVENTS for e in events):
        raise ConfigError(f"{VARIABLE_KEY}.alerts.events: {events!r}; each one of {', '.join(ALERT_EVENTS)}")
    mobiles = value.get("at_mobiles", ())
    if isinstance(mobiles, str):
        raise ConfigError(f"{VARIABLE_KEY}.alerts.at_mobiles must be a list of mobile numbers")
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


def load_config() -> BridgeConfig:
    """The Variable if set, else the environment fallback ``WMS_BRIDGE_CONFIG``, else defaults."""
    source, raw = f"Variable {VARIABLE_KEY}", _variable()
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        source, raw = f"environment variable {ENV_KEY}", os.environ.get(ENV_KEY)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError as err:
            raise ConfigError(f"{source} is not valid JSON: {err}") from err
    try:
        return BridgeConfig.from_mapping(raw)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err
