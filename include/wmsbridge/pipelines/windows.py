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
from datetime import datetime, timezone

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
    return dt.astimezone(timezone.utc)


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
