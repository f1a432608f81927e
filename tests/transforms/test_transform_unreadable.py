"""Values the reader could not read (``read_errors``) and implausible ones: one reject each, at the
field they feed; the rest of the chunk is built."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pandas as pd
from transform_frames import frame, line_row, order_row, sku_row

from wmsbridge.shop import frames
from wmsbridge.transforms import build_delivery_orders, build_item_documents

NOW = datetime(2026, 11, 28, 2, 0, 0, tzinfo=timezone.utc)


def _reasons(batch, code):
    return list(batch.rejects.set_index("order_code").loc[code, "violations"])


def test_canonical_names_every_value_it_cannot_read_and_keeps_the_row():
    raw = pd.DataFrame({
        "order_id": [1, 2], "order_code": ["A", frames.Undecodable("B\ufffd")],
        "paid_at": ["2026-11-27 10:00:00", "2026-02-30 10:00:00"], "total_amount": ["12.5", "abc"],
    })
    out = frames.canonical(raw, frames.ORDER_COLUMNS, ZoneInfo("UTC"))
    assert out["read_errors"].tolist() == [None, (
        "order_code: not valid UTF-8 (read as 'B\ufffd')",
        "paid_at: '2026-02-30 10:00:00' is not a date and time",
        "total_amount: 'abc' is not a number",
    )]
    assert out["total_amount"].tolist() == [Decimal("12.50"), None]
    assert out["order_code"].tolist() == ["A", "B\ufffd"]  # still names the record


def test_a_read_error_rejects_only_its_order_at_the_field_it_feeds(settings):
    orders = frame([order_row(), order_row(order_id="1002", order_code="SO1002",
                                           read_errors=("total_amount: 'abc' is not a number",))])
    lines = frame([line_row(), line_row(order_id="1002")])
    batch = build_delivery_orders(orders, lines, settings=settings, now=NOW)
    assert batch.documents["order_code"].tolist() == ["SO1001"]
    assert _reasons(batch, "SO1002") == [
        "deliveryOrder.totalAmount: cannot be read from the shop (total_amount: 'abc' is not a number)"]


def test_implausible_amounts_and_payment_times_are_rejected(settings):
    orders = frame([
        order_row(order_id="1", order_code="HUGE", total_amount=Decimal("1000000000000")),
        order_row(order_id="2", order_code="NEG", freight=Decimal("-1")),
        order_row(order_id="3", order_code="1970", paid_at=pd.Timestamp("1970-01-01T00:00:00Z")),
        order_row(order_id="4", order_code="2100", paid_at=pd.Timestamp("2100-01-01T00:00:00Z")),
    ])
    lines = frame([line_row(order_id=i) for i in "1234"])
    batch = build_delivery_orders(orders, lines, settings=settings, now=NOW)
    assert batch.documents.empty
    assert _reasons(batch, "HUGE") == ["deliveryOrder.totalAmount: more than 99999999.99: not a plausible amount"]
    assert _reasons(batch, "NEG") == ["deliveryOrder.freight: negative"]
    assert "placeOrderTime: payment time 1970-01-01 08:00:00 is not plausible" in _reasons(batch, "1970")[0]
    assert "placeOrderTime: payment time 2100-01-01 08:00:00 is not plausible" in _reasons(batch, "2100")[0]


def test_an_amount_beyond_decimal_precision_rejects_its_order_not_the_batch(settings):
    """1e40 cannot be rounded to fen within Decimal's 28 digits (quantize raises): it is an
    implausible amount of one order, not an error of the chunk."""
    orders = frame([order_row(), order_row(order_id="2", order_code="VAST", total_amount="1e40")])
    lines = frame([line_row(), line_row(order_id="2", price=Decimal("1E+35"))])
    batch = build_delivery_orders(orders, lines, settings=settings, now=NOW)
    assert batch.documents["order_code"].tolist() == ["SO1001"]
    assert _reasons(batch, "VAST") == ["deliveryOrder.totalAmount: more than 99999999.99: not a plausible amount",
                                       "orderLines[0].actualPrice: more than 99999999.99: not a plausible amount"]


def test_a_sku_read_error_rejects_only_that_sku():
    skus = frame([sku_row(), sku_row(sku_id="2", item_code="B2", read_errors=("bar_code: not valid UTF-8",))])
    batch = build_item_documents(skus, warehouse_code="W", owner_code="O")
    assert batch.documents["item_code"].tolist() == [skus.loc[0, "item_code"]]
    assert list(batch.rejects.set_index("item_code").loc["B2", "violations"]) == [
        "item.barCode: cannot be read from the shop (bar_code: not valid UTF-8)"]
