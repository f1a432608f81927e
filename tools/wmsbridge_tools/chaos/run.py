"""The chaos driver: the flows of every bridge against faulty warehouses, killed, doubled, attacked;
then, faults off, run until they converge and count per bridge what was lost, done twice or crossed.

Built from ``make demo``'s parts (wmsbridge_tools.demo: the shops, the simulators and the receiver as
real processes, the store migrated by the deploy step) in the deployment of
:mod:`wmsbridge_tools.chaos.deployment`: by default two bridges (two shops with the same codes, two
warehouse accounts, one store, one receiver). Each pipeline run is a ``wmsbridge_tools.chaos.worker``
subprocess serving one bridge, as an Airflow task mapped over the bridges does, so it can be
SIGKILLed at a random point of that bridge's work; per bridge two of them run at once.

Phases (each prints a line; everything random comes from ``--seed``):

1. faults on, at every warehouse: 20 % HTTP 5xx, 5 % hangs (longer than the client's read timeout),
   5 % connections dropped after the warehouse processed the request, 5 % ``flag=failure``
   SYSTEM_BUSY, a rate limit, a little latency;
2. per flow (items, orders, shipments, cancels, returns, stock changes, inventory) and bridge: two
   runs at once, one SIGKILLed once that bridge's flow has made a random amount of progress (returns
   twice: announcing them, and applying what the warehouse received; the warehouses post those
   receipts and three stock changes, with duplicates, in between);
3. each warehouse ships most accepted orders (confirmations posted newest first), posts some
   confirmations again (duplicates) and replays others in reverse order; hostile callbacks and a
   flood hit the receiver under every bridge's token, which must refuse them all, store nothing and
   stay up;
4. faults off, one lease later: every flow of every bridge again until nothing is due; the audit
   (wmsbridge_tools.chaos.audit), one bridge at a time, and across bridges.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from wmsbridge_tools import demo
from wmsbridge_tools.chaos import attacks, audit, deployment, hostile
from wmsbridge_tools.chaos.deployment import ChaosBridge, ThrowawayPostgres

FAULTS = {"fail_5xx": 0.20, "hang": 0.05, "drop_after": 0.05, "failure": 0.05, "failure_codes": ["SYSTEM_BUSY"],
          "rate_limit": 20, "latency_ms": 20, "jitter_ms": 20}
HANG_S = 2.0  # a hung request is answered (into a closed socket) after this long ...
READ_TIMEOUT_S = 1.0  # ... the client gave up after this long
LEASE_S = 3.0  # a killed run's `sending` orders are taken over this long after its last heartbeat
MAX_CONVERGE_ROUNDS = 5
WORKER_TIMEOUT_S = 180
POLL_S = 0.02
FLOW_ORDER = ("items", "orders", "shipments", "cancels", "returns", "stock_changes", "inventory")
# chaos settings over the demo's: a short lease, no backoff between runs (chaos converges in seconds,
# not hours), small stock queries at a quick pace, stock changes and the warehouse's shortage and
# progress reports agreed with the warehouse
SETTINGS = {"sending_lease_seconds": LEASE_S, "retry_backoff_seconds": 0, "retry_backoff_max_seconds": 0,
            "inventory_batch_size": 5, "inventory_requests_per_second": 10,
            "enabled_methods": ["stockchange.report", "itemlack.report", "orderprocess.report"]}
QIMEN_EXTRA = {"read_timeout": READ_TIMEOUT_S, "connect_timeout": READ_TIMEOUT_S}  # shorter than a hang


class ChaosError(RuntimeError):
    """The chaos run itself could not go on (a server did not start, a run hung)."""


class ForkServer:
    """``wmsbridge_tools.chaos.worker --serve``: imports once, forks one process per run (see there)."""

    def __init__(self, env: dict, logdir: Path) -> None:
        self.logdir = logdir
        logdir.mkdir(exist_ok=True)
        with (logdir / "fork-server.log").open("w", encoding="utf-8") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "wmsbridge_tools.chaos.worker", "--serve", str(logdir)],
                                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                            text=True)

    def wait_ready(self) -> None:
        """Until the imports are done (its ``ready`` line)."""
        for line in iter(self.process.stdout.readline, ""):
            if line.strip() == "ready":
                return
        raise ChaosError(f"the worker fork server did not start; see {self.logdir / 'fork-server.log'}")

    def fork(self, name: str, flow: str, run_id: str, bridges: str) -> int:
        """A new process running ``flow`` for ``bridges``; its pid."""
        self.process.stdin.write(f"{name} {flow} {run_id} {bridges}\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().split()
        if len(answer) != 2 or answer[0] != name:
            raise ChaosError(f"the worker fork server did not start {name}; see {self.logdir / 'fork-server.log'}")
        return int(answer[1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class PipelineRun:
    """One pipeline run in a process of its own (forked by the ``ForkServer``); its output in
    ``<logdir>/<name>.log``. Not our child: its end is told by its pidfd."""

    name: str
    logdir: Path
    flow: str
    run_id: str
    bridges: str
    pid: int = 0
    pidfd: int | None = None  # None: it had ended before we looked

    @property
    def log_path(self) -> Path:
        return self.logdir / f"{self.name}.log"

    def start(self, server: ForkServer) -> "PipelineRun":
        self.pid = server.fork(self.name, self.flow, self.run_id, self.bridges)
        try:
            self.pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            self.pidfd = None
        return self

    @property
    def running(self) -> bool:
        return self.pidfd is not None and not self._ended(0)

    def _ended(self, timeout_s: float) -> bool:
        poll = select.poll()
        poll.register(self.pidfd, select.POLLIN)
        return bool(poll.poll(int(timeout_s * 1000)))

    def kill(self) -> bool:
        """SIGKILL: no cleanup, no finally, no lease released. False when it had ended already."""
        if self.pidfd is None:
            return False
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            return False
        self._ended(WORKER_TIMEOUT_S)
        return True

    def wait(self) -> None:
        if self.pidfd is None:
            return
        try:
            if not self._ended(WORKER_TIMEOUT_S):
                self.kill()
                raise ChaosError(f"{self.flow} run {self.run_id} ({self.bridges}) did not end in {WORKER_TIMEOUT_S} s")
        finally:
            os.close(self.pidfd)
            self.pidfd = None


@dataclass
class BridgeTally:
    """What chaos did to one bridge, for the report."""

    runs: Counter = field(default_factory=Counter)
    failed_runs: Counter = field(default_factory=Counter)
    outcomes: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # flow -> bucket -> n
    kills: dict[str, str] = field(default_factory=dict)  # flow -> at what progress, or why not
    confirmations: Counter = field(default_factory=Counter)
    attacks: attacks.AttackReport | None = None  # the hostile callbacks under this bridge's token
    faults_seen: Counter = field(default_factory=Counter)
    aged_returns: int = 0  # returns a SIGKILL left `sending`, moved past the takeover's wait

    def as_dict(self) -> dict:
        return {"runs": self.runs, "failed_runs": self.failed_runs, "outcomes": dict(self.outcomes),
                "kills": self.kills, "confirmations": self.confirmations, "faults_seen": self.faults_seen,
                "aged_returns": self.aged_returns, "attacks": asdict(self.attacks) if self.attacks else None}


@dataclass
class Tally:
    """What chaos did, for the report: per bridge, and to the deployment as a whole."""

    bridges: dict[str, BridgeTally] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # why a run failed (one line each)
    converge_rounds: int = 0
    receiver_up: bool = True
    stored_by_attacks: int = 0

    def of(self, bridge_id: str) -> BridgeTally:
        return self.bridges.setdefault(bridge_id, BridgeTally())


class Chaos:
    def __init__(self, args, workdir: Path, bridges: list[ChaosBridge], receiver: demo.ReceiverProcess, step) -> None:
        self.args, self.workdir, self.bridges, self.receiver, self.step = args, workdir, bridges, receiver, step
        self.rng = random.Random(args.seed)
        self.tally = Tally()
        for b in bridges:
            self.tally.of(b.id)
        self.serial = 0
        self.dag_runs = 0
        self.server: ForkServer | None = None
        self.started: list[PipelineRun] = []

    @property
    def ids(self) -> str:
        return ",".join(b.id for b in self.bridges)

    # -- running flows -----------------------------------------------------------------------------

    def worker(self, flow: str, run_id: str, bridges: list[ChaosBridge]) -> PipelineRun:
        """A run of ``flow`` (or of several, comma-separated, one after the other in one process) for
        ``bridges``, started now."""
        for b in bridges:
            self.tally.of(b.id).runs.update(flow.split(","))
        self.serial += 1
        worker = PipelineRun(f"worker-{self.serial:03d}", self.workdir / "workers", flow, run_id,
                        ",".join(b.id for b in bridges)).start(self.server)
        self.started.append(worker)
        return worker

    def dag_run(self, tag: str) -> str:
        """A new run id, as one DAG run's: every bridge's task of that run works under it."""
        self.dag_runs += 1
        return f"chaos-{self.dag_runs:02d}-{tag}"

    def settle(self, *workers: PipelineRun) -> None:
        """Wait for the runs; count the flows that ended with an error (a killed run prints nothing)."""
        for w in workers:
            w.wait()
            for line in w.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith('{"flow"'):
                    summary = json.loads(line)
                    mine = self.tally.of(summary["bridge"])
                    mine.outcomes[summary["flow"]].update(summary["counts"])
                    if "error" in summary:
                        mine.failed_runs[summary["flow"]] += 1
                        self.tally.errors.append(f"{summary['bridge']} {summary['flow']} ({w.run_id}): "
                                                 f"{summary['error'][:300]}")

    def doubled_and_killed(self, flow: str, span, *, progress=None, staggered: bool = False) -> None:
        """Per bridge two runs of ``flow`` at once (one process each, as two DAG runs' mapped tasks);
        each bridge's first run is SIGKILLed once it has made a random 1..span steps of its own
        (``span``: a number, or a function of the bridge). A step is a warehouse exchange of its own;
        for shipments, a confirmation of its bridge applied by either run; for orders, a create that
        bridge's warehouse received from either run (a push records its answers a batch at a time,
        so its own exchange rows show up too late to aim at). If it ends first, the kill is reported
        as missed. ``progress``: another step counter, a function of the bridge.

        ``staggered``: each bridge's twin starts once its victim has made its first step (the push:
        started together, the twin could claim every group first and leave the victim nothing to be
        killed in); else both at once (a flow that commits its work in one go would be done before
        its first step shows)."""
        killed, twin = self.dag_run(f"{flow}-killed"), self.dag_run(f"{flow}-twin")
        victims = {b.id: self.worker(flow, killed, [b]) for b in self.bridges}
        aims = {}
        for b in self.bridges:
            count = progress(b) if progress else self.progress(flow, b, victims[b.id])
            aims[b.id] = (count, count(), self.rng.randint(1, max(1, span(b) if callable(span) else span)))
        twins = (self.start_twins(flow, twin, victims, aims) if staggered
                 else {b.id: self.worker(flow, twin, [b]) for b in self.bridges})
        self.aim_and_kill(flow, victims, aims)
        self.settle(*victims.values(), *twins.values())
        self.step(f"{flow}: two runs at once per bridge; "
                  + "; ".join(f"{b.id} {self.tally.of(b.id).kills[flow]}" for b in self.bridges))

    def start_twins(self, flow: str, run_id: str, victims: dict[str, PipelineRun], aims: dict) -> dict[str, PipelineRun]:
        """Each bridge's twin run, started once its victim made a step (or ended, or took too long)."""
        twins: dict[str, PipelineRun] = {}
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        by_id = {b.id: b for b in self.bridges}
        while len(twins) < len(victims):
            for bridge_id, victim in victims.items():
                count, start, _aim = aims[bridge_id]
                if bridge_id not in twins and (count() > start or not victim.running or time.monotonic() > deadline):
                    twins[bridge_id] = self.worker(flow, run_id, [by_id[bridge_id]])
            time.sleep(POLL_S)
        return twins

    def aim_and_kill(self, flow: str, victims: dict[str, PipelineRun], aims: dict) -> None:
        """SIGKILL each bridge's victim once its own progress reached its aim."""
        waiting = dict(victims)
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        while waiting and time.monotonic() < deadline:
            for bridge_id, victim in list(waiting.items()):
                count, start, aim = aims[bridge_id]
                moved = count() - start
                if moved < aim and victim.running:
                    continue
                if victim.running and victim.kill():
                    self.tally.of(bridge_id).kills[flow] = f"killed after {moved} steps (aimed at {aim})"
                else:
                    self.tally.of(bridge_id).kills[flow] = f"not killed: the run ended before {aim} steps"
                del waiting[bridge_id]
            time.sleep(POLL_S)
        for bridge_id in waiting:
            self.tally.of(bridge_id).kills[flow] = "not killed: no progress in time"

    def progress(self, flow: str, bridge: ChaosBridge, victim: PipelineRun):
        """The default step counter of ``flow`` (see ``doubled_and_killed``)."""
        if flow == "shipments":
            return lambda: self.applied_confirmations(bridge)
        if flow == "orders":
            return lambda: bridge.admin.counters().get("deliveryorder.create", {}).get("received", 0)
        return self.exchanges_of(f"{victim.run_id}-{flow}", bridge)

    def exchanges_of(self, run_id: str, bridge: ChaosBridge):
        """Requests to the warehouse one bridge's run has finished (its rows in wms_exchange_log)."""
        from wmsbridge.store.schema import exchange_log

        stmt = sa.select(sa.func.count()).where(exchange_log.c.run_id == run_id, exchange_log.c.bridge_id == bridge.id)

        def count() -> int:
            with self.store.connect() as conn:
                return conn.execute(stmt).scalar_one()
        return count

    def stock_adjustments(self, bridge: ChaosBridge):
        """Stock changes written (or being written) to the bridge's shop so far, by any run."""
        from wmsbridge.store.schema import stock_adjustment

        stmt = sa.select(sa.func.count()).where(stock_adjustment.c.bridge_id == bridge.id)

        def count() -> int:
            with self.store.connect() as conn:
                return conn.execute(stmt).scalar_one()
        return count

    def applied_confirmations(self, bridge: ChaosBridge) -> int:
        from wmsbridge.store.schema import shipment_inbox

        with self.store.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).where(
                shipment_inbox.c.bridge_id == bridge.id, shipment_inbox.c.state != "received")).scalar_one()

    # -- the deployment ------------------------------------------------------------------------------

    def run(self) -> audit.Result:
        """The shops and the store: SQLite files, or throwaway PostgreSQL databases. One bridge: the
        store in its shop database, as before."""
        if self.args.store != "postgresql":
            return self._run(self.sqlite_urls())
        databases = ThrowawayPostgres(self.args.postgres_url)
        try:
            return self._run(self.postgres_urls(databases))
        finally:
            databases.drop()

    def sqlite_urls(self) -> tuple[dict[str, str | None], str | None]:
        """No URL: ``demo.make_shop`` makes a fresh shop file (in the bridge's folder when several);
        the store's file is made fresh here (None: the shop's)."""
        if len(self.bridges) == 1:
            return {self.bridges[0].id: None}, None
        for stale in self.workdir.glob("store.sqlite*"):
            stale.unlink()
        return {b.id: None for b in self.bridges}, f"sqlite:///{self.workdir / 'store.sqlite'}"

    def postgres_urls(self, databases: ThrowawayPostgres) -> tuple[dict[str, str | None], str | None]:
        prefix = f"wms_chaos_{os.getpid()}"
        if len(self.bridges) == 1:
            return {self.bridges[0].id: databases.create(prefix)}, None
        shops = {b.id: databases.create(f"{prefix}_{b.id.replace('-', '_')}") for b in self.bridges}
        return shops, databases.create(f"{prefix}_store")

    def make_shop(self, bridge: ChaosBridge, url: str | None) -> None:
        """A generated shop (the same seed for every bridge: the same codes), its hostile rows, its mark."""
        args = self.args
        folder = self.workdir if len(self.bridges) == 1 else self.workdir / bridge.id
        folder.mkdir(exist_ok=True)
        bridge.shop_url, _ = demo.make_shop(folder, orders=args.orders, skus=args.skus, seed=args.seed,
                                            bad_share=args.bad_share, url=url)
        engine = sa.create_engine(bridge.shop_url)
        try:
            bridge.hostile = hostile.insert(engine)
            deployment.mark_orders(engine, bridge.marker)
        finally:
            engine.dispose()

    def _run(self, urls: tuple[dict[str, str | None], str | None]) -> audit.Result:
        args, step, bridges = self.args, self.step, self.bridges
        shop_urls, store_url = urls
        step(f"{len(bridges)} bridge(s) ({self.ids}): shops of {args.orders} orders and {args.skus} SKUs, seed "
             f"{args.seed}{' (the same codes in every shop)' if len(bridges) > 1 else ''}, store on {args.store}")
        for b in bridges:
            self.make_shop(b, shop_urls[b.id])
        step(f"hostile rows per shop: {len(bridges[0].hostile)} ({', '.join(h.label for h in bridges[0].hostile)})")
        for b in bridges:
            b.warehouse.start()
        store_url = store_url or bridges[0].shop_url
        self.env = deployment.environment(bridges, store_url, self.receiver, SETTINGS, QIMEN_EXTRA)
        demo.migrate_store(self.env, self.workdir / "migrate.log")
        self.server = ForkServer(self.env, self.workdir / "workers")  # imports while the receiver starts
        self.receiver.start(self.env)
        self.store = sa.create_engine(store_url)
        for b in bridges:
            b.shop = sa.create_engine(b.shop_url)
        try:
            self.server.wait_ready()
            return self.phases()
        finally:
            for worker in self.started:  # a run the chaos run itself left behind, on failure
                if worker.running:
                    worker.kill()
            self.server.stop()
            for b in bridges:
                b.shop.dispose()
            self.store.dispose()

    def phases(self) -> audit.Result:
        args, bridges = self.args, self.bridges
        for b in bridges:
            b.paid = self.paid_codes(b)
            b.admin.replace_faults(**FAULTS, hang_seconds=HANG_S, seed=args.seed + b.index)
        self.step("faults on at every warehouse: " + ", ".join(f"{k}={v}" for k, v in FAULTS.items())
                  + f", hang_seconds={HANG_S}, seed={args.seed} + the bridge's index")
        # each run of a pair does about half the work: the kill lands early in it, so it lands at all
        self.doubled_and_killed("items", args.skus // 8)
        for b in bridges:
            b.admin.seed_stock(deployment.warehouse_stock(b, self.store))
        self.doubled_and_killed("orders", lambda b: len(b.paid) // 8, staggered=True)
        for b in bridges:
            self.ship_and_replay(b)
        self.attack_receiver()
        self.doubled_and_killed("shipments", lambda b: len(b.shipped) // 4)
        for b in bridges:
            self.refund(b)
        self.doubled_and_killed("cancels", lambda b: len(b.refunds["unshipped"]) // 4)
        for b in bridges:
            self.approve_returns(b)
        self.doubled_and_killed("returns", lambda b: len(b.returned) // 2)
        for b in bridges:
            self.receive_returns_and_reports(b)
        self.doubled_and_killed("returns", 3, progress=self.stock_adjustments)
        self.doubled_and_killed("stock_changes", 2, progress=self.stock_adjustments)
        self.doubled_and_killed("inventory", args.skus // 20)  # calls of 5 items, 10 a second
        for b in bridges:
            self.tally.of(b.id).faults_seen = Counter(r["fault"] for r in b.admin.requests() if r["fault"])
            b.admin.replace_faults()
        self.step("faults off: " + "; ".join(
            f"{b.id} " + ", ".join(f"{k} {n}" for k, n in sorted(self.tally.of(b.id).faults_seen.items()))
            for b in bridges) + " injected; the flows run again until nothing is due")
        self.converge()
        return self.audit()

    def audit(self) -> audit.Result:
        """Each bridge against its own shop, warehouse and store rows; then across bridges."""
        result = audit.Result()
        for b in self.bridges:
            found = audit.check(b.id, b.shop, self.store, b.admin, paid=b.paid, refunds=b.refunds,
                                hostile=b.hostile, returned=b.returned)
            found.crossing = audit.check_crossing(b, b.shop, self.store, b.admin)
            result.bridges[b.id] = found
        result.stray = audit.stray_rows(self.store, [b.id for b in self.bridges])
        return result

    # -- what the shops and the warehouses do --------------------------------------------------------

    def paid_codes(self, bridge: ChaosBridge) -> list[str]:
        with bridge.shop.connect() as conn:
            return list(conn.execute(sa.text("SELECT order_no FROM shop_order WHERE status = 'paid' ORDER BY order_no"))
                        .scalars())

    def ship_and_replay(self, bridge: ChaosBridge) -> None:
        """The warehouse ships three in four accepted orders (also ones our store has not recorded as
        sent yet: a killed push), confirmations newest first, tracking numbers under the bridge's
        prefix; every fifth is posted twice more, and a random tenth is replayed in reverse order."""
        admin, url = bridge.admin, bridge.callback_url(self.receiver.port)
        accepted = sorted(o["order_code"] for o in admin.orders() if o["status"] == "ACCEPT")
        to_ship = [c for i, c in enumerate(accepted) if i % 4 != 3]
        deliveries = []
        for i in range(0, len(to_ship), demo.SHIP_CHUNK):
            chunk = to_ship[i:i + demo.SHIP_CHUNK]
            tracking = {code: f"{bridge.tracking_prefix}{i + n + 1:08d}" for n, code in enumerate(chunk)}
            deliveries += admin.ship(chunk, callback_url=url, shape="juxing", out_of_order=True,
                                     express_codes=tracking)["deliveries"]
        codes = [d["out_biz_code"] for d in deliveries]
        for code in codes[::5]:
            deliveries += admin.resend_confirm(code, times=2, callback_url=url)["deliveries"]
        replay = self.rng.sample(codes, max(1, len(codes) // 10)) if codes else []
        if replay:
            deliveries += admin.deliver(replay[::-1], callback_url=url)["deliveries"]
        confirmations = self.tally.of(bridge.id).confirmations
        confirmations.update("accepted" if "<flag>success</flag>" in (d.get("answer") or "") else "refused"
                             for d in deliveries)
        confirmations.update(shipped=len(to_ship), duplicates=2 * len(codes[::5]), replayed=len(replay))
        bridge.shipped = to_ship
        self.step(f"{bridge.id}'s warehouse shipped {len(to_ship)} of {len(accepted)} accepted orders (newest "
                  f"confirmation first), posted {2 * len(codes[::5])} duplicates and replayed {len(replay)}")

    def attack_receiver(self) -> None:
        """Every attack under every bridge's token (and a bridge's real confirmation under the next
        bridge's token, with its own customerId); nothing may be stored, the receiver stays up."""
        from wmsbridge.store.schema import shipment_inbox

        def stored() -> int:
            with self.store.connect() as conn:
                return conn.execute(sa.select(sa.func.count()).select_from(shipment_inbox)).scalar_one()

        before = stored()
        for n, b in enumerate(self.bridges):
            confirmations = b.admin.confirmations()
            sample = confirmations[0]["body"].encode("utf-8") if confirmations else b"<request/>"
            other = self.bridges[(n + 1) % len(self.bridges)]
            wrong_account = (other.token, b.customer_id) if other is not b else None
            self.tally.of(b.id).attacks = attacks.attack(self.receiver.port, b.token, sample, flood=self.args.flood,
                                                         wrong_account=wrong_account)
        self.tally.stored_by_attacks = stored() - before
        self.tally.receiver_up = self.receiver.healthy() and self.receiver.process.poll() is None
        reports = [self.tally.of(b.id).attacks for b in self.bridges]
        self.step(f"receiver attacked under {len(reports)} token(s): {sum(sum(r.refused.values()) for r in reports)} of "
                  f"{sum(sum(r.sent.values()) for r in reports)} hostile callbacks refused, "
                  f"{self.tally.stored_by_attacks} rows stored, receiver " + ("up" if self.tally.receiver_up else "DOWN"))

    def refund(self, bridge: ChaosBridge) -> None:
        """The shop refunds half of the unshipped accepted orders (each bridge another half, so a
        cancel at the wrong warehouse shows), one shipped and one never sent."""
        from wmsbridge.store.schema import order_sync

        with self.store.connect() as conn:
            states = dict(conn.execute(sa.select(order_sync.c.delivery_order_code, order_sync.c.state)
                                       .where(order_sync.c.bridge_id == bridge.id)).all())
        unshipped = sorted(o["order_code"] for o in bridge.admin.orders() if o["status"] == "ACCEPT")
        bridge.refunds = {"unshipped": unshipped[bridge.index % 2::2], "shipped": bridge.shipped[:1],
                          "never_sent": [c for c, s in sorted(states.items()) if s == "rejected"][:1]}
        demo.refund(bridge.shop, [c for group in bridge.refunds.values() for c in group])
        self.step(f"{bridge.id}'s shop refunded {len(bridge.refunds['unshipped'])} unshipped, "
                  f"{len(bridge.refunds['shipped'])} shipped and {len(bridge.refunds['never_sent'])} never sent orders")

    def approve_returns(self, bridge: ChaosBridge) -> None:
        """The shop approves returns: of the order refunded after shipment, and of one in three more
        shipped orders (each bridge other ones; returns the warehouse must be told of while it is faulty)."""
        codes = bridge.shipped[:1] + bridge.shipped[2 + bridge.index % 3::3]
        demo.approve_returns(bridge.shop, codes)
        bridge.returned = [demo.RETURN_PREFIX + c for c in codes]
        self.step(f"{bridge.id}'s shop approved {len(codes)} returns of shipped orders")

    def receive_returns_and_reports(self, bridge: ChaosBridge) -> None:
        """Faults still on: the warehouse receives every return it was told of (every other one's
        confirmation posted twice more), and reports stock changes: a purchase inbound (posted three
        times), a stocktake loss, and the sale of one of our orders (the shop counted that one). Each
        bridge's warehouse moves other items, by other quantities; then its shortage and progress reports."""
        admin, url, k = bridge.admin, bridge.callback_url(self.receiver.port), bridge.index
        announced = sorted(r["return_code"] for r in admin.returns())
        for n, code in enumerate(announced):
            admin.receive_return(code, callback_url=url, repeat=2 if n % 2 else 0)
        codes = sorted(i["item_code"] for i in admin.items())
        items = codes[3 * k:3 * k + 3] or codes[:3]
        shipped = sorted(o["order_code"] for o in admin.orders() if o["status"] != "ACCEPT")[:1]
        if items:
            admin.seed_stock([{"itemCode": code, "quantity": 500 + 100 * k} for code in items])
            admin.report_stock_change([{"itemCode": items[0], "quantity": 7 + k}], order_code="CG-CHAOS",
                                      order_type="CGRK", repeat=2, callback_url=url)
            admin.report_stock_change([{"itemCode": items[-1], "quantity": -2 - k}], order_type="PKCK", callback_url=url)
            if shipped:
                admin.report_stock_change([{"itemCode": items[1 % len(items)], "quantity": -1}],
                                          order_code=shipped[0], order_type="JYCK", callback_url=url)
        reported = self.report_problems(bridge)
        self.step(f"{bridge.id}'s warehouse received {len(announced)} returns (duplicates posted), reported 3 stock "
                  f"changes and {reported} shortages and progress reports (some twice)")

    def report_problems(self, bridge: ChaosBridge) -> int:
        """The warehouse's own reports: a shortage of an order it has not shipped (posted twice more),
        a rejection of another, a failed courier intercept and a delivery of shipped ones; how many."""
        admin, url = bridge.admin, bridge.callback_url(self.receiver.port)
        orders = admin.orders()
        waiting = sorted(o["order_code"] for o in orders if o["status"] == "ACCEPT")
        left = sorted(o["order_code"] for o in orders if o["status"] not in ("ACCEPT", "CANCELED"))
        posts = [(admin.report_lack, code, {"repeat": 2}) for code in waiting[:1]]
        posts += [(admin.report_process, code, {"status": "REJECT"}) for code in waiting[1:2]]
        posts += [(admin.report_process, code, {"status": status, "repeat": 1})
                  for code, status in zip(left[:2], ("TMSCANCELFAILED", "SIGN"))]
        for post, code, options in posts:
            post(code, callback_url=url, **options)
        return len(posts)

    # -- convergence ---------------------------------------------------------------------------------

    def converge(self) -> None:
        """Faults off, one lease later: every flow, one run at a time (each for every bridge, one
        after the other, as a mapped task's instances may run), until nothing is due."""
        time.sleep(LEASE_S + 0.5)
        self.age_stranded_returns()
        for round_ in range(1, MAX_CONVERGE_ROUNDS + 1):
            self.settle(self.worker(",".join(FLOW_ORDER), self.dag_run(f"converge{round_}"), self.bridges))
            self.tally.converge_rounds = round_
            due = {b.id: d for b in self.bridges if (d := self.due(b))}
            if not due:
                break
            self.step(f"converge round {round_}: still due {due}")
            time.sleep(LEASE_S + 0.5)
        self.step(f"converged after {self.tally.converge_rounds} round(s)")

    def age_stranded_returns(self) -> None:
        """A return a killed run left ``sending`` is taken over by the first run after
        ``sending_stale_minutes`` (15 by default, as chaos leaves it; returns have no lease to
        expire). Chaos compresses time (a 3 s lease, no backoff) but that setting counts whole
        minutes, so it moves their last change that far into the past: the takeover and its re-send
        are then checked like every other recovery. Counted per bridge."""
        from wmsbridge.store.returns import DEFAULT_STALE_SENDING
        from wmsbridge.store.schema import return_sync

        t = return_sync.c
        with self.store.begin() as conn:
            for b in self.bridges:
                stranded = conn.execute(sa.select(t.id, t.updated_at).where(
                    t.bridge_id == b.id, t.state == "sending")).all()
                for row_id, updated_at in stranded:
                    conn.execute(sa.update(return_sync).where(t.id == row_id, t.state == "sending").values(
                        updated_at=updated_at - DEFAULT_STALE_SENDING - timedelta(seconds=1)))
                self.tally.of(b.id).aged_returns = len(stranded)
        if any(self.tally.of(b.id).aged_returns for b in self.bridges):
            self.step("returns left `sending` by a SIGKILL, aged past the 15-minute takeover: " + ", ".join(
                f"{b.id} {self.tally.of(b.id).aged_returns}" for b in self.bridges))

    def due(self, bridge: ChaosBridge) -> dict[str, int]:
        """Work a next run would still take for ``bridge``: orders to (re)send or cancel,
        confirmations to apply."""
        from wmsbridge.store.schema import item_sync, order_sync, return_sync, shipment_inbox, warehouse_report

        o, i, r = order_sync.c, item_sync.c, return_sync.c
        queries = {
            "orders": (order_sync, o.state.in_(("pending", "sending", "cancel_requested"))
                       | ((o.state == "failed") & (o.last_error_retryable == sa.true()))),
            "items": (item_sync, i.state.in_(("pending", "failed"))),
            "confirmations": (shipment_inbox, shipment_inbox.c.state.in_(("received", "waiting"))),
            "returns": (return_sync, r.state.in_(("pending", "sending"))
                        | ((r.state == "failed") & (r.last_error_retryable == sa.true()))),
            "warehouse reports": (warehouse_report, warehouse_report.c.state == "received"),
        }
        with self.store.connect() as conn:
            counts = {k: conn.execute(sa.select(sa.func.count()).select_from(table).where(
                table.c.bridge_id == bridge.id, where)).scalar_one() for k, (table, where) in queries.items()}
        return {k: v for k, v in counts.items() if v}
