"""The deployment chaos runs against: one or more bridges, each a shop and a warehouse account (a
simulator of its own), one integration store for all of them and one receiver telling them apart by
token.

With two bridges or more the shops come from the same generator seed, so they share every order
and SKU code: what keeps them apart is the bridge id, never the code. Each bridge leaves a mark the
audit can follow across the deployment: its customerId (the simulator refuses any other), a
``sellerMessage`` on every order of its shop, a prefix on every tracking number its warehouse hands
out, and its own stock figures. One bridge (``--bridges 1``) is the flat ``wms_bridge_config`` of
old, bridge ``default``, with the store in the shop database.
"""

from __future__ import annotations

import json
import secrets
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from wmsbridge_tools import demo

STORE_CONN = "wms_store"
MAX_BRIDGES = 6


@dataclass
class Warehouse(demo.Simulator):
    """``make demo``'s simulator under a customerId of its own: one warehouse account per bridge."""

    customer_id: str = demo.CUSTOMER_ID

    def start(self) -> "Warehouse":
        self.launch([sys.executable, "-m", "wms_simulator", "--host", "127.0.0.1", "--port", "0",
                     "--secret", self.secret, "--customer-id", self.customer_id, "--warehouse-code",
                     demo.WAREHOUSE_CODE, "--owner-code", demo.OWNER_CODE, "--confirm-shape", "juxing"])
        match = self.wait_until(lambda: demo.READY.search(self.log_path.read_text(encoding="utf-8", errors="replace")))
        self.base_url = match.group(1)
        return self


@dataclass
class ChaosBridge:
    """One bridge of the chaos deployment: its ids and marks, its shop and warehouse, and what the
    phases did to it (for the audit)."""

    id: str
    index: int
    warehouse: Warehouse
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    shop_url: str = ""
    shop: sa.Engine | None = None
    paid: list[str] = field(default_factory=list)
    hostile: list = field(default_factory=list)
    refunds: dict[str, list[str]] = field(default_factory=dict)
    returned: list[str] = field(default_factory=list)
    shipped: list[str] = field(default_factory=list)

    @property
    def letter(self) -> str:
        return string.ascii_uppercase[self.index]

    @property
    def customer_id(self) -> str:
        return self.warehouse.customer_id

    @property
    def admin(self):
        return self.warehouse.admin

    @property
    def marker(self) -> str:
        """The sellerMessage of every order of this shop: an order at the wrong warehouse shows it."""
        return f"chaos bridge {self.id}"

    @property
    def tracking_prefix(self) -> str:
        """Every tracking number this bridge's warehouse hands out starts so: one in the other shop shows."""
        return f"CHX{self.letter}"

    def callback_url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/wms/qimen/callback?token={self.token}"

    def conn_id(self, kind: str) -> str:
        """This bridge's Airflow connection ids (``shop``, ``qimen``): the flat form keeps the demo's."""
        if self.id == "default":
            return {"shop": "shop_db", "qimen": "qimen_default"}[kind]
        return f"{self.id.replace('-', '_')}_{kind}"


def make_bridges(count: int, workdir: Path) -> list[ChaosBridge]:
    """``count`` bridges (``shop-a``, ``shop-b`` ...), each with its own simulator (not started yet)
    and customerId; one bridge is ``default`` under the demo's customerId."""
    if not 1 <= count <= MAX_BRIDGES:
        raise ValueError(f"--bridges: 1 to {MAX_BRIDGES}")
    if count == 1:
        return [ChaosBridge("default", 0, Warehouse(log_path=workdir / "simulator.log"))]
    out = []
    for index in range(count):
        letter = string.ascii_uppercase[index]
        out.append(ChaosBridge(f"shop-{letter.lower()}", index, Warehouse(
            log_path=workdir / f"simulator-{letter.lower()}.log", customer_id=f"{demo.CUSTOMER_ID}-{letter}")))
    return out


