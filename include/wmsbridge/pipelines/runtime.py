"""Everything one pipeline run works with, built from Airflow connections inside a task."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine

from wmsbridge.config import BridgeConfig, load_config
from wmsbridge.shop.profile import ShopProfile, load_profile
from wmsbridge.shop.reader import ShopReader
from wmsbridge.store.repo import IntegrationStore


@dataclass
class Bridge:
    config: BridgeConfig
    profile: ShopProfile
    shop: Engine
    store: IntegrationStore
    hook: object  # qimen_provider.hooks.qimen.QimenHook (kept untyped: no Airflow import here)
    run_id: str
    reader: ShopReader = field(init=False)

    def __post_init__(self) -> None:
        self.reader = ShopReader(self.profile)

    @classmethod
    def from_airflow(cls, run_id: str, config: BridgeConfig | None = None) -> "Bridge":
        """Connections and settings as Airflow knows them; the store schema upgraded if needed."""
        from qimen_provider.hooks.qimen import QimenHook

        from wmsbridge.connections import engine_for_conn_id
        from wmsbridge.store.migrate import upgrade

        config = config or load_config()
        shop = engine_for_conn_id(config.shop_conn_id)
        store_engine = engine_for_conn_id(config.store_conn_id) if config.store_conn_id else shop
        upgrade(store_engine)
        store = IntegrationStore(store_engine, stale_sending_after=timedelta(minutes=config.sending_stale_minutes))
        hook = QimenHook(qimen_conn_id=config.qimen_conn_id, pool_maxsize=max(8, config.push_concurrency))
        return cls(config=config, profile=load_profile(config.profile), shop=shop, store=store, hook=hook,
                   run_id=run_id)
