"""The Celery deployment for real: `make airflow EXECUTOR=celery` (celery.env's settings, as compose
reads them), the scheduler and TWO Celery workers, each like a machine of its own (session and
process group, host name, TMPDIR, WMS_RATE_LIMIT_DIR), run the five flows against the simulator with
the reference demo shop. One worker is SIGKILLed in the middle of an order push: every process of its
session, the task runners too (the Task SDK gives each its own process group, which a kill of the
worker's group alone would leave running, orphaned).

Proved: tasks ran on both workers (task_instance.hostname in Airflow's metadata database); the killed
push is failed by the scheduler when its heartbeats stop and retried on the surviving worker; every
valid order is created exactly once at the warehouse (its own request log: one "order accepted" per
deliveryOrderCode) and recorded so in wms_order_sync, and the audit of `make chaos` finds nothing lost
or doubled in any flow; the warehouse's request log shows no one-second window above the connection's
rate, though two pushes ran at once on the two workers (the limit shared through WMS_RATE_LIMIT_URL).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import datetime

import pytest
import sqlalchemy as sa
from celery_stack import CeleryAirflow, celery_airflow, worker_tail
from databases import throwaway_database
from wms_simulator import SimulatorAdmin

from wmsbridge.store.schema import order_sync
from wmsbridge_tools import demo, localairflow
from wmsbridge_tools.chaos import audit

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("celery_workers")]

ORDERS = 360  # the demo shop's orders (about a third paid); 36 SKUs
RATE = 8.0  # the qimen connection's max_requests_per_second for the test: the pushes take seconds
# The simulator stamps a request when it arrives, the limiter when it starts: on a loaded 2-core machine
# the time between varies by up to a few hundred ms. Starts RATE a second apart arrive within at least
# 1 - JITTER_S s of each other; at twice the rate (a limit per worker) a window that long holds ~12.
JITTER_S = 0.25
LEASE_S = 6  # sending_lease_seconds: the killed push's claims are free again before its retry runs
SETTINGS = {
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",  # two tasks at once are on two workers
    # the scheduler notices a dead worker's task within seconds (default 300 s)
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "3",
}
CREATE = "deliveryorder.create"
ORDER_CODE = re.compile(r"<deliveryOrderCode>([^<]+)</deliveryOrderCode>")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("celery-airflow")
    with throwaway_database("postgresql", tmp, prefix="airflow_celery") as db_url, \
            celery_airflow(tmp, db_url.render_as_string(hide_password=False), orders=ORDERS, extra_env=SETTINGS) as s:
        yield s


def busiest_window(times: list[float], window: float) -> int:
    """The most requests inside any half-open interval [t, t + window)."""
    times = sorted(times)
    return max((sum(1 for u in times[i:] if u - t < window) for i, t in enumerate(times)), default=0)


def created_codes(admin: SimulatorAdmin) -> Counter:
    """deliveryorder.create requests the warehouse received, per deliveryOrderCode (answered or not)."""
    return Counter(code for r in admin.requests(method=CREATE) for code in ORDER_CODE.findall(r["body"] or "")[:1])


def arrival(request: dict) -> float:
    return datetime.fromisoformat(request["received_at"]).timestamp()


def metadata_hostnames(stack: CeleryAirflow) -> dict[tuple[str, str, str, int], str | None]:
    """(dag_id, run_id, task_id, try_number) -> hostname of every try: task_instance and, for the
    tries before a retry, task_instance_history, in Airflow's metadata database."""
    engine = sa.create_engine(stack.airflow.db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT dag_id, run_id, task_id, try_number, hostname FROM task_instance"
                " UNION ALL SELECT dag_id, run_id, task_id, try_number, hostname FROM task_instance_history")).all()
    finally:
        engine.dispose()
    return {(d, r, t, n): h for d, r, t, n, h in rows}


