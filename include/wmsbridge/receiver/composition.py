"""What the receiver runs with: every bridge's settings and store, nothing else.

No warehouse hook and no migrations (the task's ``Bridge`` builds both): the receiver only checks
callbacks, stores them and answers. It refuses to be built without a token or with a store that
is not at this code's revision, saying what to run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from wmsbridge.config import VARIABLE_KEY, BridgeConfig, Deployment, load_deployment, where
from wmsbridge.errors import ConfigError
from wmsbridge.store import IntegrationStore
from wmsbridge.store.confirmations import ConfirmationInbox
from wmsbridge.store.exchange_log import ExchangeLog
from wmsbridge.store.reports import WarehouseReports
from wmsbridge.store.schema import NO_BRIDGE

from .auth import networks, token_ok

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receiver:
    """One bridge's side of the receiver: its settings, its store, its token and checks."""

    config: BridgeConfig
    store: IntegrationStore
    token: str
    customer_id: str | None  # None: a callback's customerId is not checked
    allowed_networks: tuple

    @property
    def bridge_id(self) -> str:
        return self.store.bridge_id

    @property
    def inbox(self) -> ConfirmationInbox:
        return self.store.confirmations

    @property
    def reports(self) -> WarehouseReports:
        return self.store.reports

    @property
    def max_bytes(self) -> int:
        return self.config.callback_max_bytes

    @property
    def verify_sign(self) -> bool:
        return bool(self.config.callback_verify_sign and self.config.callback_secret)

    def knows(self, kind: str, code: str) -> bool:
        """Whether this bridge has the order (``kind`` "order") or return ("return") ``code``."""
        if kind == "order":
            return bool(self.store.orders.states([code]))
        return bool(self.store.returns.rows([code]))


@dataclass(frozen=True)
class Receivers:
    """Every bridge that takes callbacks, told apart by the token in the callback URL (one address
    for all of them). A callback no token opens is logged under ``NO_BRIDGE``."""

    by_bridge: dict[str, Receiver]
    unknown: ExchangeLog

    def for_token(self, token: str | None) -> Receiver | None:
        """The bridge whose token ``token`` is; every token is compared, each in constant time."""
        found = None
        for rc in self.by_bridge.values():
            if token_ok(token, rc.token):
                found = found or rc
        return found

    def elsewhere(self, rc: Receiver, kind: str, code: str | None) -> bool:
        """``code`` is not ``rc``'s order (or return) but another bridge's: the warehouse posted it
        with the wrong shop's token. Its callback is refused and stored nowhere else."""
        if not code or len(self.by_bridge) == 1 or rc.knows(kind, code):
            return False
        return any(other.knows(kind, code) for other in self.by_bridge.values() if other is not rc)

    @property
    def max_bytes(self) -> int:
        """The largest body any bridge takes (a body is checked again against its bridge's limit)."""
        return max(rc.max_bytes for rc in self.by_bridge.values())


def _qimen_customer_id(conn_id: str) -> str | None:
    """Our customerId as the warehouse connection knows it (extra ``customer_id``), if it exists."""
    try:
        from airflow.sdk import BaseHook

        extra = BaseHook.get_connection(conn_id).extra_dejson or {}
    except Exception:  # noqa: BLE001 - no such connection: the setting simply is not there
        return None
    value = extra.get("customer_id")
    return str(value) if value else None


def _store_engine(config: BridgeConfig, engines: dict[str, Engine]) -> Engine:
    """The bridge's store engine, one per connection id (bridges sharing a store share its pool)."""
    from wmsbridge.connections import engine_for_conn_id

    conn_id = config.store_conn_id or config.shop_conn_id
    if conn_id in engines:
        return engines[conn_id]
    key = "store_conn_id" if config.store_conn_id else "shop_conn_id"
    try:
        engines[conn_id] = engine_for_conn_id(conn_id)
    except Exception as err:  # AirflowNotFoundException, a bad URL ...
        raise ConfigError(f"{where(config, key)}: the store connection {conn_id!r} cannot be used: "
                          f"{type(err).__name__}: {err}") from err
    return engines[conn_id]


def _receiver(config: BridgeConfig, engines: dict[str, Engine]) -> Receiver:
    from wmsbridge.store.migrate import require_current

    try:
        allowed = networks(config.callback_allowed_ips)
    except ValueError as err:
        raise ConfigError(f"{where(config, str(err))}") from err
    engine = _store_engine(config, engines)
    require_current(engine)
    customer_id = config.callback_customer_id or _qimen_customer_id(config.qimen_conn_id)
    if customer_id is None:
        log.warning("bridge %s: no callback_customer_id (nor a customer_id on %s): callbacks' customerId is not "
                    "checked", config.bridge_id, config.qimen_conn_id)
    return Receiver(config=config, store=IntegrationStore(engine, bridge_id=config.bridge_id),
                    token=str(config.callback_token), customer_id=customer_id, allowed_networks=allowed)


def build_receiver(config: Deployment | BridgeConfig | None = None) -> Receivers:
    """The receiver's composition from the same settings as the DAGs: every enabled bridge with a
    ``callback_token``. ``ConfigError`` when it must not run (no bridge has a token, a store not at
    this code's revision, a bad allow-list), naming the bridge and key."""
    if isinstance(config, BridgeConfig):
        config = Deployment({config.bridge_id: config})
    deployment = config or load_deployment()
    bridges = [deployment.bridge(b) for b in deployment.enabled_ids()]
    listening = [b for b in bridges if b.callback_token]
    if not listening:
        raise ConfigError(
            f"{VARIABLE_KEY}.callback_token is not set: the receiver never runs open. Generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`, put it in the Variable "
            f"{VARIABLE_KEY} (or WMS_BRIDGE_CONFIG; with several bridges, in each bridge) and give the warehouse "
            "the URL .../wms/qimen/callback?token=<it> (docs/receiver.md)"
        )
    for skipped in (b for b in bridges if not b.callback_token):
        log.warning("bridge %s has no callback_token: its warehouse's callbacks are refused", skipped.bridge_id)
    engines: dict[str, Engine] = {}
    by_bridge = {b.bridge_id: _receiver(b, engines) for b in listening}
    first = next(iter(by_bridge.values()))
    return Receivers(by_bridge=by_bridge, unknown=ExchangeLog(first.store.engine, first.store.clock, NO_BRIDGE))
