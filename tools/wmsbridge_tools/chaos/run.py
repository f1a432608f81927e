"""The chaos driver: the flows against a faulty warehouse, killed, doubled, attacked; then,
faults off, run until they converge and count what was lost or done twice.

Built from ``make demo``'s parts (wmsbridge_tools.demo: the shop, the simulator and the receiver as real
processes, the store migrated by the deploy step). Each pipeline run is a ``wmsbridge_tools.chaos.worker``
subprocess, so it can be SIGKILLed at a random point, and two of them run at once.

Phases (each prints a line; everything random comes from ``--seed``):

1. faults on: 20 % HTTP 5xx, 5 % hangs (longer than the client's read timeout), 5 % connections
   dropped after the warehouse processed the request, 5 % ``flag=failure`` SYSTEM_BUSY, a rate
   limit, a little latency;
2. per flow (items, orders, shipments, cancels, returns, stock changes, inventory): two runs at once,
   one SIGKILLed once the flow has made a random amount of progress (returns twice: announcing them,
   and applying what the warehouse received; the warehouse posts those receipts and three stock
   changes, with duplicates, in between);
3. the warehouse ships most accepted orders (confirmations posted newest first), posts some
   confirmations again (duplicates) and replays others in reverse order; hostile callbacks and a
   flood hit the receiver, which must refuse them all, store nothing and stay up;
4. faults off, one lease later: every flow again until nothing is due; the audit (wmsbridge_tools.chaos.audit).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from wmsbridge_tools import demo
from wmsbridge_tools.chaos import attacks, audit, hostile

FAULTS = {"fail_5xx": 0.20, "hang": 0.05, "drop_after": 0.05, "failure": 0.05, "failure_codes": ["SYSTEM_BUSY"],
          "rate_limit": 20, "latency_ms": 20, "jitter_ms": 20}
HANG_S = 2.0  # a hung request is answered (into a closed socket) after this long ...
READ_TIMEOUT_S = 1.0  # ... the client gave up after this long
LEASE_S = 3.0  # a killed run's `sending` orders are taken over this long after its last heartbeat
MAX_CONVERGE_ROUNDS = 5
WORKER_TIMEOUT_S = 180
POLL_S = 0.02
FLOW_ORDER = ("items", "orders", "shipments", "cancels", "returns", "stock_changes", "inventory")


class ChaosError(RuntimeError):
    """The chaos run itself could not go on (a server did not start, a run hung)."""


@dataclass
class Worker:
    """One warmed ``wmsbridge_tools.chaos.worker`` process, told what to run by ``go``; its output in
    ``<logdir>/<name>.log``."""

    name: str
    env: dict
    logdir: Path
    flow: str = ""
    run_id: str = ""
    process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.logdir / f"{self.name}.log"

    def start(self) -> "Worker":
        self.logdir.mkdir(exist_ok=True)
        with self.log_path.open("w", encoding="utf-8") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "wmsbridge_tools.chaos.worker"], env=self.env,
                                            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True)
        return self

    def go(self, flow: str, run_id: str) -> "Worker":
        self.flow, self.run_id = flow, run_id
        self.process.stdin.write(f"{flow} {run_id}\n")
        self.process.stdin.close()
        return self

    def wait_ready(self) -> None:
        """Until the process has imported everything (its ``ready`` line), so both runs of a pair
        start working at the same moment."""
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        while "\nready\n" not in "\n" + self.log_path.read_text(encoding="utf-8", errors="replace"):
            if not self.running or time.monotonic() > deadline:
                raise ChaosError(f"worker {self.name} did not get ready; see {self.log_path}")
            time.sleep(POLL_S)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no cleanup, no finally, no lease released
        self.process.wait()

    def wait(self) -> int:
        try:
            return self.process.wait(timeout=WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ChaosError(f"{self.flow} run {self.run_id} did not end in {WORKER_TIMEOUT_S} s") from None


@dataclass
class Tally:
    """What chaos did, for the report."""

    runs: Counter = field(default_factory=Counter)
    failed_runs: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # why a run failed (one line each)
    outcomes: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # flow -> bucket -> n
    kills: dict[str, str] = field(default_factory=dict)  # flow -> at what progress, or why not
    converge_rounds: int = 0
    confirmations: Counter = field(default_factory=Counter)
    attacks: attacks.AttackReport | None = None
    receiver_up: bool = True
    stored_by_attacks: int = 0
    faults_seen: Counter = field(default_factory=Counter)


class Chaos:
    def __init__(self, args, workdir: Path, sim: demo.Simulator, receiver: demo.ReceiverProcess, step) -> None:
        self.args, self.workdir, self.sim, self.receiver, self.step = args, workdir, sim, receiver, step
        self.rng = random.Random(args.seed)
        self.tally = Tally()
        self.serial = 0
        self.spares: list[Worker] = []

    # -- set-up ------------------------------------------------------------------------------------

    def environment(self, shop_url: str) -> dict[str, str]:
        """``make demo``'s environment with chaos settings: a short lease, no backoff between runs
        (chaos converges in seconds, not hours), a client timeout shorter than a hang."""
        env = demo.airflow_env(shop_url, self.sim, self.receiver)
        conn = json.loads(env["AIRFLOW_CONN_QIMEN_DEFAULT"])
        conn["extra"].update(read_timeout=READ_TIMEOUT_S, connect_timeout=READ_TIMEOUT_S)
        env["AIRFLOW_CONN_QIMEN_DEFAULT"] = json.dumps(conn)
        config = json.loads(env["WMS_BRIDGE_CONFIG"])
        config.update(sending_lease_seconds=LEASE_S, retry_backoff_seconds=0, retry_backoff_max_seconds=0,
                      inventory_batch_size=5, inventory_requests_per_second=10,
                      enabled_methods=[*config.get("enabled_methods", []), "stockchange.report"])
        env["WMS_BRIDGE_CONFIG"] = json.dumps(config)
        return env

    # -- running flows -----------------------------------------------------------------------------

    def warm(self, n: int) -> None:
        """Start ``n`` worker processes now, for the runs after the current ones."""
        for _ in range(n):
            self.serial += 1
            self.spares.append(Worker(f"worker-{self.serial:03d}", self.env, self.workdir / "workers").start())

    def worker(self, flow: str, tag: str, *, ready: bool = False) -> Worker:
        """A run of ``flow`` (or of several, comma-separated, one after the other in one process);
        ``ready``: wait until its process has imported everything before it starts."""
        if not self.spares:
            self.warm(1)
        for name in flow.split(","):
            self.tally.runs[name] += 1
        worker = self.spares.pop(0)
        if ready:
            worker.wait_ready()
        return worker.go(flow, f"chaos-{worker.name[-3:]}-{tag}")

    def settle(self, *workers: Worker) -> None:
        """Wait for the runs; count the flows that ended with an error (a killed run prints nothing)."""
        for w in workers:
            w.wait()
            for line in w.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith('{"flow"'):
                    summary = json.loads(line)
                    self.tally.outcomes[summary["flow"]].update(summary["counts"])
                    if "error" in summary:
                        self.tally.failed_runs[summary["flow"]] += 1
                        self.tally.errors.append(f"{summary['flow']} ({w.run_id}): {summary['error'][:300]}")

    def doubled_and_killed(self, flow: str, span: int, *, warm_next: int = 2, progress=None) -> None:
        """Two runs of ``flow`` at once; the first is SIGKILLed once it has made a random 1..span
        steps of its own (warehouse exchanges; for shipments, confirmations applied by either run;
        for orders, creates the warehouse received from either run: a push records its answers a
        batch at a time, so its own exchange rows show up too late to aim at). If it ends first,
        the kill is reported as missed."""
        victim, partner = self.worker(flow, "killed", ready=True), self.worker(flow, "twin", ready=True)
        self.warm(warm_next)  # the next flow's pair (or the converging run)
        progress = progress or (self.applied_confirmations if flow == "shipments"
                                else self.warehouse_received("deliveryorder.create") if flow == "orders"
                                else self.exchanges_of(f"{victim.run_id}-{flow}"))
        start = progress()
        aim = self.rng.randint(1, max(1, span))
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        while victim.running and time.monotonic() < deadline:
            moved = progress() - start
            if moved >= aim:
                victim.kill()
                self.tally.kills[flow] = f"killed after {moved} steps (aimed at {aim})"
                break
            time.sleep(POLL_S)
        else:
            self.tally.kills[flow] = f"not killed: the run ended before {aim} steps"
        self.settle(victim, partner)
        self.step(f"{flow}: two runs at once, {self.tally.kills[flow]}")

    def exchanges_of(self, run_id: str):
        """Requests to the warehouse a run has finished (its rows in wms_exchange_log)."""
        from wmsbridge.store.schema import exchange_log

        stmt = sa.select(sa.func.count()).where(exchange_log.c.run_id == run_id)

        def count() -> int:
            with self.store.connect() as conn:
                return conn.execute(stmt).scalar_one()
        return count

    def warehouse_received(self, method: str):
        """Requests of ``method`` the warehouse has received so far (the simulator's counters)."""
        return lambda: self.admin.counters().get(method, {}).get("received", 0)

    def stock_adjustments(self) -> int:
        """Stock changes written (or being written) to the shop so far, by any run."""
        from wmsbridge.store.schema import stock_adjustment

        with self.store.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(stock_adjustment)).scalar_one()

    def applied_confirmations(self) -> int:
        from wmsbridge.store.schema import shipment_inbox

        with self.store.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).where(shipment_inbox.c.state != "received")).scalar_one()

    # -- the phases ----------------------------------------------------------------------------------

    def run(self) -> audit.Audit:
        """The shop and the store share one database: an SQLite file, or a throwaway PostgreSQL one."""
        if self.args.store != "postgresql":
            return self._run(None)
        database = ThrowawayPostgres(self.args.postgres_url)
        try:
            return self._run(database.create(f"wms_chaos_{os.getpid()}"))
        finally:
            database.drop()

    def _run(self, shop_url: str | None) -> audit.Audit:
        args, step = self.args, self.step
        step(f"shop: {args.orders} orders, {args.skus} SKUs, seed {args.seed}, store on {args.store}")
        shop_url, manifest = demo.make_shop(self.workdir, orders=args.orders, skus=args.skus, seed=args.seed,
                                            bad_share=args.bad_share, url=shop_url)
        engine = sa.create_engine(shop_url)
        try:
            self.hostile = hostile.insert(engine)
        finally:
            engine.dispose()
        step(f"hostile rows: {len(self.hostile)} ({', '.join(h.label for h in self.hostile)})")
        self.sim.start()
        self.admin = self.sim.admin
        self.env = self.environment(shop_url)
        demo.migrate_store(self.env, self.workdir / "migrate.log")
        self.warm(2)  # while the receiver starts
        self.receiver.start(self.env)
        self.shop = self.store = sa.create_engine(shop_url)
        try:
            paid = self.paid_codes()
            faults = {**FAULTS, "hang_seconds": HANG_S, "seed": args.seed}
            self.admin.replace_faults(**faults)
            step("faults on: " + ", ".join(f"{k}={v}" for k, v in faults.items()))
            # each run of a pair does about half the work: the kill lands early in it, so it lands at all
            self.doubled_and_killed("items", args.skus // 8)
            self.admin.seed_stock(demo.warehouse_stock(self.shop))
            self.doubled_and_killed("orders", len(paid) // 8)
            shipped = self.ship_and_replay()
            self.attack_receiver()
            self.doubled_and_killed("shipments", len(shipped) // 4)
            refunds = self.refund(shipped)
            self.doubled_and_killed("cancels", len(refunds["unshipped"]) // 4)
            returned = self.approve_returns(shipped)
            self.doubled_and_killed("returns", len(returned) // 2)
            self.receive_returns_and_stock_changes()
            self.doubled_and_killed("returns", 3, progress=self.stock_adjustments)
            self.doubled_and_killed("stock_changes", 2, progress=self.stock_adjustments)
            self.doubled_and_killed("inventory", args.skus // 20, warm_next=1)  # calls of 5 items, 10 a second
            self.tally.faults_seen = Counter(r["fault"] for r in self.admin.requests() if r["fault"])
            self.admin.replace_faults()
            step("faults off: " + ", ".join(f"{k} {n}" for k, n in sorted(self.tally.faults_seen.items()))
                 + " injected; the flows run again until nothing is due")
            self.converge()
            return audit.check(self.shop, self.store, self.admin, paid=paid, refunds=refunds, hostile=self.hostile,
                               returned=returned)
        finally:
            for spare in self.spares:  # warmed, never used
                spare.kill()
            self.shop.dispose()

    def paid_codes(self) -> list[str]:
        with self.shop.connect() as conn:
            return list(conn.execute(sa.text("SELECT order_no FROM shop_order WHERE status = 'paid' ORDER BY order_no"))
                        .scalars())

    def ship_and_replay(self) -> list[str]:
        """The warehouse ships three in four accepted orders (also ones our store has not recorded as
        sent yet: a killed push), confirmations newest first; every fifth is posted twice more, and a
        random tenth is replayed in reverse order."""
        accepted = sorted(o["order_code"] for o in self.admin.orders() if o["status"] == "ACCEPT")
        to_ship = [c for i, c in enumerate(accepted) if i % 4 != 3]
        deliveries = []
        for i in range(0, len(to_ship), demo.SHIP_CHUNK):
            deliveries += self.admin.ship(to_ship[i:i + demo.SHIP_CHUNK], callback_url=self.receiver.callback_url,
                                          shape="juxing", out_of_order=True)["deliveries"]
        codes = [d["out_biz_code"] for d in deliveries]
        for code in codes[::5]:
            deliveries += self.admin.resend_confirm(code, times=2, callback_url=self.receiver.callback_url)["deliveries"]
        replay = self.rng.sample(codes, max(1, len(codes) // 10)) if codes else []
        if replay:
            deliveries += self.admin.deliver(replay[::-1], callback_url=self.receiver.callback_url)["deliveries"]
        self.tally.confirmations = Counter(
            "accepted" if "<flag>success</flag>" in (d.get("answer") or "") else "refused" for d in deliveries)
        self.tally.confirmations.update(shipped=len(to_ship), duplicates=2 * len(codes[::5]), replayed=len(replay))
        self.step(f"warehouse shipped {len(to_ship)} of {len(accepted)} accepted orders (newest confirmation first),"
                  f" posted {2 * len(codes[::5])} duplicates and replayed {len(replay)}")
        return to_ship

    def attack_receiver(self) -> None:
        from wmsbridge.store.schema import shipment_inbox

        def stored() -> int:
            with self.store.connect() as conn:
                return conn.execute(sa.select(sa.func.count()).select_from(shipment_inbox)).scalar_one()

        confirmations = self.admin.confirmations()
        sample = confirmations[0]["body"].encode("utf-8") if confirmations else b"<request/>"
        before = stored()
        self.tally.attacks = attacks.attack(self.receiver.port, self.receiver.token, sample, flood=self.args.flood)
        self.tally.stored_by_attacks = stored() - before
        self.tally.receiver_up = self.receiver.healthy() and self.receiver.process.poll() is None
        report = self.tally.attacks
        self.step(f"receiver attacked: {sum(report.refused.values())} of {sum(report.sent.values())} hostile callbacks"
                  f" refused, {self.tally.stored_by_attacks} rows stored, receiver "
                  + ("up" if self.tally.receiver_up else "DOWN"))

    def refund(self, shipped: list[str]) -> dict[str, list[str]]:
        """The shop refunds half of the unshipped accepted orders, one shipped and one never sent."""
        from wmsbridge.store.schema import order_sync

        with self.store.connect() as conn:
            states = dict(conn.execute(sa.select(order_sync.c.delivery_order_code, order_sync.c.state)).all())
        unshipped = sorted(o["order_code"] for o in self.admin.orders() if o["status"] == "ACCEPT")
        refunds = {"unshipped": unshipped[::2], "shipped": shipped[:1],
                   "never_sent": [c for c, s in sorted(states.items()) if s == "rejected"][:1]}
        demo.refund(self.shop, [c for group in refunds.values() for c in group])
        self.step(f"shop refunded {len(refunds['unshipped'])} unshipped, {len(refunds['shipped'])} shipped and"
                  f" {len(refunds['never_sent'])} never sent orders")
        return refunds

    def approve_returns(self, shipped: list[str]) -> list[str]:
        """The shop approves returns: of the order refunded after shipment, and of one in three more
        shipped orders (returns the warehouse must be told of while it is faulty)."""
        codes = shipped[:1] + shipped[2::3]
        demo.approve_returns(self.shop, codes)
        self.step(f"shop approved {len(codes)} returns of shipped orders")
        return [demo.RETURN_PREFIX + c for c in codes]

    def receive_returns_and_stock_changes(self) -> None:
        """Faults still on: the warehouse receives every return it was told of (every other one's
        confirmation posted twice more), and reports stock changes: a purchase inbound (posted three
        times), a stocktake loss, and the sale of one of our orders (the shop counted that one)."""
        announced = sorted(r["return_code"] for r in self.admin.returns())
        for n, code in enumerate(announced):
            self.admin.receive_return(code, callback_url=self.receiver.callback_url, repeat=2 if n % 2 else 0)
        items = sorted(i["item_code"] for i in self.admin.items())[:3]
        shipped = sorted(o["order_code"] for o in self.admin.orders() if o["status"] != "ACCEPT")[:1]
        url = self.receiver.callback_url
        if items:
            self.admin.seed_stock([{"itemCode": code, "quantity": 500} for code in items])
            self.admin.report_stock_change([{"itemCode": items[0], "quantity": 7}], order_code="CG-CHAOS",
                                           order_type="CGRK", repeat=2, callback_url=url)
            self.admin.report_stock_change([{"itemCode": items[-1], "quantity": -2}], order_type="PKCK", callback_url=url)
            if shipped:
                self.admin.report_stock_change([{"itemCode": items[1 % len(items)], "quantity": -1}],
                                               order_code=shipped[0], order_type="JYCK", callback_url=url)
        self.step(f"warehouse received {len(announced)} returns (duplicates posted), reported 3 stock changes")

    def converge(self) -> None:
        """Faults off, one lease later: every flow, one run at a time, until nothing is due."""
        time.sleep(LEASE_S + 0.5)
        for round_ in range(1, MAX_CONVERGE_ROUNDS + 1):
            self.settle(self.worker(",".join(FLOW_ORDER), f"converge{round_}"))
            self.tally.converge_rounds = round_
            due = self.due()
            if not due:
                break
            self.step(f"converge round {round_}: still due {due}")
            time.sleep(LEASE_S + 0.5)
        self.step(f"converged after {self.tally.converge_rounds} round(s)")

    def due(self) -> dict[str, int]:
        """Work a next run would still take: orders to (re)send or cancel, confirmations to apply."""
        from wmsbridge.store.schema import item_sync, order_sync, return_sync, shipment_inbox, warehouse_report

        o, i, r = order_sync.c, item_sync.c, return_sync.c
        with self.store.connect() as conn:
            counts = {
                "orders": conn.execute(sa.select(sa.func.count()).where(
                    o.state.in_(("pending", "sending", "cancel_requested"))
                    | ((o.state == "failed") & (o.last_error_retryable == sa.true())))).scalar_one(),
                "items": conn.execute(sa.select(sa.func.count()).where(i.state.in_(("pending", "failed")))).scalar_one(),
                "confirmations": conn.execute(sa.select(sa.func.count()).where(
                    shipment_inbox.c.state.in_(("received", "waiting")))).scalar_one(),
                "returns": conn.execute(sa.select(sa.func.count()).where(
                    r.state.in_(("pending", "sending")) | ((r.state == "failed") & (r.last_error_retryable == sa.true()))
                )).scalar_one(),
                "warehouse reports": conn.execute(sa.select(sa.func.count()).where(
                    warehouse_report.c.state == "received")).scalar_one(),
            }
        return {k: v for k, v in counts.items() if v}


class ThrowawayPostgres:
    """A fresh PostgreSQL database for one chaos run (shop and store), dropped afterwards."""

    def __init__(self, admin_url: str) -> None:
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.name: str | None = None

    def create(self, name: str) -> str:
        self.name = name
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'))
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()