def configure(stack: CeleryAirflow) -> None:
    """A low request rate on the warehouse connection and a short sending lease in the Variable (the
    launcher's own settings otherwise: the API answers them with the secrets masked)."""
    air = stack.airflow
    extra = {"customer_id": localairflow.DEMO_CUSTOMER_ID, "owner_code": localairflow.DEMO_OWNER_CODE,
             "warehouse_code": localairflow.DEMO_WAREHOUSE_CODE, "max_requests_per_second": RATE}
    answer = air.api("PATCH", "/api/v2/connections/qimen_default", params={"update_mask": "extra"},
                     json={"connection_id": "qimen_default", "conn_type": "qimen", "extra": json.dumps(extra)})
    assert answer.status_code == 200, answer.text
    keys = json.loads((stack.state / "secrets.json").read_text())
    config = json.loads(localairflow.bridge_config(keys, simulated=True))
    config["sending_lease_seconds"] = LEASE_S
    answer = air.api("PATCH", "/api/v2/variables/wms_bridge_config",
                     json={"key": "wms_bridge_config", "value": json.dumps(config)})
    assert answer.status_code == 200, answer.text


def wait_success(stack: CeleryAirflow, runs: dict[str, str], timeout: float = 240) -> None:
    for dag_id, run_id in runs.items():
        run = stack.airflow.wait_run(dag_id, run_id, timeout)
        assert run["state"] == "success", (
            f"{dag_id} {run_id}: {run['state']}\n{stack.task_instances(dag_id, run_id)}\n{worker_tail(stack)}")


