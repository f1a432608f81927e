"""The manual push's trigger form speaks Beijing dates; the pipeline gets an explicit UTC window."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from wmsbridge.pipelines.windows import OrderWindow, beijing_days_utc, manual_window


def test_a_beijing_day_is_midnight_to_midnight_plus_eight():
    start, end = beijing_days_utc("2026-11-26", "2026-11-26")
    assert start == datetime(2026, 11, 25, 16, tzinfo=timezone.utc)
    assert end == datetime(2026, 11, 26, 16, tzinfo=timezone.utc)


def test_the_last_day_is_included_and_ends_may_be_open():
    assert beijing_days_utc(date(2026, 11, 26), "2026-11-27")[1] == datetime(2026, 11, 27, 16, tzinfo=timezone.utc)
    assert beijing_days_utc(None, None) == (None, None)
    assert beijing_days_utc("", "2026-11-01") == (None, datetime(2026, 11, 1, 16, tzinfo=timezone.utc))


def test_days_in_the_wrong_order_or_times_are_refused():
    with pytest.raises(ValueError, match="before the first day"):
        beijing_days_utc("2026-11-27", "2026-11-26")
    with pytest.raises(ValueError, match="calendar day"):
        beijing_days_utc(datetime(2026, 11, 27, 8), None)


def test_manual_window_from_the_form():
    form = {"order_codes": [" A1 ", "", "B2"], "paid_from_date": "2026-11-27", "paid_to_date": None}
    assert manual_window(form) == OrderWindow(datetime(2026, 11, 26, 16, tzinfo=timezone.utc), None, ("A1", "B2"))
    assert manual_window({"order_codes": None}) == OrderWindow()


def test_a_backfill_interval_becomes_plain_datetimes():
    """Airflow hands pendulum DateTimes; sqlite3 cannot bind them (found by the UI-path backfill test)."""
    import pendulum

    from wmsbridge.pipelines.windows import order_window

    start, end = pendulum.datetime(2026, 11, 26, 16, tz="UTC"), pendulum.datetime(2026, 11, 27, 16, tz="UTC")
    window = order_window("backfill", {}, start, end)
    assert type(window.paid_from_utc) is datetime and type(window.paid_to_utc) is datetime
    assert window.paid_from_utc == datetime(2026, 11, 26, 16, tzinfo=timezone.utc)
