"""``make demo``: the whole mission on one machine, from nothing, in a few minutes: two shops, two
warehouse accounts, one deployment.

python -m wmsbridge_tools.demo [--orders 3000] [--seed 1] [--workdir .demo]

1. two bridges in one ``wms_bridge_config``: ``reference`` (a fresh SQLite shop of the reference
   profile, ``--orders`` orders) and ``litemall`` (a litemall-shaped SQLite shop from the same
   generator and seed, a third as many orders and SKUs: some order and SKU codes are the same in
   both shops), some orders bad on purpose; each bridge its own WMS simulator as a real subprocess
   (its own warehouse account: customer id, owner code and secret; confirmations shaped like
   Juxing's sample); both bridges' integration store in one SQLite database of its own
   (``store_conn_id``), migrated (``python -m wmsbridge.store upgrade``, the deploy step); one
   standalone receiver (``python -m wmsbridge.receiver``) for both, told apart by callback token;
2. ``airflow dags test wms_item_sync``; each warehouse receives its shop's goods (its stock seeded:
   the shop's stock plus what open orders hold, a few SKUs counted differently); ``wms_order_push``;
3. each warehouse ships most accepted orders and posts ``deliveryorder.confirm`` to the receiver
   with its bridge's token; ``wms_shipments`` writes the tracking numbers to each shop;
4. each shop refunds a few orders: unshipped ones, one never sent, and one already shipped (a
   refund after shipment, for a person); ``wms_order_cancel``;
5. each shop approves the return of the order refunded after shipment; ``wms_returns`` tells the
   warehouse, which receives the parcel; ``wms_returns`` again;
6. ``wms_inventory_sync``: the day's stock pulled and written back, guard rails checked;
7. a short report per bridge and stage, cross-checked against that bridge's simulator (admin API),
   its shop and its rows of the store (every store query filtered by ``bridge_id``).

Every DAG runs once per step and serves both bridges (one mapped task each), through ``airflow dags
test`` with the usual environment variables (``AIRFLOW_CONN_*``, ``WMS_BRIDGE_CONFIG``), its output
into ``<workdir>/airflow.log``. A run that fails because records wait for a person the demo put
there on purpose (the refunds after shipment) is reported as such; any other failure fails the demo.

Everything it starts is stopped again, also on failure. Every run starts clean: new shop and store
files and fresh simulators. The Airflow metadata DB (``$AIRFLOW_HOME``) is the project's own and
must exist (``make airflow-home``). ``airflow_env``, ``make_shop`` and the shop's acts with their
defaults are the one-bridge (``default``) forms ``make chaos`` builds on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from wmsbridge_tools import demo_report

PROFILE = "reference"
DEFAULT_BRIDGE = "default"  # the id of a flat (one-bridge) wms_bridge_config, as make chaos uses
# Codes of 5+ characters: Airflow warns about shorter connection-extra strings (docs/local-airflow.md).
WAREHOUSE_CODE, OWNER_CODE, CUSTOMER_ID, APP_KEY = "WH-HZ-01", "OWNER01", "DEMO-CUSTOMER", "demo-app"
# The shop's own sender (there is no default: the warehouse prints it on every waybill).
DEMO_SENDER = {"name": "演示商城发货组", "mobile": "13912345678", "province": "浙江省", "city": "杭州市",
               "area": "余杭区", "detail": "文一西路 998 号 演示仓"}
STORE_CONN_ID = "wms_store"  # the one store of every bridge, a database of its own
# standard Qimen returns, agreed with these (simulated) warehouses
RETURN_METHODS = ["returnorder.create", "returnorder.confirm"]
READY = re.compile(r"wms simulator ready: (\S+)")
LOG_TAIL = 60  # lines of airflow.log shown when a DAG run fails
SHIP_EVERY = 8  # a warehouse ships all accepted orders but every 8th (still being picked)
SHIP_CHUNK = 100  # orders per ship call (each posts its confirmations before answering)
REFUNDS_UNSHIPPED = 4
MAX_SHIPMENT_RUNS = 10


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and where its log is."""


