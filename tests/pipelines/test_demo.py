"""`python -m wmsbridge_tools.demo` (what `make demo` runs), twice, as a user would: real subprocesses
for the driver, the two simulators (two warehouse accounts), the standalone receiver and `airflow
dags test`.

Two bridges in one deployment: a reference shop and a litemall shop, each with its own warehouse,
both in one store of their own. For each bridge every stage must do work (items, orders, shipments
through the receiver, cancels with one refund after shipment left for a person, a return, the daily
inventory), the report must agree with that bridge's shop file and its store rows read here, and
every exchange must be in its wms_exchange_log rows. The second run must start clean: new shops,
store and simulators, and Airflow's run history of the first run must not make it see nothing.
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
# bridge -> (profile's orders table, code column, status column, shipped, refunded, tracking column, return prefix)
SHOPS = {
    "reference": ("shop_order", "order_no", "status", "'shipped'", "'refunded'", "tracking_no", "TH"),
    "litemall": ("litemall_order", "order_sn", "order_status", "301", "203", "ship_sn", "AS"),
}
PAID = {"reference": "'paid'", "litemall": "201"}


def run_demo(workdir) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "wmsbridge_tools.demo", "--orders", str(ORDERS), "--skus", str(SKUS), "--seed", "5",
         "--bad-share", "0.1", "--workdir", str(workdir)],
        env=dict(os.environ), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, f"demo failed\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done, json.loads((workdir / "report.json").read_text(encoding="utf-8"))


def read(workdir, name: str, sql: str, **params) -> list:
    engine = sa.create_engine(f"sqlite:///{workdir / name}")
    stmt = sa.text(sql)
    if "codes" in params:
        stmt = stmt.bindparams(sa.bindparam("codes", expanding=True))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(stmt, params).all()]
    finally:
        engine.dispose()


def store_codes(workdir, bridge: str) -> list[str]:
    """The bridge's orders in the shared store, read without the driver's help."""
    return [c for (c,) in read(workdir, "store.sqlite",
                               "SELECT delivery_order_code FROM wms_order_sync WHERE bridge_id = :b", b=bridge)]


def shop_counts(workdir, bridge: str) -> tuple[int, int]:
    """Orders the generator made paid (those the demo shipped or refunded since included) and its
    bad ones, read from the bridge's shop file and its store rows."""
    table, code, status, shipped, refunded, _, _ = SHOPS[bridge]
    shop = f"shop-{bridge}.sqlite"
    paid = read(workdir, shop, f"SELECT count(*) FROM {table} WHERE {status} = {PAID[bridge]}")[0][0]
    # the demo's own moves: shipped through wms_shipments, refunded by the shop
    moved = read(workdir, shop, f"SELECT count(*) FROM {table} WHERE {status} IN ({shipped}, {refunded})"
                                f" AND {code} IN :codes", codes=store_codes(workdir, bridge) or [""])[0][0]
    bad = json.loads((workdir / f"manifest-{bridge}.json").read_text(encoding="utf-8"))["bad_orders"]
    return paid + moved, len(bad)


def shop_tracking(workdir, bridge: str, codes) -> dict[str, str]:
    """Tracking numbers the bridge's shop holds for ``codes``, as its own shipped orders."""
    table, code, _, _, _, tracking, _ = SHOPS[bridge]
    return dict(read(workdir, f"shop-{bridge}.sqlite", f"SELECT {code}, {tracking} FROM {table}"
                     f" WHERE {code} IN :codes AND {tracking} IS NOT NULL", codes=list(codes)))


def exchange_methods(workdir, bridge: str) -> dict[tuple[str, str], int]:
    """(direction, method) -> the bridge's rows of wms_exchange_log in the demo's one store."""
    return {(d, m): n for d, m, n in read(
        workdir, "store.sqlite", "SELECT direction, method, count(*) FROM wms_exchange_log WHERE bridge_id = :b"
                                 " GROUP BY direction, method", b=bridge)}


