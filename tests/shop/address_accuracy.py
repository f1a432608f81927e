"""Score the address splitter on tests/shop/fixtures/addresses.csv (shared by the test and benchmark)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from wmsbridge.shop.address import split_addresses

FIXTURE = Path(__file__).with_name("fixtures") / "addresses.csv"


def score() -> tuple[float, int, list[str]]:
    """(accuracy, cases, misses): a hit is the exact expected split, or an error where one is expected."""
    with FIXTURE.open(encoding="utf-8") as fh:
        cases = list(csv.DictReader(fh))
    got = split_addresses(pd.Series([c["address"] for c in cases]))
    misses = []
    for case, row in zip(cases, got.to_dict("records")):
        if not case["province"]:
            ok = row["error"] is not None
        else:
            expected = tuple(case[k] or None for k in ("province", "city", "area", "detail"))
            ok = row["error"] is None and tuple(row[k] for k in ("province", "city", "area", "detail")) == expected
        if not ok:
            misses.append(f"{case['address'][:60]!r}: got {row}")
    return (len(cases) - len(misses)) / len(cases), len(cases), misses
