"""What the receiver runs with: the bridge settings, the store, nothing else.

No warehouse hook and no migrations (the task's ``Bridge`` builds both): the receiver only checks
callbacks, stores them and answers. It refuses to be built without a token or with a store that
is not at this code's revision, saying what to run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from wmsbridge.config import VARIABLE_KEY, BridgeConfig, load_config
from wmsbridge.errors import ConfigError
from wmsbridge.store import IntegrationStore
from wmsbridge.store.confirmations import ConfirmationInbox
from wmsbridge.store.reports import WarehouseReports

from .auth import networks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receiver:
    config: BridgeConfig
    inbox: ConfirmationInbox
    reports: WarehouseReports
    token: str
    customer_id: str | None  # None: a callback's customerId is not checked
    allowed_networks: tuple

    @property
    def max_bytes(self) -> int:
        return self.config.callback_max_bytes

    @property
    def verify_sign(self) -> bool:
        return bool(self.config.callback_verify_sign and self.config.callback_secret)


def _qimen_customer_id(conn_id: str) -> str | None:
    """Our customerId as the warehouse connection knows it (extra ``customer_id``), if it exists."""
    try:
        from airflow.sdk import BaseHook

        extra = BaseHook.get_connection(conn_id).extra_dejson or {}
    except Exception:  # noqa: BLE001 - no such connection: the setting simply is not there
        return None
    value = extra.get("customer_id")
    return str(value) if value else None


def _store_engine(config: BridgeConfig):
    from wmsbridge.connections import engine_for_conn_id

    conn_id = config.store_conn_id or config.shop_conn_id
    try:
        return engine_for_conn_id(conn_id)
    except ConfigError:
        raise
    except Exception as err:  # AirflowNotFoundException, a bad URL ...
        raise ConfigError(f"the store connection {conn_id!r} cannot be used: {type(err).__name__}: {err}") from err


def build_receiver(config: BridgeConfig | None = None) -> Receiver:
    """The receiver's composition from the same settings as the DAGs; ``ConfigError`` when it
    must not run (no token, a store not at this code's revision, a bad allow-list)."""
    from wmsbridge.store.migrate import require_current

    config = config or load_config()
    if not config.callback_token:
        raise ConfigError(
            f"{VARIABLE_KEY}.callback_token is not set: the receiver never runs open. Generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`, put it in the Variable "
            f"{VARIABLE_KEY} (or WMS_BRIDGE_CONFIG) and give the warehouse the URL "
            ".../wms/qimen/callback?token=<it> (docs/receiver.md)"
        )
    try:
        allowed = networks(config.callback_allowed_ips)
    except ValueError as err:
        raise ConfigError(f"{VARIABLE_KEY}.{err}") from err
    engine = _store_engine(config)
    require_current(engine)
    customer_id = config.callback_customer_id or _qimen_customer_id(config.qimen_conn_id)
    if customer_id is None:
        log.warning("no callback_customer_id (nor a customer_id on %s): callbacks' customerId is not checked",
                    config.qimen_conn_id)
    store = IntegrationStore(engine)
    return Receiver(config=config, inbox=store.confirmations, reports=store.reports, token=str(config.callback_token),
                    customer_id=customer_id, allowed_networks=allowed)
