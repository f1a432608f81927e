"""Cancellations: the view of orders whose cancel waits for a person (refund after shipment).

Revision ID: 0004_cancellations
Revises: 0003_confirmations
Create Date: 2026-11-29

A view, not a table: it reads wms_order_sync, so it can never disagree with the order states.
An order is in it when the cancel failed (``cancel_failed``), and also while a shipment
confirmation has moved a refunded order to ``shipped`` before the next wms_order_cancel run marks
it ``cancel_failed``: a person sees a refund after shipment at once, whichever came first.
Times are UTC as everywhere in the store, plus one Beijing-time column for operators.
"""

from __future__ import annotations

from alembic import op

revision = "0004_cancellations"
down_revision = "0003_confirmations"
branch_labels = None
depends_on = None

VIEW = "wms_cancel_needs_person"

_BEIJING = {
    "postgresql": "(o.cancel_requested_at AT TIME ZONE 'Asia/Shanghai')",
    "mysql": "CONVERT_TZ(o.cancel_requested_at, '+00:00', '+08:00')",
    "mariadb": "CONVERT_TZ(o.cancel_requested_at, '+00:00', '+08:00')",
    "sqlite": "datetime(o.cancel_requested_at, '+8 hours')",
}


def _select(dialect: str) -> str:
    return f"""
SELECT o.delivery_order_code,
       o.shop_order_id,
       o.wms_order_id,
       o.state,
       CASE WHEN o.state IN ('shipped', 'partially_shipped') OR o.last_error_code = 'REFUND_AFTER_SHIPMENT'
            THEN 'refund after shipment: intercept or return the parcel'
            ELSE 'the warehouse refused order.cancel: see last_error_message'
       END AS action,
       o.carrier_code,
       o.tracking_numbers,
       o.shipped_at,
       o.cancel_requested_at,
       {_BEIJING[dialect]} AS cancel_requested_beijing,
       o.last_error_code,
       o.last_error_message,
       o.updated_at
FROM wms_order_sync o
WHERE o.state = 'cancel_failed'
   OR (o.cancel_requested_at IS NOT NULL AND o.state IN ('shipped', 'partially_shipped'))
"""


def upgrade() -> None:
    op.execute(f"CREATE VIEW {VIEW} AS {_select(op.get_bind().dialect.name)}")


def downgrade() -> None:
    op.execute(f"DROP VIEW {VIEW}")