@dataclass(frozen=True)
class BridgeSpec:
    """One bridge of the demo: a shop of its own profile and a warehouse account of its own."""

    bridge_id: str
    profile: str
    customer_id: str
    owner_code: str
    share: int = 1  # its shop has --orders / share orders and --skus / share SKUs


BRIDGES = (BridgeSpec("reference", "reference", CUSTOMER_ID, OWNER_CODE),
           BridgeSpec("litemall", "litemall", "DEMO-CUSTOMER-LM", "OWNER02", share=3))


# -- the shops -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopSql:
    """What the demo does in a shop as its own people and systems would, in that shop's tables."""

    refund: str         # the shop's refund: status refunded, change time :at, orders :codes
    stock: str          # (item code, units) per SKU: its stock plus what open orders hold
    zone: str           # the zone of the shop's naive timestamps
    return_prefix: str  # the shop's return numbers: this + the order code


SHOPS = {
    "reference": ShopSql(
        refund="UPDATE shop_order SET status = 'refunded', updated_at = :at WHERE order_no IN :codes",
        # paid and refunding orders hold units (the profile's held_stock): taken off the shop's
        # stock already, still on the warehouse's shelves
        stock="SELECT s.sku_code, COALESCE(st.quantity, 0) + COALESCE((SELECT SUM(l.quantity)"
              " FROM shop_order_line l JOIN shop_order o ON o.id = l.order_id"
              " WHERE l.sku_id = s.id AND o.status IN ('paid', 'refunding')), 0)"
              " FROM shop_sku s LEFT JOIN shop_stock st ON st.sku_id = s.id",
        zone="UTC", return_prefix="TH"),
    "litemall": ShopSql(
        # 203: refunded (test_cancels does the same); litemall holds units for 101, 201 and 202
        refund="UPDATE litemall_order SET order_status = 203, update_time = :at WHERE order_sn IN :codes",
        stock="SELECT g.goods_sn || '-' || p.id, p.number + COALESCE((SELECT SUM(og.number)"
              " FROM litemall_order_goods og JOIN litemall_order o ON o.id = og.order_id"
              " WHERE og.product_id = p.id AND o.order_status IN (101, 201, 202) AND o.deleted = :no"
              " AND og.deleted = :no), 0)"
              " FROM litemall_goods_product p JOIN litemall_goods g ON g.id = p.goods_id WHERE p.deleted = :no",
        zone="Asia/Shanghai", return_prefix="AS"),
}
RETURN_PREFIX = SHOPS[PROFILE].return_prefix  # the reference shop's return numbers: TH + the order number


def return_code(order_code: str, profile: str = PROFILE) -> str:
    return SHOPS[profile].return_prefix + order_code


def shop_now(profile: str) -> str:
    """Now as the shop writes its change times: naive, in its own zone."""
    return datetime.now(ZoneInfo(SHOPS[profile].zone)).strftime("%Y-%m-%d %H:%M:%S")


def make_shop(workdir: Path, *, orders: int, skus: int, seed: int, bad_share: float,
              url: str | None = None, profile: str = PROFILE, name: str = "shop",
              manifest_name: str = "manifest.json") -> tuple[str, dict]:
    """A new shop file ``<name>.sqlite`` (any previous one and its store are deleted), or a shop in
    the given empty database ``url``, and the generator's manifest (also in ``manifest_name``)."""
    from wmsbridge_tools.synthetic.generator import generate

    if url is None:
        url = fresh_sqlite(workdir, name)
    engine = sa.create_engine(url)
    try:
        manifest = generate(engine, profile, orders=orders, skus=skus, seed=seed, bad_share=bad_share)
    finally:
        engine.dispose()
    (workdir / manifest_name).write_text(manifest.to_json(), encoding="utf-8")
    return url, asdict(manifest)


