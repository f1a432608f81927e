"""``python -m wmsbridge_tools.chaos``: fault injection end to end; the last line is ``lost=N duplicated=M``.

Exits 1 when anything was lost or duplicated, or when a hostile callback was not refused, stored
something or brought the receiver down; 2 when the run itself could not be carried out.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

from wmsbridge_tools import demo
from wmsbridge_tools.chaos.run import Chaos, ChaosError

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def report_lines(chaos: Chaos, result) -> tuple[list[str], list[str]]:
    """The report and the problems that are neither a loss nor a duplicate (attacks not refused)."""
    t = chaos.tally
    lines = ["what chaos did:",
             "  faults injected : " + (", ".join(f"{k} {n}" for k, n in sorted(t.faults_seen.items())) or "none"),
             "  runs            : " + ", ".join(f"{f} {n}" + (f" ({t.failed_runs[f]} failed)" if t.failed_runs[f] else "")
                                             for f, n in t.runs.items()),
             *(f"    failed: {e}" for e in t.errors),
             "  SIGKILL         : " + "; ".join(f"{f} {what}" for f, what in t.kills.items()),
             "  recovered       : " + (", ".join(f"{f} {c['recovered']}" for f, c in t.outcomes.items() if c["recovered"])
                                       or "nothing") + " (left behind by a killed run, finished by a later one)",
             "  confirmations   : " + ", ".join(f"{k} {n}" for k, n in t.confirmations.items()),
             f"  converged after : {t.converge_rounds} round(s) without faults",
             "receiver attacks:"]
    problems = []
    if t.attacks is not None:
        lines += t.attacks.lines()
        if t.attacks.not_refused:
            problems.append(f"hostile callbacks not refused: {t.attacks.not_refused}")
    if t.stored_by_attacks:
        problems.append(f"hostile callbacks stored {t.stored_by_attacks} rows")
    if not t.receiver_up:
        problems.append("the receiver went down under attack")
    # A run may fail under faults only by design: the day's stock refused by a guard rail when too
    # many SKUs went unanswered (FlowRefused). Any other failure is a bug, even if nothing was lost.
    problems += [f"a run crashed: {e}" for e in t.errors if "FlowRefused" not in e]
    lines += ["what chaos found (per flow):", *result.lines()]
    lines += [f"PROBLEM: {p}" for p in problems]
    return lines, problems


def run(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    sim = demo.Simulator(log_path=workdir / "simulator.log")
    receiver = demo.ReceiverProcess(log_path=workdir / "receiver.log")

    def step(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    chaos = Chaos(args, workdir, sim, receiver, step)
    try:
        result = chaos.run()
    except (ChaosError, demo.DemoError) as exc:
        print(f"chaos could not run: {exc} (logs in {workdir})", file=sys.stderr)
        return 2
    finally:
        receiver.stop()
        sim.stop()
    lines, problems = report_lines(chaos, result)
    print("\n".join(lines))
    (workdir / "chaos.json").write_text(json.dumps({
        "seed": args.seed, "orders": args.orders, "store": args.store, "seconds": round(time.monotonic() - started, 1),
        "flows": {f: asdict(c) for f, c in result.flows.items()}, "kills": chaos.tally.kills,
        "faults_seen": chaos.tally.faults_seen, "problems": problems, "outcomes": chaos.tally.outcomes,
        "runs": chaos.tally.runs, "failed_runs": chaos.tally.failed_runs, "errors": chaos.tally.errors, "confirmations": chaos.tally.confirmations,
        "receiver_up": chaos.tally.receiver_up, "stored_by_attacks": chaos.tally.stored_by_attacks,
        "attacks": asdict(chaos.tally.attacks) if chaos.tally.attacks else None,
    }, ensure_ascii=False, indent=2, default=sorted), encoding="utf-8")
    step(f"done (seed {args.seed}; repeat with --seed {args.seed})")
    print(f"lost={result.lost} duplicated={result.duplicated}", flush=True)
    return 1 if result.lost or result.duplicated or problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wmsbridge_tools.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300, help="orders in the shop (default 300)")
    parser.add_argument("--skus", type=int, default=60, help="SKUs in the shop (default 60)")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run (default: a new random seed, printed)")
    parser.add_argument("--bad-share", type=float, default=0.05, help="share of bad orders (default 0.05)")
    parser.add_argument("--flood", type=int, default=300, help="hostile callbacks in the flood (default 300)")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                        help="where the shop and the store live (default: an SQLite file)")
    parser.add_argument("--postgres-url", default=os.environ.get("CHAOS_POSTGRES_URL", POSTGRES_ADMIN_URL),
                        help="a PostgreSQL server to create the throwaway database on")
    parser.add_argument("--workdir", default=".chaos", help="where the shop, logs and chaos.json go (git-ignored)")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1_000_000)
    print(f"chaos seed {args.seed}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
