"""``benchmarks/confirmations.py`` with a tiny shop: it prints one JSON line last, and its counts
are what the receiver and the shipments flow really did (speed is printed, never checked here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from databases import BACKENDS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "confirmations.py"
PAID = 40  # paid orders in the generated shop (cached under .bench/), about 95 % of them valid

pytestmark = pytest.mark.timeout(600)  # two Python processes importing Airflow per backend


def test_counts_in_the_json_line_match_what_was_stored_and_applied():
    backends = [b for b in ("sqlite", "postgresql") if b in BACKENDS]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--orders", str(PAID), "--clients", "4", "--replays", "0.25", "--json",
         "--backends", *backends],
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=540,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    rows = {row["backend"]: row for row in figures["rows"]}
    assert list(rows) == backends

    for backend, row in rows.items():
        n = row["confirmations"]
        assert PAID * 0.8 <= n <= PAID  # one confirmation per order sent (the shop's invalid ones are not)
        assert row["replays"] == round(n * 0.25) > 0
        assert row["callbacks"] == n + row["replays"] == row["answered_success"]
        assert row["answered_duplicate"] == row["replays"]
        assert row["in_inbox"] == n  # replays stored nothing
        assert row["exchange_log_inbound"] == {"success": n, "duplicate": row["replays"]}
        assert row["applied"] == row["written_back"] == row["shop_shipped"] == n
        for key in ("confirmations_stored_per_s", "confirmations_applied_per_s"):
            assert figures[key][backend] > 0
        assert figures["confirmations_per_s"][backend] == {
            "stored": figures["confirmations_stored_per_s"][backend],
            "applied": figures["confirmations_applied_per_s"][backend],
        }
        # the human line per backend, with the load average, comes before the JSON line
        assert any(line.split()[:2] == [backend, "stored"] and "load average" in line for line in lines[:-1])
