"""A migrated store on each backend and the receiver app over it, on a real socket."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from databases import BACKENDS, throwaway_database
from receivers import TOKEN, ThreadedReceiver

from wmsbridge.config import BridgeConfig
from wmsbridge.receiver.app import create_app
from wmsbridge.receiver.composition import build_receiver
from wmsbridge.store.engine import create_store_engine
from wmsbridge.store.migrate import upgrade
from wmsbridge.store.schema import exchange_log, shipment_inbox, shipment_package

CUSTOMER = "82073683308314625"


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path, monkeypatch):
    with throwaway_database(request.param, tmp_path, prefix="rcv") as url:
        engine = create_store_engine(url)
        upgrade(engine)
        engine.dispose()
        rendered = url.render_as_string(hide_password=False)
        monkeypatch.setenv("AIRFLOW_CONN_SHOP_DB", json.dumps(
            {"conn_type": "generic", "extra": {"sqlalchemy_url": rendered}}))
        yield rendered


@pytest.fixture
def receiver(store_url):
    """``receiver(**config)`` -> a started ThreadedReceiver built by the real composition."""
    started = []

    def start(**config):
        settings = BridgeConfig.from_mapping({"callback_token": TOKEN, "callback_customer_id": CUSTOMER, **config})
        running = ThreadedReceiver(create_app(receiver=build_receiver(settings))).__enter__()
        started.append(running)
        return running

    yield start
    for running in started:
        running.__exit__(None, None, None)


@pytest.fixture
def tables(store_url):
    """Read the store's inbox, packages and exchange log."""
    engine = create_store_engine(store_url)

    class Tables:
        def rows(self, table) -> list[dict]:
            with engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.id))]

        def inbox(self):
            return self.rows(shipment_inbox)

        def packages(self):
            return self.rows(shipment_package)

        def exchanges(self):
            return self.rows(exchange_log)

    yield Tables()
    engine.dispose()