def block(stdout: str, bridge: str) -> str:
    """The report's lines of one bridge: from its header to the next blank line."""
    lines = stdout.splitlines()
    start = lines.index(next(l for l in lines if l.startswith(f"== bridge {bridge} ")))
    end = next(i for i in range(start, len(lines)) if not lines[i].strip())
    return "\n".join(lines[start:end])


def printed(text: str, label: str) -> int:
    line = next(l for l in text.splitlines() if l.strip().startswith(label))
    return int(line.split(":", 1)[1].split()[0])


@pytest.mark.slow
@pytest.mark.timeout(1500)  # two demos; each takes minutes on a busy 2-core machine (make test runs 3 workers)
def test_demo_runs_twice_from_clean_and_accounts_for_every_paid_order_of_both_bridges(tmp_path):
    workdir = tmp_path / "demo"
    reports = []
    for _ in range(2):
        done, report = run_demo(workdir)
        assert list(report["bridges"]) == ["reference", "litemall"] and report["problems"] == []
        for bridge, figures in report["bridges"].items():
            assert_bridge(done.stdout, bridge, figures, workdir)
        accounts = {figures["account"] for figures in report["bridges"].values()}
        assert len(accounts) == 2, "each bridge talks to its own warehouse account"
        assert done.stdout.rstrip().splitlines()[-1] == "cross-check       : OK, every bridge (reference, litemall)"
        # the store is a database of its own: neither shop holds a store table
        for bridge in SHOPS:
            assert not [t for (t,) in read(workdir, f"shop-{bridge}.sqlite", "SELECT name FROM sqlite_master")
                        if t.startswith("wms_")]
        # Airflow's chatter went to the log file, not to the terminal; each DAG ran once per stage
        log = (workdir / "airflow.log").read_text(encoding="utf-8")
        assert log.count("===== airflow dags test wms_order_push =====") == 1
        assert "[info" not in done.stdout.lower() and "taskinstance" not in done.stdout.lower()
        # the servers it started were stopped (a simulator logs SIGTERM as "stopping")
        for bridge in SHOPS:
            assert "stopping" in (workdir / f"simulator-{bridge}.log").read_text(encoding="utf-8")
        receiver_log = (workdir / "receiver.log").read_text(encoding="utf-8")
        assert "token=***" in receiver_log
        receiver_port = int(re.search(r"receiver: http://127.0.0.1:(\d+)/", done.stdout).group(1))
        with pytest.raises(OSError):  # nobody listens there any more
            socket.create_connection(("127.0.0.1", receiver_port), timeout=5).close()
        assert "callback?token=" not in receiver_log.replace("token=***", "")  # no token ever logged
        reports.append(report)

    drop_example = lambda shipments: {k: v for k, v in shipments.items() if k != "example"}  # noqa: E731
    for bridge in SHOPS:
        first, second = (r["bridges"][bridge] for r in reports)
        assert second["items"] == first["items"], f"{bridge}: the second run must synchronize every SKU again"
        assert (second["sent"], second["rejected"]) == (first["sent"], first["rejected"])
        assert second["cancels"] == first["cancels"]
        assert second["returns"] == first["returns"]
        assert drop_example(second["shipments"]) == drop_example(first["shipments"])
        assert second["inventory"]["applied"] == first["inventory"]["applied"]
    assert reports[1]["shared"] == reports[0]["shared"]
    assert reports[0]["shared"]["sku_codes"] > 0  # the same generator: some SKU codes are in both shops


