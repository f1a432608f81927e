"""`python -m wmsbridge_tools.demo` (what `make demo` runs), twice, as a user would: real subprocesses
for the driver, the simulator, the standalone receiver and `airflow dags test`.

Every stage must do work (items, orders, shipments through the receiver, cancels with one refund
after shipment left for a person, the daily inventory), the report must agree with the shop file
and the store read here, and every exchange must be in wms_exchange_log. The second run must start
clean: a new shop and a fresh simulator, and Airflow's run history of the first run must not make
it see nothing.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import pytest
import sqlalchemy as sa

ORDERS, SKUS = 240, 30


def run_demo(workdir) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "wmsbridge_tools.demo", "--orders", str(ORDERS), "--skus", str(SKUS), "--seed", "5",
         "--bad-share", "0.1", "--workdir", str(workdir)],
        env=dict(os.environ), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, f"demo failed\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done, json.loads((workdir / "report.json").read_text(encoding="utf-8"))


def shop_counts(workdir) -> tuple[int, int]:
    """Orders the generator made paid (those the demo shipped or refunded since included) and its
    bad ones, read from the shop file without the driver's help."""
    engine = sa.create_engine(f"sqlite:///{workdir / 'shop.sqlite'}")
    try:
        with engine.connect() as conn:
            paid = conn.execute(sa.text("SELECT count(*) FROM shop_order WHERE status = 'paid'")).scalar_one()
            # the demo's own moves: shipped through wms_shipments, refunded by the shop
            moved = conn.execute(sa.text(
                "SELECT count(*) FROM shop_order o JOIN wms_order_sync s ON s.delivery_order_code = o.order_no"
                " WHERE o.status IN ('shipped', 'refunded')")).scalar_one()
    finally:
        engine.dispose()
    bad = len(json.loads((workdir / "manifest.json").read_text(encoding="utf-8"))["bad_orders"])
    return paid + moved, bad


def shop_tracking(workdir, codes) -> dict[str, str]:
    """Tracking numbers the shop holds for ``codes``, as its own shipped orders."""
    engine = sa.create_engine(f"sqlite:///{workdir / 'shop.sqlite'}")
    stmt = sa.text("SELECT order_no, tracking_no FROM shop_order WHERE order_no IN :codes AND tracking_no IS NOT NULL") \
        .bindparams(sa.bindparam("codes", expanding=True))
    try:
        with engine.connect() as conn:
            return dict(conn.execute(stmt, {"codes": list(codes)}).all())
    finally:
        engine.dispose()


def exchange_methods(workdir) -> dict[tuple[str, str], int]:
    """(direction, method) -> rows of wms_exchange_log in the demo's store (the shop file)."""
    engine = sa.create_engine(f"sqlite:///{workdir / 'shop.sqlite'}")
    try:
        with engine.connect() as conn:
            return {(d, m): n for d, m, n in conn.execute(sa.text(
                "SELECT direction, method, count(*) FROM wms_exchange_log GROUP BY direction, method")).all()}
    finally:
        engine.dispose()


def printed(stdout: str, label: str) -> int:
    line = next(l for l in stdout.splitlines() if l.strip().startswith(label))
    return int(line.split(":", 1)[1].split()[0])


