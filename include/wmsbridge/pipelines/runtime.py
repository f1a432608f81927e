"""Everything one pipeline run works with, built from Airflow connections inside a task."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine

from qimen.client import QimenClient
from wmsbridge.config import BridgeConfig, load_config, where
from wmsbridge.errors import ConfigError
from wmsbridge.shop.profile import ShopProfile, load_profile
from wmsbridge.shop.reader import ShopReader
from wmsbridge.store import IntegrationStore


def _check_connection(hook, named: str) -> None:
    """Read the connection now: an unusable or missing one (no customerId, a bad URL) is a
    ConfigError naming the bridge's key before anything is sent, not a failure mid-run."""
    from airflow.sdk.exceptions import AirflowNotFoundException
    from qimen_provider.connection import QimenConnectionError

    try:
        hook.settings
    except (QimenConnectionError, AirflowNotFoundException) as err:
        raise ConfigError(f"{named}: {err}") from err


def _engine(config: BridgeConfig, key: str) -> Engine:
    """The engine of the connection ``key`` names; a missing connection is a ConfigError naming the
    bridge and key (retrying cannot create it)."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from wmsbridge.connections import engine_for_conn_id

    conn_id = getattr(config, key)
    try:
        return engine_for_conn_id(conn_id)
    except AirflowNotFoundException as err:
        raise ConfigError(f"{where(config, key)}: connection {conn_id!r} does not exist") from err


@dataclass
class Bridge:
    config: BridgeConfig
    profile: ShopProfile
    shop: Engine
    store: IntegrationStore
    hook: QimenClient  # the warehouse account (qimen_provider's QimenHook in production)
    run_id: str
    method_hooks: dict[str, QimenClient] = field(default_factory=dict)  # a method with its own address
    reader: ShopReader = field(init=False)

    def __post_init__(self) -> None:
        self.reader = ShopReader(self.profile)

    @property
    def lease(self) -> timedelta:
        """How long a run may hold work without a sign of life (``sending_lease_seconds``): a stock
        change left ``applying`` longer than this was left by a run that died."""
        return timedelta(seconds=self.config.sending_lease_seconds)

    def hook_for(self, method: str) -> QimenClient:
        """The hook that carries ``method``: its own connection if configured, else the default."""
        return self.method_hooks.get(method, self.hook)

    @classmethod
    def from_airflow(cls, run_id: str, config: BridgeConfig | None = None) -> Bridge:
        """Connections and settings as Airflow knows them. The store must already be at this code's
        revision (``make migrate`` / ``python -m wmsbridge.store upgrade``): tasks never run DDL."""
        from qimen.transport import normalize_method
        from qimen_provider.hooks.qimen import QimenHook

        from wmsbridge.store.migrate import require_current

        config = config or load_config()
        shop = _engine(config, "shop_conn_id")
        store_engine = _engine(config, "store_conn_id") if config.store_conn_id else shop
        require_current(store_engine)
        store = IntegrationStore(
            store_engine,
            bridge_id=config.bridge_id,
            stale_sending_after=timedelta(minutes=config.sending_stale_minutes),
            lease=timedelta(seconds=config.sending_lease_seconds),
            retry_backoff=timedelta(seconds=config.retry_backoff_seconds),
            retry_backoff_max=timedelta(seconds=config.retry_backoff_max_seconds),
        )
        pool = max(8, config.push_concurrency)
        rules = config.rules()
        hooks = {conn_id: QimenHook(qimen_conn_id=conn_id, pool_maxsize=pool, answer_rules=rules)
                 for conn_id in {config.qimen_conn_id, *config.qimen_method_conn_ids.values()}}
        for conn_id, hook in hooks.items():
            key = "qimen_conn_id" if conn_id == config.qimen_conn_id else "qimen_method_conn_ids"
            _check_connection(hook, where(config, key))
        return cls(config=config, profile=load_profile(config.profile), shop=shop, store=store,
                   hook=hooks[config.qimen_conn_id], run_id=run_id,
                   method_hooks={normalize_method(m): hooks[c] for m, c in config.qimen_method_conn_ids.items()})
