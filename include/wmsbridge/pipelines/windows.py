"""Which orders a run looks at, from how it was started.

- scheduled: every paid, unshipped order (the store skips those the warehouse already has);
- backfill: only orders paid within the run's data interval, so a backfill over a date range
  touches each day's orders once, and repeating it is harmless;
- manual: the trigger form's order codes, or its paid-time window, else like scheduled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class OrderWindow:
    paid_from_utc: datetime | None = None
    paid_to_utc: datetime | None = None
    order_codes: tuple[str, ...] | None = None

    def describe(self) -> str:
        if self.order_codes:
            return f"{len(self.order_codes)} order codes"
        if self.paid_from_utc or self.paid_to_utc:
            return f"paid in [{self.paid_from_utc or '-inf'}, {self.paid_to_utc or '+inf'})"
        return "every paid, unshipped order"


def _parse(value) -> datetime | None:
    if value in (None, ""):
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"{value!r}: give the zone, e.g. 2026-11-27T00:00:00+08:00 or ...Z")
    return dt.astimezone(timezone.utc)


def order_window(run_type: str, params: dict, interval_start=None, interval_end=None) -> OrderWindow:
    codes = tuple(c.strip() for c in (params.get("order_codes") or []) if c and c.strip())
    if codes:
        return OrderWindow(order_codes=codes)
    paid_from, paid_to = _parse(params.get("paid_from")), _parse(params.get("paid_to"))
    if paid_from or paid_to:
        return OrderWindow(paid_from, paid_to)
    if str(getattr(run_type, "value", run_type)) == "backfill" and interval_start is not None:
        return OrderWindow(_parse(interval_start), _parse(interval_end))
    return OrderWindow()