def assert_bridge(stdout: str, bridge: str, report: dict, workdir) -> None:
    text = block(stdout, bridge)
    paid, bad = shop_counts(workdir, bridge)
    assert report["bridge_id"] == bridge and report["profile"] == bridge
    assert report["paid_orders"] == paid
    assert report["sent"] + report["rejected"] + report["held"] + report["failed"] == paid
    assert report["failed"] == 0
    assert report["sent"] > 0 and report["rejected"] >= bad > 0
    assert report["problems"] == []
    # the warehouse saw exactly the orders the store marks sent, each once (a fresh simulator)
    assert report["warehouse_orders"] == report["creates_received"] == report["sent"]
    assert report["items"]["synced"] == report["warehouse_items"] > 0
    # what the user reads is what was measured, in this bridge's part of the report
    assert printed(text, "sent") == report["sent"]
    assert printed(text, "rejected") == report["rejected"]
    assert printed(text, "held") == report["held"]
    assert "cross-check       : OK" in text
    assert sum(len(codes) for codes in report["reasons"].values()) >= report["rejected"]
    assert_later_stages(text, bridge, report, workdir)


def assert_later_stages(text: str, bridge: str, report: dict, workdir) -> None:
    # shipments: most accepted orders shipped, every confirmation stored and applied, the shop
    # holds the warehouse's tracking numbers
    shipments = report["shipments"]
    assert 0 < shipments["shipped"] < report["sent"]
    assert shipments["delivered"] == shipments["inbox"]["applied"] == shipments["shipped"]
    assert shipments["inbox"] == {"applied": shipments["shipped"]} and shipments["runs"] >= 1
    assert shipments["tracking_written"] == shipments["tracking_matching"] == shipments["shipped"]
    code, tracking = shipments["example"]
    assert shop_tracking(workdir, bridge, [code]) == {code: tracking} and tracking
    assert printed(text, "tracking written") == shipments["shipped"]

    # cancels: refunds reached the warehouse as order.cancel; one never sent closed without a
    # request; the refund after shipment waits for a person, and the report says so plainly
    cancels = report["cancels"]
    assert cancels["warehouse_cancelled"] == cancels["refunded_unshipped"] == cancels["cancel_requests"] > 0
    assert cancels["closed_locally"] == cancels["refunded_never_sent"] == 1
    assert cancels["cancelled"] == cancels["refunded_unshipped"] + 1
    assert cancels["needs_person"] == cancels["view_rows"] == 1
    person = cancels["needs_person_codes"][0]
    assert shop_tracking(workdir, bridge, [person]) != {}  # it had shipped before the shop refunded it
    assert any(line.startswith("a person is needed: wms_order_cancel") and person in line
               and "refunded after shipment" in line for line in text.splitlines())
    assert len(report["person_needed"]) == 1

    # returns: the order refunded after shipment comes back as a return: announced once, received,
    # marked in the shop's return record, and its refund waits for a person on the operations page
    returns = report["returns"]
    assert returns["announced"] == returns["created"] == returns["received"] == returns["shop_marked"] == 1
    assert returns["good"] + returns["defective"] > 0
    assert returns["to_refund_codes"] == [SHOPS[bridge][-1] + person]
    assert printed(text, "refund to pay") == 1

    # inventory: every SKU answered, stock written, guard rails passed
    inventory = report["inventory"]
    assert inventory["verdict"] == "completed" and inventory["guard_rails"].startswith("passed")
    assert inventory["skus_answered"] == inventory["skus_queried"] == report["warehouse_items"]
    assert inventory["applied"] > 0 and inventory["calls"] == inventory["warehouse_calls"] > 0
    assert "guard rails       : passed" in text

    # every exchange with the bridge's warehouse is in its rows of the store's log, the outbound
    # methods and the inbound confirmations, as often as that warehouse saw them
    logged = exchange_methods(workdir, bridge)
    assert logged[("outbound", "singleitem.synchronize")] >= report["items"]["synced"]
    assert logged[("outbound", "deliveryorder.create")] == report["creates_received"]
    assert logged[("outbound", "order.cancel")] == cancels["cancel_requests"]
    assert logged[("outbound", "inventory.query")] == inventory["calls"]
    assert logged[("inbound", "deliveryorder.confirm")] == shipments["shipped"]
    assert logged[("outbound", "returnorder.create")] == logged[("inbound", "returnorder.confirm")] == 1
