"""Which orders a run looks at, from how it was started.

- scheduled: every paid, unshipped order (the store skips those the warehouse already has);
- backfill: only orders paid within the run's data interval, so a backfill over a date range
  touches each day's orders once, and repeating it is harmless;
- manual: the trigger form's order codes, or its paid-time window, else like scheduled.

A trigger-form value that is wrong (a time without zone, a window that ends before it starts, codes
that are not a list of text) is a :class:`TriggerFormError`: a ConfigError, so the task fails at
once, without retries, naming the field. Retrying cannot fix what a person typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from wmsbridge.errors import ConfigError


class TriggerFormError(ConfigError):
    """A wrong value in the trigger form (DAG run conf); the message starts with the field."""


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


def _parse(value, field: str = "interval") -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise TriggerFormError(
                f"{field}: {value!r} is not a date and time; give e.g. 2026-11-27T00:00:00+08:00") from None
    else:
        raise TriggerFormError(f"{field}: {value!r} is not a date and time")
    if dt.tzinfo is None:
        raise TriggerFormError(f"{field}: {value!r} has no zone; give the zone, e.g. 2026-11-27T00:00:00+08:00 or ...Z")
    dt = dt.astimezone(timezone.utc)
    # A plain datetime: Airflow hands pendulum DateTimes (a backfill's data interval), which DB-API
    # drivers such as sqlite3 refuse to bind.
    return datetime(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond, tzinfo=timezone.utc)


def _codes(value) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(c, str) or c is None for c in value):
        raise TriggerFormError(f"order_codes: {value!r} is not a list of order codes (text, one per line)")
    return tuple(dict.fromkeys(c.strip() for c in value if c and c.strip()))


def order_window(run_type: str, params: dict, interval_start=None, interval_end=None) -> OrderWindow:
    """The run's window; raises :class:`TriggerFormError` for a wrong trigger-form value."""
    codes = _codes(params.get("order_codes"))
    paid_from, paid_to = _parse(params.get("paid_from"), "paid_from"), _parse(params.get("paid_to"), "paid_to")
    if paid_from and paid_to and paid_from >= paid_to:
        raise TriggerFormError(f"paid_to: {params.get('paid_to')!r} is not after paid_from {params.get('paid_from')!r}")
    limit = params.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise TriggerFormError(f"limit: {limit!r} is not a whole number of at least 1")
    if codes:
        return OrderWindow(order_codes=codes)
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
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a calendar day (YYYY-MM-DD)") from None


def manual_window(params: dict) -> OrderWindow:
    """The trigger form of ``wms_order_push_manual``: order codes, else paid Beijing days, else all.
    A wrong value is a :class:`TriggerFormError` naming the field (the task fails at once)."""
    codes = _codes(params.get("order_codes"))
    try:
        first = _day(params.get("paid_from_date"))
    except ValueError as err:
        raise TriggerFormError(f"paid_from_date: {err} / 付款起始日格式错误（YYYY-MM-DD）") from None
    try:
        last = _day(params.get("paid_to_date"))
    except ValueError as err:
        raise TriggerFormError(f"paid_to_date: {err} / 付款截止日格式错误（YYYY-MM-DD）") from None
    if first and last and last < first:
        raise TriggerFormError(f"paid_to_date: {last} is before paid_from_date {first} / 截止日早于起始日")
    limit = params.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise TriggerFormError(f"limit: {limit!r} is not a whole number of at least 1")
    paid_from, paid_to = beijing_days_utc(first, last)
    return OrderWindow(paid_from, paid_to, codes or None)