def test_five_flows_on_two_celery_workers_one_killed_mid_push(stack: CeleryAirflow):
    started = time.monotonic()
    air, workers = stack.airflow, {w.hostname: w for w in stack.workers()}
    assert len(workers) == 2 and all(w.alive() for w in workers.values())
    assert len({w.sid for w in workers.values()} | {w.folder for w in workers.values()}) == 4, workers
    dag_ids = {"wms_item_sync", "wms_order_push", "wms_order_push_manual", "wms_shipments", "wms_order_cancel",
               "wms_inventory_sync"}
    assert dag_ids <= air.wait_for_dags(dag_ids)
    configure(stack)
    admin = SimulatorAdmin(air.api("GET", "/api/v2/connections/qimen_default").json()["host"])
    shop = sa.create_engine(f"sqlite:///{air.home / 'demo' / 'shop.sqlite'}")
    try:
        with shop.connect() as conn:
            paid = list(conn.execute(sa.text("SELECT order_no FROM shop_order WHERE status = 'paid' ORDER BY order_no"))
                        .scalars())
        assert len(paid) > 60, len(paid)

        # 1. items
        wait_success(stack, {"wms_item_sync": stack.trigger("wms_item_sync")})
        print(f"items done at {time.monotonic() - started:.0f} s")

        # 2. two pushes at once, one per worker (concurrency 1), each half of the orders (the API's
        #    conf); the manual one's worker dies mid-push
        runs = {"wms_order_push": stack.trigger("wms_order_push", {"order_codes": paid[0::2]}),
                "wms_order_push_manual": stack.trigger("wms_order_push_manual",
                                                       {"dry_run": False, "order_codes": paid[1::2]})}
        victim, both_at_once, half = None, False, set(paid[1::2])
        deadline = time.monotonic() + 180
        while victim is None and time.monotonic() < deadline:
            pushes = {d: next((t for t in stack.task_instances(d, r) if t["task_id"] == "push"), None)
                      for d, r in runs.items()}
            running = {d: t["hostname"] for d, t in pushes.items() if t and t["state"] == "running" and t["hostname"]}
            both_at_once = both_at_once or len(set(running.values())) == 2
            # what the manual push itself has sent: a kill in its first group leaves answers unrecorded
            sent_by_victim = set(created_codes(admin)) & half
            if "wms_order_push_manual" in running and both_at_once and len(sent_by_victim) >= 8:
                victim = workers[running["wms_order_push_manual"]]
                victim.kill()
            time.sleep(0.2)
        assert victim is not None, f"the two pushes never sent at once: {pushes}\n{worker_tail(stack)}"
        survivor = next(w for w in workers.values() if w is not victim)
        print(f"killed {victim.hostname} (session {victim.sid}) after its push sent {len(sent_by_victim)} of "
              f"{len(half)} orders, at {time.monotonic() - started:.0f} s")
        assert victim.gone(), f"every process of the killed worker is gone, task runners included: {victim.members()}"
        wait_success(stack, runs, timeout=300)
        reports = {d: stack.xcom(d, r, "push") for d, r in runs.items()}
        print(f"pushes done at {time.monotonic() - started:.0f} s: "
              + "; ".join(f"{d} {r['counts']}" for d, r in reports.items()))
        assert survivor.alive()
        warehouse_creates = admin.counters()[CREATE]["received"]
        assert len(sent_by_victim) < len(set(created_codes(admin)) & half), \
            "killed mid-push: not all of its orders were out"
        assert reports["wms_order_push_manual"]["counts"]["recovered"] > 0, \
            "the retry took over the orders the killed try had claimed and re-sent them under the same codes"

        # 3. shipments and cancels: the warehouse ships half of what it accepted, the shop refunds
        #    three accepted orders it did not ship and one it never sent
        token = stack.secret("callback_token")
        accepted = sorted(o["order_code"] for o in admin.orders() if o["status"] == "ACCEPT")
        shipped, unshipped = accepted[::2], accepted[1::2]
        posted = admin.ship(shipped, callback_url=f"{air.base}/wms/qimen/callback?token={token}")["deliveries"]
        assert len(posted) == len(shipped) and all("<flag>success</flag>" in (d.get("answer") or "") for d in posted), \
            posted[:2]
        with shop.connect() as conn:
            rejected = sorted(conn.execute(sa.select(order_sync.c.delivery_order_code)
                                           .where(order_sync.c.state == "rejected")).scalars())
        refunds = {"unshipped": unshipped[:3], "shipped": [], "never_sent": rejected[:1]}
        demo.refund(shop, [c for group in refunds.values() for c in group])
        wait_success(stack, {"wms_shipments": stack.trigger("wms_shipments"),
                             "wms_order_cancel": stack.trigger("wms_order_cancel")})
        # 4. the day's stock
        wait_success(stack, {"wms_inventory_sync": stack.trigger("wms_inventory_sync")})
        print(f"flows done at {time.monotonic() - started:.0f} s")

        # -- where the tasks ran: both machines; the killed push retried on the survivor
        hosts = metadata_hostnames(stack)
        assert {h for h in hosts.values() if h} == set(workers), Counter(hosts.values())
        manual = {n: h for (d, r, t, n), h in hosts.items()
                  if (d, r, t) == ("wms_order_push_manual", runs["wms_order_push_manual"], "push")}
        assert manual == {1: victim.hostname, 2: survivor.hostname}, manual

        # -- nothing lost, nothing twice: the warehouse's own records against the shop and the store
        requests = admin.requests()
        created = audit.per_code(requests, CREATE, "order accepted", ("deliveryOrder", "deliveryOrderCode"))
        held = {o["order_code"] for o in admin.orders()}
        assert set(created) == held and set(created.values()) == {1}, {c: n for c, n in created.items() if n != 1}
        with shop.connect() as conn:
            states = dict(conn.execute(sa.select(order_sync.c.delivery_order_code, order_sync.c.state)).all())
        assert held <= set(paid)
        assert {c: states.get(c) for c in held if states.get(c) not in audit.AT_WAREHOUSE} == {}
        assert {c: states.get(c) for c in set(paid) - held if states.get(c) not in audit.VISIBLE_UNSENT} == {}
        found = audit.check(demo.DEFAULT_BRIDGE, shop, shop, admin, paid=paid, refunds=refunds)
        assert (found.lost, found.duplicated) == (0, 0), found.lines()

        # -- one request rate across both workers, as the warehouse saw it
        times = [arrival(r) for r in requests]
        busiest = busiest_window(times, 1.0 - JITTER_S)
        assert busiest <= RATE, (
            f"{busiest} requests within {1 - JITTER_S:.2f} s (busiest 1 s: {busiest_window(times, 1.0)}), "
            f"limit {RATE:g}/s: the workers do not share one limit (WMS_RATE_LIMIT_URL={stack.rate_limit_url})")
        print(f"{len(requests)} requests, {len(held)} orders at the warehouse ({warehouse_creates} {CREATE}: "
              f"{warehouse_creates - len(held)} re-sent under the same code after the kill, answered as repeats), "
              f"busiest second {busiest_window(times, 1.0)}; checks done at {time.monotonic() - started:.0f} s")
    finally:
        shop.dispose()


def test_ctrl_c_stops_both_workers(stack: CeleryAirflow):
    """The launcher stops the surviving worker (its own session: Ctrl-C does not reach it) and leaves
    nothing behind."""
    survivors = [w for w in stack.workers() if w.alive()]
    assert survivors, "one worker still runs"
    assert stack.airflow.stop() in (0, -2), stack.airflow.output.read_text()[-3000:]
    assert [w.hostname for w in survivors if not w.gone()] == []
    assert stack.airflow.leftovers() == []
