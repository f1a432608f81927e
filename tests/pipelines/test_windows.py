"""Which orders a run looks at: scheduled, backfill, manual with codes or a window."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from airflow.sdk.api.datamodels._generated import DagRunType

from wmsbridge.errors import ConfigError
from wmsbridge.pipelines.windows import OrderWindow, order_window

START = datetime(2026, 11, 26, tzinfo=timezone.utc)
END = datetime(2026, 11, 27, tzinfo=timezone.utc)
NO_PARAMS = {"order_codes": [], "paid_from": None, "paid_to": None}


def test_scheduled_runs_take_every_paid_order():
    assert order_window(DagRunType.SCHEDULED, NO_PARAMS, START, END) == OrderWindow()


def test_backfill_runs_take_only_their_data_interval():
    assert order_window(DagRunType.BACKFILL, NO_PARAMS, START, END) == OrderWindow(START, END)
    assert order_window("backfill", NO_PARAMS, START, END) == OrderWindow(START, END)


def test_manual_codes_win_over_windows_and_are_trimmed():
    params = dict(NO_PARAMS, order_codes=[" A1 ", "", "B2"], paid_from="2026-11-01T00:00:00Z")
    assert order_window(DagRunType.BACKFILL, params, START, END) == OrderWindow(order_codes=("A1", "B2"))


def test_manual_window_is_read_with_its_zone_and_kept_in_utc():
    params = dict(NO_PARAMS, paid_from="2026-11-27T00:00:00+08:00")
    window = order_window(DagRunType.MANUAL, params)
    assert window.paid_from_utc == datetime(2026, 11, 26, 16, tzinfo=timezone.utc)
    assert window.paid_to_utc is None


def test_a_window_without_zone_is_refused():
    with pytest.raises(ValueError, match="give the zone"):
        order_window(DagRunType.MANUAL, dict(NO_PARAMS, paid_to="2026-11-27T00:00:00"))


@pytest.mark.parametrize("params, field", [
    ({"paid_from": "2026-11-27T00:00:00"}, "paid_from"),
    ({"paid_to": "tomorrow"}, "paid_to"),
    ({"paid_from": "2026-11-28T00:00:00Z", "paid_to": "2026-11-27T00:00:00Z"}, "paid_to"),
    ({"order_codes": "A1,B2"}, "order_codes"),
    ({"order_codes": [1, 2]}, "order_codes"),
    ({"limit": 0}, "limit"),
], ids=["no_zone", "not_a_time", "window_ends_before_it_starts", "codes_not_a_list", "codes_not_text", "limit_0"])
def test_a_wrong_trigger_form_value_is_a_config_error_naming_the_field(params, field):
    with pytest.raises(ConfigError, match=f"^{field}: "):
        order_window(DagRunType.MANUAL, dict(NO_PARAMS, **params))
