"""Per-record problems found by vectorised checks, merged with ``qimen.validation``'s verdict,
and the hand-over from columns to records.

Checks run over whole columns and mark rows; only rows with a problem are visited, so a clean
chunk costs one boolean mask per check. Messages use the validator's ``path: message`` shape, so a
reject lists the transform's findings and the rules table's violations in one vocabulary.
"""

from __future__ import annotations

import gc
from collections.abc import Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.core.dtypes.cast import maybe_box_native


@dataclass(frozen=True)
class Problem:
    """A finding of the transform. ``covers`` names further paths whose validator violations are
    consequences of this one (an unsplittable address leaves province, city and area empty) and
    would only repeat it."""

    path: str
    message: str
    covers: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class RowProblems:
    """Problems per row label of one frame."""

    def __init__(self) -> None:
        self._rows: dict[Hashable, list[Problem]] = {}

    def add(
        self,
        mask: pd.Series,
        path: str,
        message: str | pd.Series,
        covers: tuple[str, ...] = (),
    ) -> None:
        """Record ``path: message`` for every row where ``mask`` is True; ``message`` may be a
        Series aligned with the mask for row-specific text."""
        hit = mask.fillna(False).astype(bool)
        for label in hit.index[hit]:
            text = message if isinstance(message, str) else str(message.at[label])
            self._rows.setdefault(label, []).append(Problem(path, text, covers))

    def add_problem(self, label: Hashable, problem: Problem) -> None:
        self._rows.setdefault(label, []).append(problem)

    def get(self, label: Hashable) -> list[Problem]:
        return self._rows.get(label, [])

    def __bool__(self) -> bool:
        return bool(self._rows)

    def __contains__(self, label: Hashable) -> bool:
        return label in self._rows


#: How a problem found while reading the shop starts (the reader's ``read_errors``).
UNREADABLE = "cannot be read from the shop"


def add_read_errors(problems: RowProblems, errors: pd.Series, paths: Mapping[str, str],
                    covers: Mapping[str, tuple[str, ...]] | None = None) -> None:
    """The reader's ``read_errors`` (``column: why`` per row) as problems at the document path the
    column feeds (``total_amount`` -> ``deliveryOrder.totalAmount``), the shop column otherwise;
    ``covers``: further paths a column's unreadable value leaves empty. Only rows with an error are
    visited."""
    for label, found in errors.dropna().items():
        for error in found:
            column = str(error).split(":", 1)[0]
            problems.add_problem(label, Problem(paths.get(column, column), f"{UNREADABLE} ({error})",
                                                (covers or {}).get(column, ())))


def unreadable_first(own: list[Problem]) -> list[Problem]:
    """Drop the consequences of a value that could not be read (``required``, ``not a number``
    for the same path): the reason is that it could not be read, and saying so once is enough."""
    unread = {p.path for p in own if p.message.startswith(UNREADABLE)}
    if not unread:
        return own
    return [p for p in own if p.path not in unread or p.message.startswith(UNREADABLE)]


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around a per-record build loop.

    The loop allocates a few dicts per record (acyclic: reference counting frees them), yet each
    700 allocations wake the collector, and every few thousand it walks the whole heap, frames and
    all: about a tenth of the transform's time for nothing. Re-enabled on the way out (only if it
    was on, so nested or concurrent users leave it as they found it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def records(frame: pd.DataFrame, names: list[str] | None = None) -> list[dict]:
    """Rows as dicts with None for every kind of missing (NA, NaN, NaT): the Qimen builder leaves
    None out of the XML, but would send ``<NA>`` or ``nan`` as text. ``names``: only these columns."""
    if names is None:
        names = list(frame.columns)
        columns = [python_values(frame.iloc[:, position]) for position in range(len(names))]
    else:
        columns = [python_values(frame[name]) for name in names]
    return [dict(zip(names, row)) for row in zip(*columns)] if names else [{} for _ in range(len(frame))]


def python_values(series: pd.Series) -> list:
    """A column as a list of Python values, None for every kind of missing."""
    column = series.astype(object)
    values = column.tolist()
    missing = column.isna().to_numpy()
    if missing.any():
        values = [None if gone else v for v, gone in zip(values, missing)]
    if series.dtype == object and any(issubclass(t, np.generic) for t in set(map(type, values))):
        values = [maybe_box_native(v) for v in values]  # numpy scalars kept in an object column
    return values


def merge_violations(own: list[Problem], violations: Iterable[object]) -> list[str]:
    """Own problems first, then every validator violation not already said by one of them."""
    said: set[str] = set()
    for problem in own:
        said.add(problem.path)
        said.update(problem.covers)
    merged = [str(p) for p in own]
    for violation in violations:
        if getattr(violation, "path", None) not in said:
            merged.append(str(violation))
    return merged