def fresh_sqlite(workdir: Path, name: str) -> str:
    """The URL of ``<name>.sqlite``, deleted first with its -wal/-shm companions: every run starts clean."""
    for stale in workdir.glob(f"{name}.sqlite*"):
        stale.unlink()
    return f"sqlite:///{workdir / f'{name}.sqlite'}"


def refund(engine, codes: list[str], profile: str = PROFILE) -> None:
    """What the shop's own refund does to its order rows: status refunded, change time now (naive,
    in the profile's zone)."""
    if not codes:
        return
    stmt = sa.text(SHOPS[profile].refund).bindparams(sa.bindparam("codes", expanding=True))
    with engine.begin() as conn:
        if conn.execute(stmt, {"at": shop_now(profile), "codes": codes}).rowcount != len(codes):
            raise DemoError(f"refunding {codes} in the shop changed another number of rows")


def approve_returns(engine, codes: list[str], profile: str = PROFILE) -> None:
    """What the shop's admin does when it approves a return of goods of the orders ``codes``; the
    return's number is ``return_code(code, profile)``."""
    approve = {"reference": _approve_reference, "litemall": _approve_litemall}[profile]
    with engine.begin() as conn:
        for n, code in enumerate(codes, start=1):
            approve(conn, code, return_code(code, profile), n, shop_now(profile))


def _approve_reference(conn, code: str, number: str, n: int, now: str) -> None:
    """A ``shop_return`` (status approved, the buyer's parcel by SF) with the order's lines."""
    order_id = conn.execute(sa.text("SELECT id FROM shop_order WHERE order_no = :c"), {"c": code}).scalar_one()
    conn.execute(sa.text(
        "INSERT INTO shop_return (return_no, order_id, status, reason, carrier_code, express_no, created_at,"
        " updated_at) VALUES (:r, :o, 'approved', '质量问题 quality', 'SF', :x, :t, :t)"),
        {"r": number, "o": order_id, "x": f"SF{9_000_000_000 + n}", "t": now})
    return_id = conn.execute(sa.text("SELECT id FROM shop_return WHERE return_no = :r"), {"r": number}).scalar_one()
    conn.execute(sa.text(
        "INSERT INTO shop_return_line (return_id, sku_id, sku_code, quantity) SELECT :r, sku_id, sku_code,"
        " quantity FROM shop_order_line WHERE order_id = :o"), {"r": return_id, "o": order_id})


def _approve_litemall(conn, code: str, number: str, n: int, now: str) -> None:
    """The buyer's after-sale 退货退款 (type 2) approved by the admin (status 2), the order mirroring
    it; litemall takes back the whole order and keeps no parcel number (tests/pipelines/test_returns.py)."""
    order_id, user_id, amount = conn.execute(sa.text(
        "SELECT id, user_id, actual_price FROM litemall_order WHERE order_sn = :c"), {"c": code}).one()
    conn.execute(sa.text(
        "INSERT INTO litemall_aftersale (aftersale_sn, order_id, user_id, type, reason, amount, pictures, comment,"
        " status, handle_time, add_time, update_time, deleted) VALUES (:r, :o, :u, 2, '质量问题', :a, '[]', '', 2,"
        " :t, :t, :t, :no)"), {"r": number, "o": order_id, "u": user_id, "a": amount, "t": now, "no": False})
    conn.execute(sa.text("UPDATE litemall_order SET aftersale_status = 2 WHERE id = :o"), {"o": order_id})


def warehouse_stock(shop, store=None, *, bridge_id: str = DEFAULT_BRIDGE, profile: str = PROFILE) -> list[dict]:
    """The goods the warehouse received: per SKU the bridge synchronized (read from ``store``, the
    shop's database when None), the shop's stock plus what its open orders hold (the shop took
    those off already, the profile's held_stock; they are still on the warehouse's shelves).
    Every 10th SKU counted 3 short at the stocktake, so the daily sync has something to write."""
    from wmsbridge.store.schema import item_sync

    with (store or shop).connect() as conn:
        synced = set(conn.execute(sa.select(item_sync.c.item_code).where(
            item_sync.c.bridge_id == bridge_id, item_sync.c.state == "synced")).scalars())
    with shop.connect() as conn:
        units = {code: int(qty) for code, qty in conn.execute(sa.text(SHOPS[profile].stock), {"no": False}).all()
                 if code in synced}
    return [{"itemCode": code, "quantity": max(units[code] - (3 if i % 10 == 0 else 0), 0)}
            for i, code in enumerate(sorted(units))]