def mark_orders(engine, marker: str) -> None:
    """Sign every order of a shop (the generator leaves ``seller_message`` empty)."""
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE shop_order SET seller_message = :m"), {"m": marker})


def environment(bridges: list[ChaosBridge], store_url: str, receiver: demo.ReceiverProcess,
                settings: dict, qimen_extra: dict) -> dict[str, str]:
    """``make demo``'s environment for every bridge: per bridge a shop and a warehouse connection and
    its token and customerId; the store in its own connection; ``settings`` over the demo's shared
    ones, ``qimen_extra`` over its warehouse connection's extra."""
    first = bridges[0]
    env = demo.airflow_env(first.shop_url, first.warehouse, receiver)
    template = json.loads(env.pop("AIRFLOW_CONN_QIMEN_DEFAULT"))
    env.pop("AIRFLOW_CONN_SHOP_DB")
    shared = json.loads(env["WMS_BRIDGE_CONFIG"])
    shared.pop("callback_token", None)
    shared.pop("callback_customer_id", None)
    shared.update(settings, enabled_methods=[*shared.get("enabled_methods", []), *settings.get("enabled_methods", [])])
    own = {}
    for b in bridges:
        env[_conn_var(b.conn_id("shop"))] = _shop_conn(b.shop_url)
        env[_conn_var(b.conn_id("qimen"))] = json.dumps({
            **template, "host": b.warehouse.base_url, "password": b.warehouse.secret,
            "extra": {**template["extra"], **qimen_extra, "customer_id": b.customer_id}})
        own[b.id] = {"shop_conn_id": b.conn_id("shop"), "qimen_conn_id": b.conn_id("qimen"),
                     "callback_token": b.token, "callback_customer_id": b.customer_id}
    if len(bridges) == 1:  # the flat form: the store in the shop database, as before
        config = {**shared, **own[first.id]}
        del config["shop_conn_id"], config["qimen_conn_id"]
    else:
        env[_conn_var(STORE_CONN)] = _shop_conn(store_url)
        config = {**shared, "store_conn_id": STORE_CONN, "bridges": own}
    env["WMS_BRIDGE_CONFIG"] = json.dumps(config)
    return env


def _conn_var(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def _shop_conn(url: str) -> str:
    return json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": url}})


def warehouse_stock(bridge: ChaosBridge, store) -> list[dict]:
    """The goods this bridge's warehouse received (as ``demo.warehouse_stock``, from the store's
    synced items of this bridge): per SKU the shop's stock plus what its paid and refunding orders
    hold. Every 10th SKU (from the bridge's index on) is counted ``3 + index`` short, so the daily
    sync has something to write and no two warehouses hold the same figures."""
    from wmsbridge.store.schema import item_sync

    with store.connect() as conn:
        synced = set(conn.execute(sa.select(item_sync.c.item_code).where(
            item_sync.c.bridge_id == bridge.id, item_sync.c.state == "synced")).scalars())
    with bridge.shop.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT s.sku_code, COALESCE(st.quantity, 0) + COALESCE((SELECT SUM(l.quantity) FROM shop_order_line l"
            " JOIN shop_order o ON o.id = l.order_id WHERE l.sku_id = s.id AND o.status IN ('paid', 'refunding')), 0)"
            " FROM shop_sku s LEFT JOIN shop_stock st ON st.sku_id = s.id ORDER BY s.sku_code")).all()
    rows = [(code, qty) for code, qty in rows if code in synced]
    short = 3 + bridge.index
    return [{"itemCode": code, "quantity": max(int(qty) - (short if i % 10 == bridge.index % 10 else 0), 0)}
            for i, (code, qty) in enumerate(rows)]


class ThrowawayPostgres:
    """Fresh PostgreSQL databases for one chaos run (the shops and the store), dropped afterwards."""

    def __init__(self, admin_url: str) -> None:
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def create(self, name: str) -> str:
        self.names.append(name)
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'))
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()
