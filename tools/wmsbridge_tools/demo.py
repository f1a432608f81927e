"""``make demo``: the whole mission on one machine, from nothing, in a few minutes.

python -m wmsbridge_tools.demo [--orders 3000] [--seed 1] [--workdir .demo]

1. a fresh SQLite shop (reference profile) filled by the generator, some orders bad on purpose;
   the WMS simulator as a real subprocess (confirmations shaped like Juxing's sample), the store
   migrated (``python -m wmsbridge.store upgrade``, the deploy step) and the standalone receiver
   (``python -m wmsbridge.receiver``) as a real subprocess with a callback token;
2. ``airflow dags test wms_item_sync``; the warehouse receives the goods (its stock seeded: the
   shop's stock plus what paid orders hold, a few SKUs counted differently); ``wms_order_push``;
3. the warehouse ships most accepted orders and posts ``deliveryorder.confirm`` to the receiver
   over HTTP; ``wms_shipments`` writes the tracking numbers to the shop;
4. the shop refunds a few orders: unshipped ones, one never sent, and one already shipped (a
   refund after shipment, for a person); ``wms_order_cancel``;
5. ``wms_inventory_sync``: the day's stock pulled and written back, guard rails checked;
6. a short report per stage, cross-checked against the simulator's admin API and the store.

The DAGs run through ``airflow dags test`` with the usual environment variables
(AIRFLOW_CONN_SHOP_DB, AIRFLOW_CONN_QIMEN_DEFAULT, WMS_BRIDGE_CONFIG), their output into
``<workdir>/airflow.log``. A run that fails because records wait for a person the demo put there on
purpose (the refund after shipment) is reported as such; any other failure fails the demo.

Everything it starts is stopped again, also on failure. Every run starts clean: a new shop file
(hence a new integration store) and a fresh simulator. The Airflow metadata DB (``$AIRFLOW_HOME``)
is the project's own and must exist (``make airflow-home``).
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
from pathlib import Path

import sqlalchemy as sa

from wmsbridge_tools import demo_report

PROFILE = "reference"
# Codes of 5+ characters: Airflow warns about shorter connection-extra strings (docs/local-airflow.md).
WAREHOUSE_CODE, OWNER_CODE, CUSTOMER_ID, APP_KEY = "WH-HZ-01", "OWNER01", "DEMO-CUSTOMER", "demo-app"
# The shop's own sender (there is no default: the warehouse prints it on every waybill).
DEMO_SENDER = {"name": "演示商城发货组", "mobile": "13912345678", "province": "浙江省", "city": "杭州市",
               "area": "余杭区", "detail": "文一西路 998 号 演示仓"}
READY = re.compile(r"wms simulator ready: (\S+)")
LOG_TAIL = 60  # lines of airflow.log shown when a DAG run fails
SHIP_EVERY = 8  # the warehouse ships all accepted orders but every 8th (still being picked)
SHIP_CHUNK = 100  # orders per ship call (each posts its confirmations before answering)
REFUNDS_UNSHIPPED = 4
MAX_SHIPMENT_RUNS = 10


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and where its log is."""


# -- the shop --------------------------------------------------------------------------------------