def order_codes(store, bridge_id: str, state: str) -> list[str]:
    from wmsbridge.store.schema import order_sync

    c = order_sync.c
    with store.connect() as conn:
        return list(conn.execute(sa.select(c.delivery_order_code).where(c.bridge_id == bridge_id, c.state == state)
                                 .order_by(c.delivery_order_code)).scalars())


# -- the simulators and the receiver ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    """A server in its own process (session); stdout and stderr go to a file rather than a pipe,
    which nobody would drain and which would block the server once full."""

    log_path: Path
    name: str = "server"
    process: subprocess.Popen | None = None

    def launch(self, cmd: list[str], env: dict | None = None) -> None:
        with self.log_path.open("w", encoding="utf-8") as log:
            self.process = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def wait_until(self, ready, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = ready()
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise DemoError(f"the {self.name} did not start; see {self.log_path}:\n{tail(self.log_path, 20)}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Simulator(Service):
    """One warehouse account: the simulator checks the customer id and signs with its own secret."""

    name: str = "simulator"
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    customer_id: str = CUSTOMER_ID
    owner_code: str = OWNER_CODE
    base_url: str = ""

    def start(self) -> "Simulator":
        self.launch([sys.executable, "-m", "wms_simulator", "--host", "127.0.0.1", "--port", "0",
                     "--secret", self.secret, "--customer-id", self.customer_id, "--warehouse-code", WAREHOUSE_CODE,
                     "--owner-code", self.owner_code, "--confirm-shape", "juxing"])
        # port 0: the ready line names the port it got
        match = self.wait_until(lambda: READY.search(self.log_path.read_text(encoding="utf-8", errors="replace")))
        self.base_url = match.group(1)
        return self

    @property
    def admin(self):
        from wms_simulator import SimulatorAdmin

        return SimulatorAdmin(self.base_url, timeout=300)


@dataclass
class ReceiverProcess(Service):
    """``python -m wmsbridge.receiver``: the standalone receiver, as a deployment that keeps Airflow
    private runs it; one for every bridge. Tokens are in the bridge settings, never on its command line."""

    name: str = "receiver"
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # the one-bridge form's token
    port: int = field(default_factory=free_port)

    @property
    def callback_url(self) -> str:
        return self.callback_url_for(self.token)

    def callback_url_for(self, token: str) -> str:
        """The address a bridge's warehouse posts to: the token says which bridge it is."""
        return f"http://127.0.0.1:{self.port}/wms/qimen/callback?token={token}"

    def start(self, env: dict[str, str]) -> "ReceiverProcess":
        self.launch([sys.executable, "-m", "wmsbridge.receiver", "--host", "127.0.0.1", "--port", str(self.port)],
                    env)
        self.wait_until(self.healthy)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/wms/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False


@dataclass
class BridgeRun:
    """One bridge while the demo runs: its shop, its warehouse, its callback token, its report."""

    spec: BridgeSpec
    sim: Simulator
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    shop_url: str = ""
    manifest: dict = field(default_factory=dict)
    shop: sa.Engine | None = None
    admin: object = None
    report: demo_report.DemoReport | None = None
    person_needed: list[str] = field(default_factory=list)  # expected DAG failures, said plainly

    @property
    def id(self) -> str:
        return self.spec.bridge_id

    @property
    def profile(self) -> str:
        return self.spec.profile


