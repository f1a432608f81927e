"""``python -m wmsbridge_tools.chaos``: fault injection end to end, two bridges in one deployment by
default; a line ``<bridge>: lost=N duplicated=M crossed=K`` per bridge, the last line is the total
``lost=N duplicated=M``.

Exits 1 when anything was lost, duplicated or crossed from one bridge to another, or when a hostile
callback was not refused, stored something or brought the receiver down; 2 when the run itself
could not be carried out.
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
from wmsbridge_tools.chaos.deployment import MAX_BRIDGES, make_bridges
from wmsbridge_tools.chaos.run import Chaos, ChaosError

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def did_lines(chaos: Chaos) -> list[str]:
    """What chaos did, bridge by bridge."""
    lines = ["what chaos did:"]
    for bridge_id, t in chaos.tally.bridges.items():
        lines += [
            f"  bridge {bridge_id}:",
            "    faults injected : " + (", ".join(f"{k} {n}" for k, n in sorted(t.faults_seen.items())) or "none"),
            "    runs            : " + ", ".join(f"{f} {n}" + (f" ({t.failed_runs[f]} failed)" if t.failed_runs[f] else "")
                                               for f, n in t.runs.items()),
            "    SIGKILL         : " + "; ".join(f"{f} {what}" for f, what in t.kills.items()),
            "    recovered       : " + (", ".join(f"{f} {c['recovered']}" for f, c in t.outcomes.items() if c["recovered"])
                                         or "nothing") + " (left behind by a killed run, finished by a later one)",
            "    confirmations   : " + ", ".join(f"{k} {n}" for k, n in t.confirmations.items()),
            f"    taken over      : {t.aged_returns} return(s) a SIGKILL left `sending` (aged past the 15-minute wait)",
        ]
    lines += [f"  failed run: {e}" for e in chaos.tally.errors]
    lines.append(f"  converged after : {chaos.tally.converge_rounds} round(s) without faults")
    return lines


def attack_lines(chaos: Chaos) -> list[str]:
    lines = ["receiver attacks:"]
    for bridge_id, t in chaos.tally.bridges.items():
        if t.attacks is not None:
            lines += [f"  bridge {bridge_id}:", *(f"  {line}" for line in t.attacks.lines())]
    return lines


def problems_of(chaos: Chaos, result) -> list[str]:
    """The problems that are neither a loss nor a duplicate: attacks not refused, a crash, a crossing."""
    t = chaos.tally
    problems = [f"hostile callbacks not refused under bridge {b}'s token: {bt.attacks.not_refused}"
                for b, bt in t.bridges.items() if bt.attacks is not None and bt.attacks.not_refused]
    if t.stored_by_attacks:
        problems.append(f"hostile callbacks stored {t.stored_by_attacks} rows")
    if not t.receiver_up:
        problems.append("the receiver went down under attack")
    # A run may fail under faults only by design: the day's stock refused by a guard rail when too
    # many SKUs went unanswered (FlowRefused). Any other failure is a bug, even if nothing was lost.
    problems += [f"a run crashed: {e}" for e in t.errors if "FlowRefused" not in e]
    if result.crossed:
        problems.append(f"{result.crossed} records of one bridge found in another's (see crossing above)")
    return problems


def report_lines(chaos: Chaos, result) -> tuple[list[str], list[str]]:
    """The report and its problems."""
    problems = problems_of(chaos, result)
    lines = [*did_lines(chaos), *attack_lines(chaos), "what chaos found (per bridge and flow):", *result.lines()]
    return lines + [f"PROBLEM: {p}" for p in problems], problems


def summary_json(args, chaos: Chaos, result, problems: list[str], seconds: float) -> dict:
    """chaos.json: everything printed, per bridge."""
    t = chaos.tally
    bridges = {}
    for bridge_id, bt in t.bridges.items():
        found = result.bridges.get(bridge_id)
        bridges[bridge_id] = {
            **bt.as_dict(),
            "flows": {f: asdict(c) for f, c in found.flows.items()} if found else {},
            "crossing": asdict(found.crossing) if found else None,
            "lost": found.lost if found else None, "duplicated": found.duplicated if found else None,
        }
    return {"seed": args.seed, "orders": args.orders, "store": args.store, "seconds": round(seconds, 1),
            "bridges": bridges, "lost": result.lost, "duplicated": result.duplicated, "crossed": result.crossed,
            "stray": asdict(result.stray), "problems": problems, "errors": t.errors,
            "converge_rounds": t.converge_rounds, "receiver_up": t.receiver_up,
            "stored_by_attacks": t.stored_by_attacks}


def run(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    bridges = make_bridges(args.bridges, workdir)
    receiver = demo.ReceiverProcess(log_path=workdir / "receiver.log")

    def step(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    chaos = Chaos(args, workdir, bridges, receiver, step)
    try:
        result = chaos.run()
    except (ChaosError, demo.DemoError) as exc:
        print(f"chaos could not run: {exc} (logs in {workdir})", file=sys.stderr)
        return 2
    finally:
        receiver.stop()
        for b in bridges:
            b.warehouse.stop()
    lines, problems = report_lines(chaos, result)
    print("\n".join(lines))
    (workdir / "chaos.json").write_text(json.dumps(summary_json(args, chaos, result, problems,
                                                                time.monotonic() - started),
                                                   ensure_ascii=False, indent=2, default=sorted), encoding="utf-8")
    step(f"done (seed {args.seed}; repeat with --seed {args.seed})")
    print("\n".join(result.summaries()))
    print(f"lost={result.lost} duplicated={result.duplicated}", flush=True)
    return 1 if result.lost or result.duplicated or problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wmsbridge_tools.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--bridges", type=int, default=2, choices=range(1, MAX_BRIDGES + 1), metavar="N",
                        help="bridges in the deployment, each a shop and a warehouse account (default 2; 1: the "
                             "flat config of old, the store in the shop database)")
    parser.add_argument("--orders", type=int, default=300, help="orders per shop (default 300)")
    parser.add_argument("--skus", type=int, default=60, help="SKUs per shop (default 60)")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run (default: a new random seed, printed)")
    parser.add_argument("--bad-share", type=float, default=0.05, help="share of bad orders (default 0.05)")
    parser.add_argument("--flood", type=int, default=300, help="hostile callbacks in the flood, per bridge (default 300)")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                        help="where the shops and the store live (default: SQLite files)")
    parser.add_argument("--postgres-url", default=os.environ.get("CHAOS_POSTGRES_URL", POSTGRES_ADMIN_URL),
                        help="a PostgreSQL server to create the throwaway databases on")
    parser.add_argument("--workdir", default=".chaos", help="where the shops, logs and chaos.json go (git-ignored)")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1_000_000)
    print(f"chaos seed {args.seed}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