@pytest.mark.slow
@pytest.mark.timeout(1200)  # two demos; each takes minutes on a busy 2-core machine (make test runs 3 workers)
def test_demo_runs_twice_from_clean_and_accounts_for_every_paid_order(tmp_path):
    workdir = tmp_path / "demo"
    reports = []
    for _ in range(2):
        done, report = run_demo(workdir)
        paid, bad = shop_counts(workdir)
        assert report["paid_orders"] == paid
        assert report["sent"] + report["rejected"] + report["held"] + report["failed"] == paid
        assert report["failed"] == 0
        assert report["sent"] > 0 and report["rejected"] >= bad > 0
        assert report["problems"] == []
        # the warehouse saw exactly the orders the store marks sent, each once (a fresh simulator)
        assert report["warehouse_orders"] == report["creates_received"] == report["sent"]
        assert report["items"]["synced"] == report["warehouse_items"] > 0
        # what the user reads is what was measured
        assert printed(done.stdout, "sent") == report["sent"]
        assert printed(done.stdout, "rejected") == report["rejected"]
        assert printed(done.stdout, "held") == report["held"]
        assert "cross-check       : OK" in done.stdout
        assert sum(len(codes) for codes in report["reasons"].values()) >= report["rejected"]
        # Airflow's chatter went to the log file, not to the terminal
        assert "airflow dags test wms_order_push" in (workdir / "airflow.log").read_text(encoding="utf-8")
        assert "[info" not in done.stdout.lower() and "taskinstance" not in done.stdout.lower()
        # the servers it started were stopped (the simulator logs SIGTERM as "stopping")
        assert "stopping" in (workdir / "simulator.log").read_text(encoding="utf-8")
        receiver_log = (workdir / "receiver.log").read_text(encoding="utf-8")
        assert "token=***" in receiver_log
        receiver_port = int(re.search(r"receiver: http://127.0.0.1:(\d+)/", done.stdout).group(1))
        with pytest.raises(OSError):  # nobody listens there any more
            socket.create_connection(("127.0.0.1", receiver_port), timeout=5).close()
        assert "callback?token=" not in receiver_log.replace("token=***", "")  # the token never logged
        assert_later_stages(done.stdout, report, workdir)
        reports.append(report)

    first, second = reports
    assert second["items"] == first["items"], "the second run must synchronize every SKU again"
    assert (second["sent"], second["rejected"]) == (first["sent"], first["rejected"])
    assert second["cancels"] == first["cancels"]
    assert second["returns"] == first["returns"]
    drop_example = lambda shipments: {k: v for k, v in shipments.items() if k != "example"}  # noqa: E731
    assert drop_example(second["shipments"]) == drop_example(first["shipments"])
    assert second["inventory"]["applied"] == first["inventory"]["applied"]


def assert_later_stages(stdout: str, report: dict, workdir) -> None:
    # shipments: most accepted orders shipped, every confirmation stored and applied, the shop
    # holds the warehouse's tracking numbers
    shipments = report["shipments"]
    assert 0 < shipments["shipped"] < report["sent"]
    assert shipments["delivered"] == shipments["inbox"]["applied"] == shipments["shipped"]
    assert shipments["inbox"] == {"applied": shipments["shipped"]} and shipments["runs"] >= 1
    assert shipments["tracking_written"] == shipments["tracking_matching"] == shipments["shipped"]
    code, tracking = shipments["example"]
    assert shop_tracking(workdir, [code]) == {code: tracking} and tracking
    assert printed(stdout, "tracking written") == shipments["shipped"]

    # cancels: refunds reached the warehouse as order.cancel; one never sent closed without a
    # request; the refund after shipment waits for a person, and the report says so plainly
    cancels = report["cancels"]
    assert cancels["warehouse_cancelled"] == cancels["refunded_unshipped"] == cancels["cancel_requests"] > 0
    assert cancels["closed_locally"] == cancels["refunded_never_sent"] == 1
    assert cancels["cancelled"] == cancels["refunded_unshipped"] + 1
    assert cancels["needs_person"] == cancels["view_rows"] == 1
    person = cancels["needs_person_codes"][0]
    assert shop_tracking(workdir, [person]) != {}  # it had shipped before the shop refunded it
    assert any(line.startswith("a person is needed: wms_order_cancel") and person in line
               and "refunded after shipment" in line for line in stdout.splitlines())
    assert len(report["person_needed"]) == 1

    # returns: the order refunded after shipment comes back as a return: announced once, received,
    # marked in the shop's return record, and its refund waits for a person on the operations page
    returns = report["returns"]
    assert returns["announced"] == returns["created"] == returns["received"] == returns["shop_marked"] == 1
    assert returns["good"] + returns["defective"] > 0
    assert returns["to_refund_codes"] == ["TH" + person]
    assert printed(stdout, "refund to pay") == 1

    # inventory: every SKU answered, stock written, guard rails passed
    inventory = report["inventory"]
    assert inventory["verdict"] == "completed" and inventory["guard_rails"].startswith("passed")
    assert inventory["skus_answered"] == inventory["skus_queried"] == report["warehouse_items"]
    assert inventory["applied"] > 0 and inventory["calls"] == inventory["warehouse_calls"] > 0
    assert "guard rails       : passed" in stdout

    # every exchange with the warehouse is in the store's log, the four outbound methods and the
    # inbound confirmations, as often as the warehouse saw them
    logged = exchange_methods(workdir)
    assert logged[("outbound", "singleitem.synchronize")] >= report["items"]["synced"]
    assert logged[("outbound", "deliveryorder.create")] == report["creates_received"]
    assert logged[("outbound", "order.cancel")] == cancels["cancel_requests"]
    assert logged[("outbound", "inventory.query")] == inventory["calls"]
    assert logged[("inbound", "deliveryorder.confirm")] == shipments["shipped"]
    assert logged[("outbound", "returnorder.create")] == logged[("inbound", "returnorder.confirm")] == 1