def bridge_runs(workdir: Path) -> list[BridgeRun]:
    return [BridgeRun(spec, Simulator(log_path=workdir / f"simulator-{spec.bridge_id}.log",
                                      name=f"simulator of {spec.bridge_id}", customer_id=spec.customer_id,
                                      owner_code=spec.owner_code)) for spec in BRIDGES]


# -- Airflow ---------------------------------------------------------------------------------------


def database_conn(url: str) -> str:
    return json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": url}})


def qimen_conn(sim: Simulator) -> str:
    """A warehouse account's connection: the simulator's address, its secret and codes."""
    return json.dumps({
        "conn_type": "qimen", "host": sim.base_url, "login": APP_KEY, "password": sim.secret,
        # 0 = no client-side rate limit: the local simulator needs none, and the default (Juxing's
        # 5 requests/s) would stretch the demo to minutes. A real warehouse connection keeps it.
        "extra": {"customer_id": sim.customer_id, "owner_code": sim.owner_code, "warehouse_code": WAREHOUSE_CODE,
                  "max_requests_per_second": 0},
    })


def airflow_env(shop_url: str, sim: Simulator, receiver: ReceiverProcess) -> dict[str, str]:
    """One bridge (``default``, the flat settings), its store in the shop database: two
    connections, the bridge settings, short retries. ``make chaos`` runs on it."""
    env = dict(os.environ)
    env["AIRFLOW_CONN_SHOP_DB"] = database_conn(shop_url)
    env["AIRFLOW_CONN_QIMEN_DEFAULT"] = qimen_conn(sim)
    env["WMS_BRIDGE_CONFIG"] = json.dumps({
        "profile": PROFILE, "default_logistics_code": "YTO", "sender": DEMO_SENDER,
        "callback_token": receiver.token, "callback_customer_id": sim.customer_id,
        "enabled_methods": RETURN_METHODS,
    })
    env["WMS_RETRY_DELAY_SECONDS"] = "1"
    return env


def deployment_env(runs: list[BridgeRun], store_url: str) -> dict[str, str]:
    """The environment a deployment of several bridges would set: per bridge a shop and a warehouse
    connection, one store connection, ``bridges`` over shared defaults, short retries."""
    env = dict(os.environ)
    env[f"AIRFLOW_CONN_{STORE_CONN_ID.upper()}"] = database_conn(store_url)
    bridges = {}
    for run in runs:
        shop_conn, qimen = f"shop_{run.id}", f"qimen_{run.id}"
        env[f"AIRFLOW_CONN_{shop_conn.upper()}"] = database_conn(run.shop_url)
        env[f"AIRFLOW_CONN_{qimen.upper()}"] = qimen_conn(run.sim)
        bridges[run.id] = {"profile": run.profile, "shop_conn_id": shop_conn, "qimen_conn_id": qimen,
                           "callback_token": run.token, "callback_customer_id": run.sim.customer_id}
    env["WMS_BRIDGE_CONFIG"] = json.dumps({
        "default_logistics_code": "YTO", "sender": DEMO_SENDER, "store_conn_id": STORE_CONN_ID,
        "enabled_methods": RETURN_METHODS, "bridges": bridges,
    })
    env["WMS_RETRY_DELAY_SECONDS"] = "1"
    return env


def migrate_store(env: dict[str, str], log_path: Path) -> None:
    """``python -m wmsbridge.store upgrade`` for every configured store (bridges sharing one migrate
    it once), as ``make migrate``."""
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("\n===== python -m wmsbridge.store upgrade =====\n")
        log.flush()
        done = subprocess.run([sys.executable, "-m", "wmsbridge.store", "upgrade"], env=env,
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, timeout=120)
    if done.returncode != 0:
        raise DemoError(f"migrating the store failed (exit {done.returncode})")


def run_dag(dag_id: str, env: dict[str, str], log_path: Path, timeout: float) -> bool:
    """``airflow dags test <dag_id>``: one real DAG run (tasks in process, recorded in the metadata
    DB). True when it succeeded; the CLI exits non-zero when the run failed. Its whole output goes
    to ``log_path``."""
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"\n===== airflow dags test {dag_id} =====\n")
        log.flush()
        try:
            done = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", dag_id], env=env,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DemoError(f"{dag_id} did not finish within {timeout:.0f} s") from None
    return done.returncode == 0


