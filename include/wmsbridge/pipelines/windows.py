"""Which orders a run looks at, from how it was started.

- scheduled: every paid, unshipped order (the store skips those the warehouse already has);
- backfill: only orders paid within the run's data interval, so a backfill over a date range
  touches each day's orders once, and repeating it is harmless;
- manual: the trigger form's order codes, or its paid-time window, else like scheduled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone


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
    dt = dt.astimezone(timezone.utc)
    # A plain datetime: Airflow hands pendulum DateTimes (a backfill's data interval), which DB-API
    # drivers such as sqlite3 refuse to bind.
    return datetime(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond, tzinfo=timezone.utc)


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


BEIJING = timezone(timedelta(hours=8))


def beijing_days_utc(first_day, last_day) -> tuple[datetime | None, datetime | None]:
    """Beijing calendar days, both ends included, as a UTC half-open window.

    An operator's "11/26 to 11/27" is [2026-11-26 00:00 +08:00, 2026-11-28 00:00 +08:00), that is
    [2026-11-25 16:00 UTC, 2026-11-27 16:00 UTC). Either end may be None (open).
    """
    first, last = _day(first_day), _day(last_day)
    if first and last and last < first:
        raise ValueError(f"the last day {last} is before the first day {first}")
    start = datetime.combine(first, time.min, BEIJING).astimezone(timezone.utc) if first else None
    end = datetime.combine(last + timedelta(days=1), time.min, BEIJING).astimezone(timezone.utc) if last else None
    return start, end


def _day(value) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        raise ValueError(f"{value!r}: give a calendar day (YYYY-MM-DD), not a time")
    return value if isinstance(value, date) else date.fromisoformat(str(value).strip())


def manual_window(params: dict) -> OrderWindow:
    """The trigger form of ``wms_order_push_manual``: order codes, else paid Beijing days, else all."""
    codes = tuple(c.strip() for c in (params.get("order_codes") or []) if c and c.strip())
    paid_from, paid_to = beijing_days_utc(params.get("paid_from_date"), params.get("paid_to_date"))
    return OrderWindow(paid_from, paid_to, codes or None)
