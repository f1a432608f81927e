"""Create the integration store: sync state, exchange log, shipment inbox, inventory and stock history.

Revision ID: 0001_create_store
Revises:
Create Date: 2026-11-28

Self-contained on purpose (types spelled out here, not imported from the live schema): a
migration must keep creating what it created on the day it was written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from wmsbridge.store.migrations.common import MYSQL, TABLE_OPTIONS

revision = "0001_create_store"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *MYSQL), nullable=nullable
    )


def _long_text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text().with_variant(mysql.LONGTEXT(), *MYSQL), nullable=nullable)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


ITEM_STATES = ("pending", "synced", "failed", "rejected")
ORDER_STATES = (
    "pending", "sending", "sent", "rejected", "failed", "cancel_requested", "cancelled",
    "cancel_failed", "shipped", "partially_shipped",
)


def upgrade() -> None:
    op.create_table(
        "wms_item_sync",
        _id(),
        sa.Column("item_code", sa.String(50), nullable=False),
        sa.Column("sku_id", sa.String(64)),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("wms_item_id", sa.String(64)),
        sa.Column("state", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error_code", sa.String(100)),
        sa.Column("last_error_message", sa.Text()),
        sa.Column("violations", sa.Text()),
        sa.Column("run_id", sa.String(250)),
        _ts("first_synced_at"),
        _ts("last_synced_at"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.UniqueConstraint("item_code", name="uq_wms_item_sync_item_code"),
        sa.CheckConstraint(_in("state", ITEM_STATES), name="ck_wms_item_sync_state"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_wms_item_sync_sku_id", "wms_item_sync", ["sku_id"])
    op.create_index("ix_wms_item_sync_state_updated_at", "wms_item_sync", ["state", "updated_at"])

    op.create_table(
        "wms_order_sync",
        _id(),
        sa.Column("delivery_order_code", sa.String(50), nullable=False),
        sa.Column("shop_order_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("wms_order_id", sa.String(64)),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error_code", sa.String(100)),
        sa.Column("last_error_message", sa.Text()),
        sa.Column("last_error_retryable", sa.Boolean()),
        sa.Column("violations", sa.Text()),
        sa.Column("carrier_code", sa.String(50)),
        sa.Column("tracking_numbers", sa.Text()),
        sa.Column("run_id", sa.String(250)),
        _ts("paid_at"),
        _ts("last_attempt_at"),
        _ts("first_sent_at"),
        _ts("sent_at"),
        _ts("cancel_requested_at"),
        _ts("cancelled_at"),
        _ts("shipped_at"),
        _ts("shop_written_at"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.UniqueConstraint("delivery_order_code", name="uq_wms_order_sync_delivery_order_code"),
        sa.CheckConstraint(_in("state", ORDER_STATES), name="ck_wms_order_sync_state"),
        sa.CheckConstraint("attempts >= 0", name="ck_wms_order_sync_attempts"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_wms_order_sync_shop_order_id", "wms_order_sync", ["shop_order_id"])
    op.create_index("ix_wms_order_sync_state_updated_at", "wms_order_sync", ["state", "updated_at"])
    op.create_index("ix_wms_order_sync_paid_at", "wms_order_sync", ["paid_at"])

    op.create_table(
        "wms_exchange_log",
        _id(),
        _ts("logged_at", nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("method", sa.String(100), nullable=False),
        sa.Column("business_key", sa.String(100)),
        sa.Column("request_url", sa.Text()),
        _long_text("request_body"),
        _long_text("response_body"),
        sa.Column("http_status", sa.Integer()),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("error_code", sa.String(100)),
        sa.Column("error_message", sa.Text()),
        sa.Column("duration_ms", sa.Integer()),
        sa.Column("run_id", sa.String(250)),
        sa.CheckConstraint(_in("direction", ("outbound", "callback")), name="ck_wms_exchange_log_direction"),
        **TABLE_OPTIONS,
    )
    op.create_index(
        "ix_wms_exchange_log_business_key_logged_at", "wms_exchange_log", ["business_key", "logged_at"]
    )
    op.create_index("ix_wms_exchange_log_method_logged_at", "wms_exchange_log", ["method", "logged_at"])
    op.create_index("ix_wms_exchange_log_logged_at", "wms_exchange_log", ["logged_at"])
    op.create_index("ix_wms_exchange_log_run_id", "wms_exchange_log", ["run_id"])

    op.create_table(
        "wms_shipment_inbox",
        _id(),
        sa.Column("out_biz_code", sa.String(100), nullable=False),
        sa.Column("delivery_order_code", sa.String(50), nullable=False),
        sa.Column("delivery_order_id", sa.String(64)),
        sa.Column("warehouse_code", sa.String(50)),
        sa.Column("status", sa.String(20)),
        sa.Column("confirm_type", sa.Integer()),
        _ts("order_confirm_at"),
        _long_text("raw_body", nullable=False),
        _ts("received_at", nullable=False),
        _ts("processed_at"),
        sa.Column("process_error", sa.Text()),
        sa.UniqueConstraint("out_biz_code", name="uq_wms_shipment_inbox_out_biz_code"),
        **TABLE_OPTIONS,
    )
    op.create_index(
        "ix_wms_shipment_inbox_delivery_order_code", "wms_shipment_inbox", ["delivery_order_code"]
    )
    op.create_index(
        "ix_wms_shipment_inbox_processed_at_received_at", "wms_shipment_inbox", ["processed_at", "received_at"]
    )

    op.create_table(
        "wms_shipment_package",
        _id(),
        sa.Column(
            "inbox_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("wms_shipment_inbox.id", name="fk_wms_shipment_package_inbox_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("delivery_order_code", sa.String(50), nullable=False),
        sa.Column("package_no", sa.Integer(), nullable=False),
        sa.Column("logistics_code", sa.String(50)),
        sa.Column("logistics_name", sa.String(200)),
        sa.Column("express_code", sa.String(50)),
        sa.Column("package_code", sa.String(50)),
        sa.Column("item_code", sa.String(50)),
        sa.Column("item_id", sa.String(64)),
        sa.Column("quantity", sa.Integer()),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_wms_shipment_package_inbox_id", "wms_shipment_package", ["inbox_id"])
    op.create_index(
        "ix_wms_shipment_package_delivery_order_code", "wms_shipment_package", ["delivery_order_code"]
    )
    op.create_index("ix_wms_shipment_package_express_code", "wms_shipment_package", ["express_code"])

    op.create_table(
        "wms_inventory_snapshot",
        _id(),
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("warehouse_code", sa.String(50), nullable=False),
        sa.Column("item_code", sa.String(50), nullable=False),
        sa.Column("inventory_type", sa.String(20), nullable=False),
        sa.Column("batch_code", sa.String(50), nullable=False, server_default=""),
        sa.Column("item_id", sa.String(64)),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("lock_quantity", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("product_date", sa.Date()),
        sa.Column("expire_date", sa.Date()),
        _ts("fetched_at", nullable=False),
        sa.Column("run_id", sa.String(250)),
        sa.UniqueConstraint(
            "snapshot_date", "warehouse_code", "item_code", "inventory_type", "batch_code",
            name="uq_wms_inventory_snapshot_key",
        ),
        **TABLE_OPTIONS,
    )
    op.create_index(
        "ix_wms_inventory_snapshot_item_code_snapshot_date", "wms_inventory_snapshot", ["item_code", "snapshot_date"]
    )

    op.create_table(
        "wms_stock_writeback",
        _id(),
        sa.Column("writeback_date", sa.Date(), nullable=False),
        sa.Column("item_code", sa.String(50), nullable=False),
        sa.Column("sku_id", sa.String(64)),
        sa.Column("shop_stock_before", sa.Integer()),
        sa.Column("wms_quantity", sa.Integer()),
        sa.Column("pending_quantity", sa.Integer()),
        sa.Column("written_value", sa.Integer()),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(500)),
        _ts("recorded_at", nullable=False),
        sa.Column("run_id", sa.String(250)),
        sa.CheckConstraint(_in("outcome", ("applied", "skipped")), name="ck_wms_stock_writeback_outcome"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_wms_stock_writeback_writeback_date", "wms_stock_writeback", ["writeback_date"])
    op.create_index(
        "ix_wms_stock_writeback_item_code_writeback_date", "wms_stock_writeback", ["item_code", "writeback_date"]
    )


def downgrade() -> None:
    for table in (
        "wms_stock_writeback",
        "wms_inventory_snapshot",
        "wms_shipment_package",
        "wms_shipment_inbox",
        "wms_exchange_log",
        "wms_order_sync",
        "wms_item_sync",
    ):
        op.drop_table(table)
