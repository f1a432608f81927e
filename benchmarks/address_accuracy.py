"""Print the address splitter's accuracy on tests/shop/fixtures/addresses.csv (and its misses).

python benchmarks/address_accuracy.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "shop"))

from address_accuracy import score  # noqa: E402


def main() -> None:
    started = time.perf_counter()
    accuracy, cases, misses = score()
    elapsed = time.perf_counter() - started
    print(f"address split accuracy: {accuracy:.1%} of {cases} addresses ({elapsed:.2f}s incl. loading the parser)")
    for miss in misses:
        print("  miss:", miss)


if __name__ == "__main__":
    main()
