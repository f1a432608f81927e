"""Shop records whose code cannot key them: kept by the shop's own id, never lost.

Revision ID: 0006_unkeyed_records
Revises: 0005_inventory
Create Date: 2026-12-03

An order or SKU whose code is empty, blank, holds control characters or is longer than the
warehouse allows cannot have a row in ``wms_order_sync`` / ``wms_item_sync`` (keyed by code).
``wms_unkeyed_record`` keeps it by the shop's id, with why it was refused, until the shop's record
comes back with a usable code (``resolved_at``). Self-contained on purpose, like every migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from wmsbridge.store.migrations.common import MYSQL, TABLE_OPTIONS

revision = "0006_unkeyed_records"
down_revision = "0005_inventory"
branch_labels = None
depends_on = None

FLOWS = ("items", "orders")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *MYSQL), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "wms_unkeyed_record",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("flow", sa.String(20), nullable=False),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("shop_code", sa.String(100)),
        sa.Column("violations", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(250)),
        _ts("first_seen_at", nullable=False),
        _ts("last_seen_at", nullable=False),
        _ts("resolved_at"),
        sa.UniqueConstraint("flow", "shop_id", name="uq_wms_unkeyed_record_flow_shop_id"),
        sa.CheckConstraint(f"flow IN ({', '.join(repr(f) for f in FLOWS)})", name="ck_wms_unkeyed_record_flow"),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("wms_unkeyed_record")