def make_shop(workdir: Path, *, orders: int, skus: int, seed: int, bad_share: float,
              url: str | None = None) -> tuple[str, dict]:
    """A new shop file (any previous one and its store are deleted), or a shop in the given empty
    database ``url``, and the generator's manifest."""
    from wmsbridge_tools.synthetic.generator import generate

    if url is None:
        for stale in workdir.glob("shop.sqlite*"):  # the file and its -wal/-shm companions
            stale.unlink()
        url = f"sqlite:///{workdir / 'shop.sqlite'}"
    engine = sa.create_engine(url)
    try:
        manifest = generate(engine, PROFILE, orders=orders, skus=skus, seed=seed, bad_share=bad_share)
    finally:
        engine.dispose()
    (workdir / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    return url, asdict(manifest)


def refund(engine, codes: list[str]) -> None:
    """What the reference shop's own refund does to its order rows: status refunded, change time now
    (naive UTC, the profile's zone)."""
    if not codes:
        return
    stmt = sa.text("UPDATE shop_order SET status = 'refunded', updated_at = :at WHERE order_no IN :codes") \
        .bindparams(sa.bindparam("codes", expanding=True))
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    with engine.begin() as conn:
        if conn.execute(stmt, {"at": now, "codes": codes}).rowcount != len(codes):
            raise DemoError(f"refunding {codes} in the shop changed another number of rows")


RETURN_PREFIX = "TH"  # the reference shop's return numbers: TH + the order number


def approve_returns(engine, codes: list[str]) -> None:
    """What the reference shop's admin does when it approves a return of goods: a ``shop_return``
    (status approved, the buyer's parcel by SF) with the order's lines."""
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    with engine.begin() as conn:
        for n, code in enumerate(codes, start=1):
            order_id = conn.execute(sa.text("SELECT id FROM shop_order WHERE order_no = :c"), {"c": code}).scalar_one()
            conn.execute(sa.text(
                "INSERT INTO shop_return (return_no, order_id, status, reason, carrier_code, express_no, created_at,"
                " updated_at) VALUES (:r, :o, 'approved', '质量问题 quality', 'SF', :x, :t, :t)"),
                {"r": RETURN_PREFIX + code, "o": order_id, "x": f"SF{9_000_000_000 + n}", "t": now})
            return_id = conn.execute(sa.text("SELECT id FROM shop_return WHERE return_no = :r"),
                                     {"r": RETURN_PREFIX + code}).scalar_one()
            conn.execute(sa.text(
                "INSERT INTO shop_return_line (return_id, sku_id, sku_code, quantity) SELECT :r, sku_id, sku_code,"
                " quantity FROM shop_order_line WHERE order_id = :o"), {"r": return_id, "o": order_id})


def warehouse_stock(engine) -> list[dict]:
    """The goods the warehouse received: per synchronized SKU, the shop's stock plus what its paid
    and refunding orders hold (the shop took those off already, the profile's held_stock; they are
    still on the warehouse's shelves).
    Every 10th SKU counted 3 short at the stocktake, so the daily sync has something to write."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT s.sku_code, COALESCE(st.quantity, 0) + COALESCE((SELECT SUM(l.quantity) FROM shop_order_line l"
            " JOIN shop_order o ON o.id = l.order_id WHERE l.sku_id = s.id AND o.status IN ('paid', 'refunding')), 0)"
            " FROM wms_item_sync i JOIN shop_sku s ON s.sku_code = i.item_code"
            " LEFT JOIN shop_stock st ON st.sku_id = s.id WHERE i.state = 'synced' ORDER BY s.sku_code")).all()
    return [{"itemCode": code, "quantity": max(int(qty) - (3 if i % 10 == 0 else 0), 0)}
            for i, (code, qty) in enumerate(rows)]


def order_codes(engine, state: str) -> list[str]:
    from wmsbridge.store.schema import order_sync

    with engine.connect() as conn:
        return list(conn.execute(sa.select(order_sync.c.delivery_order_code).where(order_sync.c.state == state)
                                 .order_by(order_sync.c.delivery_order_code)).scalars())


# -- the simulator and the receiver ----------------------------------------------------------------


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
    name: str = "simulator"
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    base_url: str = ""

    def start(self) -> "Simulator":
        self.launch([sys.executable, "-m", "wms_simulator", "--host", "127.0.0.1", "--port", "0",
                     "--secret", self.secret, "--customer-id", CUSTOMER_ID, "--warehouse-code", WAREHOUSE_CODE,
                     "--owner-code", OWNER_CODE, "--confirm-shape", "juxing"])
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
    private runs it. Its token is in the bridge settings, never on its command line."""

    name: str = "receiver"
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    port: int = field(default_factory=free_port)

    @property
    def callback_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/wms/qimen/callback?token={self.token}"

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


# -- Airflow ---------------------------------------------------------------------------------------


def airflow_env(shop_url: str, sim: Simulator, receiver: ReceiverProcess) -> dict[str, str]:
    """The environment a deployment would set: two connections, the bridge settings, short retries."""
    env = dict(os.environ)
    env["AIRFLOW_CONN_SHOP_DB"] = json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": shop_url}})
    env["AIRFLOW_CONN_QIMEN_DEFAULT"] = json.dumps({
        "conn_type": "qimen", "host": sim.base_url, "login": APP_KEY, "password": sim.secret,
        # 0 = no client-side rate limit: the local simulator needs none, and the default (Juxing's
        # 5 requests/s) would stretch the demo to minutes. A real warehouse connection keeps it.
        "extra": {"customer_id": CUSTOMER_ID, "owner_code": OWNER_CODE, "warehouse_code": WAREHOUSE_CODE,
                  "max_requests_per_second": 0},
    })
    env["WMS_BRIDGE_CONFIG"] = json.dumps({
        "profile": PROFILE, "default_logistics_code": "YTO", "sender": DEMO_SENDER,
        "callback_token": receiver.token, "callback_customer_id": CUSTOMER_ID,
        # standard Qimen returns, agreed with this (simulated) warehouse
        "enabled_methods": ["returnorder.create", "returnorder.confirm"],
    })
    env["WMS_RETRY_DELAY_SECONDS"] = "1"
    return env


def migrate_store(env: dict[str, str], log_path: Path) -> None:
    """``python -m wmsbridge.store upgrade`` for the configured store connection, as ``make migrate``."""
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


def mission(args, workdir: Path, sim: Simulator, receiver: ReceiverProcess, step) -> demo_report.DemoReport:
    airflow_log = workdir / "airflow.log"
    person_needed: list[str] = []

    def dag(dag_id: str, expected_failure=None) -> None:
        """Run ``dag_id``; a failure is accepted only when ``expected_failure()`` names the records
        the demo made wait for a person on purpose (then the report says so)."""
        step(f"airflow dags test {dag_id}")
        if run_dag(dag_id, env, airflow_log, args.dag_timeout):
            return
        explained = expected_failure() if expected_failure else None
        if not explained:
            raise DemoError(f"{dag_id} failed")
        person_needed.append(f"{dag_id} failed as it must: {explained}")

    step(f"shop: {args.orders} orders, {args.skus} SKUs (seed {args.seed}) -> {workdir / 'shop.sqlite'}")
    shop_url, manifest = make_shop(workdir, orders=args.orders, skus=args.skus, seed=args.seed,
                                   bad_share=args.bad_share)
    sim.start()
    step(f"simulator: {sim.base_url} (log {sim.log_path})")
    env = airflow_env(shop_url, sim, receiver)
    step("python -m wmsbridge.store upgrade (the deploy step: tasks only check the store's revision)")
    migrate_store(env, airflow_log)
    receiver.start(env)
    step(f"receiver: http://127.0.0.1:{receiver.port}/wms/qimen/callback?token=*** (log {receiver.log_path})")
    engine = sa.create_engine(shop_url)
    admin = sim.admin
    try:
        # 1. items, the goods arrive at the warehouse, orders
        dag("wms_item_sync")
        admin.seed_stock(warehouse_stock(engine))
        dag("wms_order_push", lambda: push_needs_person(engine))
        with engine.connect() as conn:
            report = demo_report.push_stage(conn, manifest, admin)
        report.person_needed = person_needed  # filled on as the stages run

        # 2. the warehouse ships most accepted orders and posts confirmations to the receiver
        accepted = order_codes(engine, "sent")
        to_ship = [c for i, c in enumerate(accepted) if i % SHIP_EVERY != SHIP_EVERY - 1]
        step(f"warehouse ships {len(to_ship)} of {len(accepted)} accepted orders, posts Juxing-shaped"
             " deliveryorder.confirm to the receiver")
        deliveries = []
        for i in range(0, len(to_ship), SHIP_CHUNK):
            deliveries += admin.ship(to_ship[i:i + SHIP_CHUNK], callback_url=receiver.callback_url,
                                     shape="juxing")["deliveries"]
        runs = 0  # one run applies at most a batch (500): run it again as its schedule would
        while runs < MAX_SHIPMENT_RUNS and (runs == 0 or inbox_due(engine)):
            dag("wms_shipments")
            runs += 1
        with engine.connect() as conn:
            demo_report.shipment_stage(conn, report, to_ship, deliveries, admin)
        report.shipments["runs"] = runs

        # 3. refunds in the shop: unshipped orders, one never sent, one already shipped
        unshipped = [c for c in accepted if c not in set(to_ship)]
        refunds = {"unshipped": unshipped[:REFUNDS_UNSHIPPED], "shipped": to_ship[:1],
                   "never_sent": order_codes(engine, "rejected")[:1]}
        step(f"shop refunds {sum(map(len, refunds.values()))} orders (one already shipped)")
        refund(engine, [c for group in refunds.values() for c in group])
        dag("wms_order_cancel", lambda: refund_after_shipment(engine, refunds["shipped"]))
        with engine.connect() as conn:
            demo_report.cancel_stage(conn, report, refunds, admin)

        # 4. the order refunded after shipment comes back: the shop approves its return, the warehouse
        # is told (returnorder.create), receives the parcel (returnorder.confirm) and the refund waits
        # for a person to pay it
        returned = refunds["shipped"]
        step(f"shop approves the return of {', '.join(returned)}; the warehouse receives the parcel")
        approve_returns(engine, returned)
        dag("wms_returns")
        for code in returned:
            admin.receive_return(RETURN_PREFIX + code, callback_url=receiver.callback_url)
        dag("wms_returns")
        with engine.connect() as conn:
            demo_report.returns_stage(conn, report, [RETURN_PREFIX + c for c in returned], admin)

        # 5. the day's stock
        dag("wms_inventory_sync")
        with engine.connect() as conn:
            demo_report.inventory_stage(conn, report, admin)
            demo_report.exchange_stage(conn, report, admin)
    finally:
        engine.dispose()
    return report


def inbox_due(engine) -> int:
    """Confirmations stored but not applied yet (what the next wms_shipments run would take)."""
    from wmsbridge.store.schema import shipment_inbox

    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(shipment_inbox.c.state == "received")).scalar_one()


