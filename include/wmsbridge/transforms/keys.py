"""One record per key: repeated extracts collapse, codes shared by different records are refused."""

from __future__ import annotations

import pandas as pd


def latest_per_key(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """The same record twice in one extract (overlapping windows) is one record: keep its latest
    row by ``updated_at``; rows without a key are kept as they are (the checks report them)."""
    updated = pd.to_datetime(frame["updated_at"], utc=True, errors="coerce")
    latest = frame.loc[updated.sort_values(kind="stable", na_position="first").index]
    latest = latest[~latest[key].duplicated(keep="last") | latest[key].isna()]
    return latest.sort_index()


def shared_codes(frame: pd.DataFrame, code: str, key: str, what: str) -> tuple[pd.Series, pd.Series]:
    """Rows whose ``code`` is also used by another record, and a message naming all of them
    (``{what} {ids}``): the warehouse keys by code, so either record would silently be lost."""
    codes = frame[code]
    shared = codes.notna() & codes.duplicated(keep=False)
    if not shared.any():
        return shared, pd.Series(index=frame.index, dtype=object)
    owners = frame[shared].groupby(code)[key].agg(lambda ids: ", ".join(map(str, ids)))
    return shared, codes[shared].map(lambda c: f"{what} {owners[c]}")