def tail(path: Path, lines: int = LOG_TAIL) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


# -- the driver ------------------------------------------------------------------------------------


class Mission:
    """The stages, each DAG run once for every bridge, then each bridge's report."""

    def __init__(self, args, workdir: Path, runs: list[BridgeRun], receiver: ReceiverProcess, step) -> None:
        self.args, self.workdir, self.runs, self.receiver, self.step = args, workdir, runs, receiver, step
        self.airflow_log = workdir / "airflow.log"
        self.env: dict[str, str] = {}
        self.store: sa.Engine | None = None

    def dag(self, dag_id: str, explain=None) -> None:
        """Run ``dag_id`` (it serves every bridge); a failure is accepted only when ``explain(run)``
        names, for at least one bridge, the records the demo made wait for a person on purpose (each
        bridge's report says so). Any other damage to a bridge shows in its cross-checks."""
        self.step(f"airflow dags test {dag_id}")
        if run_dag(dag_id, self.env, self.airflow_log, self.args.dag_timeout):
            return
        explained = {run.id: text for run in self.runs if explain and (text := explain(run))}
        if not explained:
            raise DemoError(f"{dag_id} failed")
        for run in self.runs:
            if run.id in explained:
                run.person_needed.append(f"{dag_id} failed as it must: {explained[run.id]}")

    def set_up(self) -> None:
        """The shops, the warehouses, the store (migrated) and the receiver."""
        args, workdir = self.args, self.workdir
        for run in self.runs:
            orders, skus = max(1, args.orders // run.spec.share), max(1, args.skus // run.spec.share)
            name = f"shop-{run.id}"
            self.step(f"shop {run.id}: {run.profile} profile, {orders} orders, {skus} SKUs (seed {args.seed})"
                      f" -> {workdir / f'{name}.sqlite'}")
            run.shop_url, run.manifest = make_shop(workdir, orders=orders, skus=skus, seed=args.seed,
                                                   bad_share=args.bad_share, profile=run.profile, name=name,
                                                   manifest_name=f"manifest-{run.id}.json")
            run.admin = run.sim.start().admin
            run.shop = sa.create_engine(run.shop_url)
            self.step(f"warehouse of {run.id}: simulator {run.sim.base_url}, account {run.sim.customer_id}"
                      f" (log {run.sim.log_path})")
        store_url = fresh_sqlite(workdir, "store")
        self.env = deployment_env(self.runs, store_url)
        self.step(f"store of both bridges -> {workdir / 'store.sqlite'}: python -m wmsbridge.store upgrade"
                  " (the deploy step: tasks only check the store's revision)")
        migrate_store(self.env, self.airflow_log)
        self.store = sa.create_engine(store_url)
        self.receiver.start(self.env)
        self.step(f"receiver: http://127.0.0.1:{self.receiver.port}/wms/qimen/callback?token=*** for"
                  f" {', '.join(run.id for run in self.runs)} (log {self.receiver.log_path})")

    def push(self) -> None:
        """Items, the goods arriving at each warehouse, orders."""
        self.dag("wms_item_sync")
        for run in self.runs:
            run.admin.seed_stock(warehouse_stock(run.shop, self.store, bridge_id=run.id, profile=run.profile))
        self.dag("wms_order_push", lambda run: push_needs_person(self.store, run.id))
        with self.store.connect() as store:
            for run in self.runs:
                run.report = demo_report.push_stage(store, run.id, run.profile, run.sim.customer_id, run.manifest,
                                                    run.admin)
                run.report.person_needed = run.person_needed  # filled on as the stages run

    def ship(self) -> dict[str, tuple[list[str], list[str]]]:
        """Each warehouse ships most accepted orders, posting confirmations with its bridge's token."""
        shipped, deliveries = {}, {}
        for run in self.runs:
            accepted = order_codes(self.store, run.id, "sent")
            to_ship = [c for i, c in enumerate(accepted) if i % SHIP_EVERY != SHIP_EVERY - 1]
            self.step(f"warehouse of {run.id} ships {len(to_ship)} of {len(accepted)} accepted orders, posts"
                      " Juxing-shaped deliveryorder.confirm to the receiver")
            url = self.receiver.callback_url_for(run.token)
            deliveries[run.id] = [d for i in range(0, len(to_ship), SHIP_CHUNK) for d in run.admin.ship(
                to_ship[i:i + SHIP_CHUNK], callback_url=url, shape="juxing")["deliveries"]]
            shipped[run.id] = (accepted, to_ship)
        runs = 0  # one run applies at most a batch (500) per bridge: run it again as its schedule would
        while runs < MAX_SHIPMENT_RUNS and (runs == 0 or inbox_due(self.store)):
            self.dag("wms_shipments")
            runs += 1
        with self.store.connect() as store:
            for run in self.runs:
                with run.shop.connect() as shop:
                    demo_report.shipment_stage(store, shop, run.report, shipped[run.id][1], deliveries[run.id],
                                               run.admin)
                run.report.shipments["runs"] = runs
        return shipped

    def cancel(self, shipped: dict[str, tuple[list[str], list[str]]]) -> dict[str, dict[str, list[str]]]:
        """Refunds in each shop: unshipped orders, one never sent, one already shipped."""
        refunds = {}
        for run in self.runs:
            accepted, to_ship = shipped[run.id]
            unshipped = [c for c in accepted if c not in set(to_ship)]
            refunds[run.id] = {"unshipped": unshipped[:REFUNDS_UNSHIPPED], "shipped": to_ship[:1],
                               "never_sent": order_codes(self.store, run.id, "rejected")[:1]}
            codes = [c for group in refunds[run.id].values() for c in group]
            self.step(f"shop {run.id} refunds {len(codes)} orders (one already shipped)")
            refund(run.shop, codes, run.profile)
        self.dag("wms_order_cancel", lambda run: refund_after_shipment(self.store, run.id, refunds[run.id]["shipped"]))
        with self.store.connect() as store:
            for run in self.runs:
                demo_report.cancel_stage(store, run.report, refunds[run.id], run.admin)
        return refunds

    def returns(self, refunds: dict[str, dict[str, list[str]]]) -> None:
        """The orders refunded after shipment come back: each shop approves the return, its warehouse
        is told (returnorder.create), receives the parcel (returnorder.confirm) and the refund waits
        for a person to pay it."""
        for run in self.runs:
            returned = refunds[run.id]["shipped"]
            self.step(f"shop {run.id} approves the return of {', '.join(returned)}")
            approve_returns(run.shop, returned, run.profile)
        self.dag("wms_returns")
        for run in self.runs:
            for code in refunds[run.id]["shipped"]:
                run.admin.receive_return(return_code(code, run.profile),
                                         callback_url=self.receiver.callback_url_for(run.token))
        self.step("each warehouse received its return's parcel, posted returnorder.confirm")
        self.dag("wms_returns")
        with self.store.connect() as store:
            for run in self.runs:
                codes = [return_code(c, run.profile) for c in refunds[run.id]["shipped"]]
                with run.shop.connect() as shop:
                    demo_report.returns_stage(store, shop, run.report, codes, run.admin)

    def inventory(self) -> None:
        """The day's stock; then every exchange and what the shops share."""
        self.dag("wms_inventory_sync")
        with self.store.connect() as store:
            for run in self.runs:
                with run.shop.connect() as shop:
                    demo_report.inventory_stage(store, shop, run.report, run.admin)
                demo_report.exchange_stage(store, run.report, run.admin)

    def report(self) -> demo_report.DeploymentReport:
        with self.store.connect() as store:
            shared = demo_report.shared_codes(store, {run.id: run.admin for run in self.runs})
        return demo_report.DeploymentReport({run.id: run.report for run in self.runs}, shared)

    def run(self) -> demo_report.DeploymentReport:
        try:
            self.set_up()
            self.push()
            refunds = self.cancel(self.ship())
            self.returns(refunds)
            self.inventory()
            return self.report()
        finally:
            for engine in [self.store, *(run.shop for run in self.runs)]:
                if engine is not None:
                    engine.dispose()


def inbox_due(store) -> int:
    """Confirmations stored but not applied yet, of any bridge (what the next wms_shipments run takes)."""
    from wmsbridge.store.schema import shipment_inbox

    with store.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(shipment_inbox.c.state == "received")).scalar_one()


