"""Beijing time (UTC+8) for everything the warehouse sees; Airflow runs in UTC.

Naive datetimes are refused rather than guessed: a shop column without a zone must be localised
by the caller, who knows which zone the shop wrote it in.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), name="Asia/Shanghai")
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"


def now_beijing() -> datetime:
    return datetime.now(BEIJING).replace(microsecond=0)


def to_beijing(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: attach its zone before converting to Beijing time")
    return dt.astimezone(BEIJING)


def format_datetime(dt: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time, as every Qimen date-time field and the timestamp."""
    return to_beijing(dt).strftime(DATETIME_FORMAT)


def format_date(d: date) -> str:
    if isinstance(d, datetime):
        d = to_beijing(d).date()
    return d.strftime(DATE_FORMAT)


def parse_datetime(text: str) -> datetime:
    """A Qimen date-time string (always Beijing time) as an aware datetime."""
    return datetime.strptime(text.strip(), DATETIME_FORMAT).replace(tzinfo=BEIJING)


def parse_date(text: str) -> date:
    return datetime.strptime(text.strip(), DATE_FORMAT).date()
