"""``make demo``: a whole bridge on one machine, from nothing, in well under two minutes.

python -m wmsbridge.demo [--orders 3000] [--seed 1] [--workdir .demo]

1. a fresh SQLite shop (reference profile) filled by the generator, some orders bad on purpose;
2. the WMS simulator as a real subprocess on a free port, with a secret and a customer id;
3. ``python -m wmsbridge.store upgrade`` (the deploy step), then ``airflow dags test wms_item_sync`` then ``airflow dags test wms_order_push``, pointed at both
   through the usual environment variables (AIRFLOW_CONN_SHOP_DB, AIRFLOW_CONN_QIMEN_DEFAULT,
   WMS_BRIDGE_CONFIG), their output into ``<workdir>/airflow.log``;
4. a short report read from the integration store, cross-checked against the simulator's counters.

Everything it starts is stopped again, also on failure. Every run starts clean: a new shop file
(hence a new integration store, whose first item run scans every SKU whatever Airflow's run
history says) and a fresh simulator. The Airflow metadata DB (``$AIRFLOW_HOME``) is the project's
own and must exist (``make airflow-home``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlalchemy as sa

DAGS = ("wms_item_sync", "wms_order_push")
PROFILE = "reference"
# Codes of 5+ characters: Airflow warns about shorter connection-extra strings (docs/local-airflow.md).
WAREHOUSE_CODE, OWNER_CODE, CUSTOMER_ID, APP_KEY = "WH-HZ-01", "OWNER01", "DEMO-CUSTOMER", "demo-app"
# The shop's own sender (there is no default: the warehouse prints it on every waybill).
DEMO_SENDER = {"name": "演示商城发货组", "mobile": "13912345678", "province": "浙江省", "city": "杭州市",
               "area": "余杭区", "detail": "文一西路 998 号 演示仓"}
READY = re.compile(r"wms simulator ready: (\S+)")
EXAMPLES = 3  # order codes shown per rejection reason
LOG_TAIL = 60  # lines of airflow.log shown when a DAG run fails


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and where its log is."""


# -- the shop --------------------------------------------------------------------------------------