def push_needs_person(store, bridge_id: str) -> str | None:
    """Orders the warehouse refused for good or holds in another version: a person must look."""
    from wmsbridge.store.schema import order_sync

    c = order_sync.c
    with store.connect() as conn:
        codes = list(conn.execute(sa.select(c.delivery_order_code).where(c.bridge_id == bridge_id, (
            c.state == "exists_different") | ((c.state == "failed") & (c.last_error_retryable == sa.false()))
        )).scalars())
    return f"a person is needed for {len(codes)} orders the warehouse refused ({', '.join(codes[:3])})" if codes else None


def refund_after_shipment(store, bridge_id: str, shipped_refunds: list[str]) -> str | None:
    """wms_order_cancel fails when a refund came after shipment: expected for exactly those the demo made."""
    from wmsbridge.store.orders import REFUND_AFTER_SHIPMENT, REFUND_AFTER_SHIPMENT_ACTION
    from wmsbridge.store.schema import order_sync

    c = order_sync.c
    with store.connect() as conn:
        waiting = sorted(conn.execute(sa.select(c.delivery_order_code).where(
            c.bridge_id == bridge_id, c.state == "cancel_failed", c.last_error_code == REFUND_AFTER_SHIPMENT
        )).scalars())
        stuck = conn.execute(sa.select(sa.func.count()).where(
            c.bridge_id == bridge_id, c.state == "cancel_requested")).scalar_one()
    if not waiting or waiting != sorted(shipped_refunds) or stuck:
        return None
    return f"{', '.join(waiting)} was refunded after shipment ({REFUND_AFTER_SHIPMENT_ACTION})"


