"""`python -m wmsbridge.demo` (what `make demo` runs), twice, as a user would: real subprocesses
for the driver, the simulator and `airflow dags test`.

The second run must start clean: a new shop and a fresh simulator, and Airflow's run history of
the first run must not make it see nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

ORDERS, SKUS = 240, 30


def run_demo(workdir) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "wmsbridge.demo", "--orders", str(ORDERS), "--skus", str(SKUS), "--seed", "5",
         "--bad-share", "0.1", "--workdir", str(workdir)],
        env=dict(os.environ), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=280,
    )
    assert done.returncode == 0, f"demo failed\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done, json.loads((workdir / "report.json").read_text(encoding="utf-8"))


def shop_counts(workdir) -> tuple[int, int]:
    """Paid orders in the shop file and the generator's bad ones, read without the driver's help."""
    engine = sa.create_engine(f"sqlite:///{workdir / 'shop.sqlite'}")
    try:
        with engine.connect() as conn:
            paid = conn.execute(sa.text("SELECT count(*) FROM shop_order WHERE status = 'paid'")).scalar_one()
    finally:
        engine.dispose()
    bad = len(json.loads((workdir / "manifest.json").read_text(encoding="utf-8"))["bad_orders"])
    return paid, bad


def printed(stdout: str, label: str) -> int:
    line = next(l for l in stdout.splitlines() if l.strip().startswith(label))
    return int(line.split(":", 1)[1].split()[0])


@pytest.mark.slow
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
        # the simulator it started was stopped (SIGTERM is logged as "stopping")
        assert "stopping" in (workdir / "simulator.log").read_text(encoding="utf-8")
        reports.append(report)

    first, second = reports
    assert second["items"] == first["items"], "the second run must synchronize every SKU again"
    assert (second["sent"], second["rejected"]) == (first["sent"], first["rejected"])
