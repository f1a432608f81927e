"""Returns and stock adjustments: ``wms_return``, ``wms_stock_adjustment``, and the view of what
waits for a person.

Revision ID: 0009_returns
Revises: 0008_warehouse_reports
Create Date: 2026-12-04

A return the shop approved is announced with ``returnorder.create`` and followed to the warehouse's
``returnorder.confirm`` (pipelines/returns.py); every signed change the bridge makes to the shop's
stock between daily syncs is kept once per source and item. ``wms_v_needs_person`` is recreated:
returns refused or received (the refund is a person's to pay), stock changes left unsure, and a
refund after shipment that became a return leaves the refunds a person must handle.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from wmsbridge.store.migrations.common import MYSQL, TABLE_OPTIONS

revision = "0009_returns"
down_revision = "0008_warehouse_reports"
branch_labels = None
depends_on = None

RETURN_STATES = ("pending", "sending", "sent", "failed", "rejected", "partially_received", "received")
ADJUSTMENT_STATES = ("applying", "applied", "skipped", "needs_person")
ADJUSTMENT_SOURCES = ("return_received", "return_add_back", "stock_change")
TABLES_0008 = ("wms_order_sync", "wms_item_sync", "wms_shipment_inbox", "wms_inventory_run", "wms_unkeyed_record",
               "wms_warehouse_report")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *MYSQL), nullable=nullable
    )


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "wms_return",
        _id(),
        sa.Column("return_code", sa.String(50), nullable=False),
        sa.Column("shop_return_id", sa.String(64), nullable=False),
        sa.Column("delivery_order_code", sa.String(50), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("wms_return_id", sa.String(64)),
        sa.Column("express_code", sa.String(50)),
        sa.Column("logistics_code", sa.String(50)),
        sa.Column("reason", sa.Text()),
        sa.Column("lines", sa.Text()),
        sa.Column("received", sa.Text()),
        sa.Column("note", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error_code", sa.String(100)),
        sa.Column("last_error_message", sa.Text()),
        sa.Column("last_error_retryable", sa.Boolean()),
        sa.Column("run_id", sa.String(250)),
        _ts("sent_at"),
        _ts("received_at"),
        _ts("refunded_at"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.Column("dag_id", sa.String(250)),
        _ts("handled_at"),
        sa.Column("handled_by", sa.String(250)),
        sa.UniqueConstraint("return_code", name="uq_wms_return_return_code"),
        sa.CheckConstraint(_in("state", RETURN_STATES), name="ck_wms_return_state"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_wms_return_delivery_order_code", "wms_return", ["delivery_order_code"])
    op.create_index("ix_wms_return_state_updated_at", "wms_return", ["state", "updated_at"])
    op.create_table(
        "wms_stock_adjustment",
        _id(),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("source_key", sa.String(100), nullable=False),
        sa.Column("item_code", sa.String(50), nullable=False),
        sa.Column("sku_id", sa.String(64)),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, server_default="applying"),
        sa.Column("note", sa.Text()),
        sa.Column("run_id", sa.String(250)),
        _ts("created_at", nullable=False),
        _ts("applied_at"),
        sa.Column("dag_id", sa.String(250)),
        _ts("handled_at"),
        sa.Column("handled_by", sa.String(250)),
        sa.UniqueConstraint("source", "source_key", "item_code", name="uq_wms_stock_adjustment_source_key_item"),
        sa.CheckConstraint(_in("state", ADJUSTMENT_STATES), name="ck_wms_stock_adjustment_state"),
        sa.CheckConstraint(_in("source", ADJUSTMENT_SOURCES), name="ck_wms_stock_adjustment_source"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_wms_stock_adjustment_state", "wms_stock_adjustment", ["state"])
    from wmsbridge.store.attention import view_sql

    op.execute("DROP VIEW IF EXISTS wms_v_needs_person")
    op.execute(view_sql(op.get_bind().dialect, (*TABLES_0008, "wms_return", "wms_stock_adjustment"), keyed=False))


def downgrade() -> None:
    from wmsbridge.store.attention import view_sql

    op.execute("DROP VIEW IF EXISTS wms_v_needs_person")
    op.execute(view_sql(op.get_bind().dialect, TABLES_0008, keyed=False))
    op.drop_index("ix_wms_stock_adjustment_state", table_name="wms_stock_adjustment")
    op.drop_table("wms_stock_adjustment")
    op.drop_index("ix_wms_return_state_updated_at", table_name="wms_return")
    op.drop_index("ix_wms_return_delivery_order_code", table_name="wms_return")
    op.drop_table("wms_return")
