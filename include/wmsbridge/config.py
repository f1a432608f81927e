"""Bridge settings: one JSON Airflow Variable (`wms_bridge_config`), defaults for everything.

Read inside tasks only (a Variable read is I/O; DAG files must not do it at parse time).
Environment fallback `WMS_BRIDGE_CONFIG` (JSON) serves `make demo` and tests.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from qimen.answers import DEFAULT_RULES, AnswerRules
from qimen.transport import METHODS, normalize_method
from wmsbridge.errors import ConfigError

VARIABLE_KEY = "wms_bridge_config"
ENV_KEY = "WMS_BRIDGE_CONFIG"


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
    sending_stale_minutes: int = 15
    # Required by the order flow (no default sender): {"name", "mobile", "province", "city", "detail", "area"?}.
    sender: SenderInfo = field(default_factory=SenderInfo)
    # More warehouse wordings for qimen.answers, e.g. {"passing_codes": ["WMS_LOCKED"],
    # "passing_phrases": ["库存同步中"]}: keys as the fields of qimen.answers.AnswerRules.
    answer_rules: dict[str, list[str]] = field(default_factory=dict)

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
            cfg = cls(**data)
        except TypeError as err:  # an unknown sender key
            raise ConfigError(f"{VARIABLE_KEY}: {err}") from err
        unknown_methods = {normalize_method(m) for m in cfg.qimen_method_conn_ids} - set(METHODS)
        if unknown_methods:
            raise ConfigError(f"{VARIABLE_KEY}.qimen_method_conn_ids: unknown Qimen methods {sorted(unknown_methods)}")
        if cfg.chunk_size < 1 or cfg.push_concurrency < 1:
            raise ConfigError(f"{VARIABLE_KEY}: chunk_size and push_concurrency must be >= 1")
        try:
            cfg.rules()
        except ValueError as err:
            raise ConfigError(f"{VARIABLE_KEY}.answer_rules: {err}") from err
        return cfg

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
        return asdict(self)


def _variable() -> str | None:
    """The Variable's text, None when it is not set. Any other failure to read it is an error: going
    on with defaults would run the wrong profile against the shop."""
    try:
        from airflow.sdk import Variable
    except ImportError:  # the receiver or a CLI tool without Airflow installed
        return None
    try:
        return Variable.get(VARIABLE_KEY, default=None)
    except Exception as err:  # noqa: BLE001 - re-raised with the key named
        raise ConfigError(f"could not read the Airflow Variable {VARIABLE_KEY!r}: {type(err).__name__}: {err}") from err


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