def make_shop(workdir: Path, *, orders: int, skus: int, seed: int, bad_share: float) -> tuple[str, dict]:
    """A new shop file (any previous one and its store are deleted) and the generator's manifest."""
    from wmsbridge.synthetic.generator import generate

    shop_file = workdir / "shop.sqlite"
    for stale in workdir.glob("shop.sqlite*"):  # the file and its -wal/-shm companions
        stale.unlink()
    url = f"sqlite:///{shop_file}"
    engine = sa.create_engine(url)
    try:
        manifest = generate(engine, PROFILE, orders=orders, skus=skus, seed=seed, bad_share=bad_share)
    finally:
        engine.dispose()
    (workdir / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    return url, asdict(manifest)


# -- the simulator ---------------------------------------------------------------------------------


@dataclass
class Simulator:
    """``python -m wms_simulator`` in its own process; stderr (one line per request) goes to a file
    rather than a pipe, which nobody would drain and which would block the server once full."""

    log_path: Path
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen | None = None
    base_url: str = ""

    def start(self, timeout: float = 30.0) -> "Simulator":
        log = self.log_path.open("w", encoding="utf-8")
        cmd = [sys.executable, "-m", "wms_simulator", "--host", "127.0.0.1", "--port", "0",
               "--secret", self.secret, "--customer-id", CUSTOMER_ID,
               "--warehouse-code", WAREHOUSE_CODE, "--owner-code", OWNER_CODE]
        self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # port 0: the ready line names the port it got
            match = READY.search(self.log_path.read_text(encoding="utf-8", errors="replace"))
            if match:
                self.base_url = match.group(1)
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise DemoError(f"the simulator did not start; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @property
    def admin(self):
        from wms_simulator import SimulatorAdmin

        return SimulatorAdmin(self.base_url)


# -- Airflow ---------------------------------------------------------------------------------------


def airflow_env(shop_url: str, sim: Simulator) -> dict[str, str]:
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
    env["WMS_BRIDGE_CONFIG"] = json.dumps({"profile": PROFILE, "default_logistics_code": "YTO", "sender": DEMO_SENDER})
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


def run_dag(dag_id: str, env: dict[str, str], log_path: Path, timeout: float) -> None:
    """``airflow dags test <dag_id>``: one real DAG run (tasks in process, recorded in the metadata DB).

    The CLI exits non-zero when the run fails; its whole output goes to ``log_path``.
    """
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"\n===== airflow dags test {dag_id} =====\n")
        log.flush()
        try:
            done = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", dag_id], env=env,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DemoError(f"{dag_id} did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        raise DemoError(f"{dag_id} failed (exit {done.returncode})")


# -- the report ------------------------------------------------------------------------------------


@dataclass
class DemoReport:
    paid_orders: int
    skus_in_shop: int
    items: dict[str, int]           # wms_item_sync state -> count
    orders: dict[str, int]          # wms_order_sync state -> count
    reasons: dict[str, list[str]]   # rejection reason -> order codes (all of them)
    warehouse_items: int
    warehouse_orders: int
    creates_received: int
    problems: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.orders.get("sent", 0)

    @property
    def rejected(self) -> int:
        return self.orders.get("rejected", 0)

    @property
    def held(self) -> int:
        return self.orders.get("pending", 0)

    @property
    def failed(self) -> int:
        return self.orders.get("failed", 0) + self.orders.get("sending", 0)

    def as_dict(self) -> dict:
        return {**asdict(self), "sent": self.sent, "rejected": self.rejected, "held": self.held,
                "failed": self.failed}

    def lines(self) -> list[str]:
        out = [
            f"SKUs synchronized : {self.items.get('synced', 0)} of {self.skus_in_shop}"
            f" (rejected {self.items.get('rejected', 0)}, failed {self.items.get('failed', 0)})",
            f"paid orders       : {self.paid_orders}",
            f"  sent            : {self.sent}",
            f"  rejected        : {self.rejected}" + ("  by reason (an order may have several):" if self.reasons else ""),
        ]
        for reason, codes in sorted(self.reasons.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            more = f", ... (+{len(codes) - EXAMPLES})" if len(codes) > EXAMPLES else ""
            out.append(f"    {len(codes):4d}  {reason}  e.g. {', '.join(codes[:EXAMPLES])}{more}")
        out += [
            f"  held (waiting)  : {self.held}",
            f"  failed          : {self.failed}",
            f"warehouse (simulator): {self.warehouse_items} items, {self.warehouse_orders} orders,"
            f" {self.creates_received} deliveryorder.create received",
        ]
        out.append("cross-check       : " + ("OK" if not self.problems else "MISMATCH: " + "; ".join(self.problems)))
        return out


_CODE_LIKE = re.compile(r"\b[A-Z]*\d[\w-]*\b")


def reason_key(violation: str) -> str:
    """Group rejections by kind: the violation with codes and numbers in it blanked out."""
    return _CODE_LIKE.sub("…", violation)


def collect_report(shop_url: str, manifest: dict, sim: Simulator) -> DemoReport:
    from wmsbridge.store.schema import item_sync, order_sync

    engine = sa.create_engine(shop_url)
    try:
        with engine.connect() as conn:
            items = dict(conn.execute(sa.select(item_sync.c.state, sa.func.count()).group_by(item_sync.c.state)).all())
            orders = dict(conn.execute(sa.select(order_sync.c.state, sa.func.count()).group_by(order_sync.c.state)).all())
            rejected = conn.execute(sa.select(order_sync.c.delivery_order_code, order_sync.c.violations)
                                    .where(order_sync.c.state == "rejected")
                                    .order_by(order_sync.c.delivery_order_code)).all()
    finally:
        engine.dispose()
    reasons: dict[str, list[str]] = {}
    for code, violations in rejected:
        for key in sorted({reason_key(v) for v in json.loads(violations or "[]")} or {"(no reason recorded)"}):
            reasons.setdefault(key, []).append(code)

    admin = sim.admin
    counters = admin.counters()
    report = DemoReport(
        paid_orders=manifest["status_counts"].get("paid", 0),
        skus_in_shop=manifest["skus"],
        items=items, orders=orders, reasons=reasons,
        warehouse_items=len(admin.items()),
        warehouse_orders=len(admin.orders()),
        creates_received=counters.get("deliveryorder.create", {}).get("received", 0),
    )
    report.problems = cross_check(report, manifest, counters)
    return report


def cross_check(report: DemoReport, manifest: dict, counters: dict) -> list[str]:
    """What the store says against what the warehouse saw and what the generator made."""
    problems = []
    accounted = report.sent + report.rejected + report.held + report.failed
    if accounted != report.paid_orders:
        problems.append(f"store accounts for {accounted} orders, the shop has {report.paid_orders} paid")
    if report.sent != report.warehouse_orders:
        problems.append(f"store: {report.sent} sent, warehouse holds {report.warehouse_orders}")
    created = counters.get("deliveryorder.create", {}).get("success", 0)
    if created != report.sent:
        problems.append(f"warehouse answered success to {created} creates for {report.sent} sent orders")
    if report.items.get("synced", 0) != report.warehouse_items:
        problems.append(f"store: {report.items.get('synced', 0)} items synced, warehouse holds {report.warehouse_items}")
    # Every order the generator spoiled must be refused (real addresses may add a few more, e.g. a
    # city without districts: the warehouse requires an area).
    missed = sorted(set(manifest["bad_orders"]) - {c for codes in report.reasons.values() for c in codes})
    if missed:
        problems.append(f"{len(missed)} bad orders not rejected, e.g. {', '.join(missed[:EXAMPLES])}")
    return problems


# -- the driver ------------------------------------------------------------------------------------


def tail(path: Path, lines: int = LOG_TAIL) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def run(args: argparse.Namespace) -> int:
    if not os.environ.get("AIRFLOW_HOME"):
        print("AIRFLOW_HOME is not set: run `make demo`, or `source ./env.sh` first", file=sys.stderr)
        return 2
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    airflow_log, sim_log = workdir / "airflow.log", workdir / "simulator.log"
    airflow_log.write_text("", encoding="utf-8")
    started = time.monotonic()
    sim = Simulator(sim_log)

    def step(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    try:
        step(f"shop: {args.orders} orders, {args.skus} SKUs (seed {args.seed}) -> {workdir / 'shop.sqlite'}")
        shop_url, manifest = make_shop(workdir, orders=args.orders, skus=args.skus, seed=args.seed,
                                       bad_share=args.bad_share)
        sim.start()
        step(f"simulator: {sim.base_url} (log {sim_log})")
        env = airflow_env(shop_url, sim)
        step("python -m wmsbridge.store upgrade (the deploy step: tasks only check the store's revision)")
        migrate_store(env, airflow_log)
        for dag_id in DAGS:
            step(f"airflow dags test {dag_id} (log {airflow_log})")
            run_dag(dag_id, env, airflow_log, args.dag_timeout)
        report = collect_report(shop_url, manifest, sim)
    except DemoError as exc:
        print(f"demo FAILED: {exc}\n--- last lines of {airflow_log} ---\n{tail(airflow_log)}", file=sys.stderr)
        return 1
    finally:
        sim.stop()
    (workdir / "report.json").write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    step("done\n")
    print("\n".join(report.lines()))
    return 0 if not report.problems else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wmsbridge.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000, help="orders in the shop (default 3000)")
    parser.add_argument("--skus", type=int, default=300, help="SKUs in the shop (default 300)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--bad-share", type=float, default=0.05, help="share of bad orders (default 0.05)")
    parser.add_argument("--workdir", default=".demo", help="where the shop, logs and report go (git-ignored)")
    parser.add_argument("--dag-timeout", type=float, default=300, help="seconds one DAG run may take")
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the simulator is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