def push_needs_person(engine) -> str | None:
    """Orders the warehouse refused for good or holds in another version: a person must look."""
    from wmsbridge.store.schema import order_sync

    c = order_sync.c
    with engine.connect() as conn:
        codes = list(conn.execute(sa.select(c.delivery_order_code).where(
            (c.state == "exists_different") | ((c.state == "failed") & (c.last_error_retryable == sa.false()))
        )).scalars())
    return f"a person is needed for {len(codes)} orders the warehouse refused ({', '.join(codes[:3])})" if codes else None


def refund_after_shipment(engine, shipped_refunds: list[str]) -> str | None:
    """wms_order_cancel fails when a refund came after shipment: expected for exactly those the demo made."""
    from wmsbridge.store.orders import REFUND_AFTER_SHIPMENT, REFUND_AFTER_SHIPMENT_ACTION
    from wmsbridge.store.schema import order_sync

    c = order_sync.c
    with engine.connect() as conn:
        waiting = sorted(conn.execute(sa.select(c.delivery_order_code).where(
            c.state == "cancel_failed", c.last_error_code == REFUND_AFTER_SHIPMENT)).scalars())
        stuck = conn.execute(sa.select(sa.func.count()).where(c.state == "cancel_requested")).scalar_one()
    if waiting != sorted(shipped_refunds) or stuck:
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
    sim = Simulator(log_path=workdir / "simulator.log")
    receiver = ReceiverProcess(log_path=workdir / "receiver.log")

    def step(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    try:
        report = mission(args, workdir, sim, receiver, step)
    except DemoError as exc:
        print(f"demo FAILED: {exc}\n--- last lines of {airflow_log} ---\n{tail(airflow_log)}", file=sys.stderr)
        return 1
    finally:
        receiver.stop()
        sim.stop()
    (workdir / "report.json").write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str),
                                         encoding="utf-8")
    step("done\n")
    print("\n".join(report.lines()))
    return 0 if not report.problems else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wmsbridge_tools.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000, help="orders in the shop (default 3000)")
    parser.add_argument("--skus", type=int, default=300, help="SKUs in the shop (default 300)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--bad-share", type=float, default=0.05, help="share of bad orders (default 0.05)")
    parser.add_argument("--workdir", default=".demo", help="where the shop, logs and report go (git-ignored)")
    parser.add_argument("--dag-timeout", type=float, default=300, help="seconds one DAG run may take")
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