def run(args: argparse.Namespace) -> int:
    if not os.environ.get("AIRFLOW_HOME"):
        print("AIRFLOW_HOME is not set: run `make demo`, or `source ./env.sh` first", file=sys.stderr)
        return 2
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    airflow_log = workdir / "airflow.log"
    airflow_log.write_text("", encoding="utf-8")
    started = time.monotonic()
    runs = bridge_runs(workdir)
    receiver = ReceiverProcess(log_path=workdir / "receiver.log")

    def step(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    try:
        report = Mission(args, workdir, runs, receiver, step).run()
    except DemoError as exc:
        print(f"demo FAILED: {exc}\n--- last lines of {airflow_log} ---\n{tail(airflow_log)}", file=sys.stderr)
        return 1
    finally:
        receiver.stop()
        for bridge in runs:
            bridge.sim.stop()
    (workdir / "report.json").write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str),
                                         encoding="utf-8")
    step("done\n")
    print("\n".join(report.lines()))
    return 0 if not report.problems else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wmsbridge_tools.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000,
                        help="orders in the reference shop (default 3000; the litemall shop gets a third)")
    parser.add_argument("--skus", type=int, default=300,
                        help="SKUs in the reference shop (default 300; the litemall shop gets a third)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed of both shops (default 1)")
    parser.add_argument("--bad-share", type=float, default=0.05, help="share of bad orders (default 0.05)")
    parser.add_argument("--workdir", default=".demo", help="where the shops, store, logs and report go (git-ignored)")
    parser.add_argument("--dag-timeout", type=float, default=300, help="seconds one DAG run may take")
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
