"""Daily stock sync: the run ledger (one full sync per Beijing day) and the analysts' views.

Revision ID: 0005_inventory
Revises: 0004_cancellations
Create Date: 2026-11-29

``wms_inventory_run`` records every daily inventory sync; its unique ``holds_date`` lets one run
per Beijing day hold the day's full sync. The three views read ``wms_inventory_snapshot`` and
``wms_stock_writeback`` (docs/data-dictionary.md); their SQL is the same on SQLite, PostgreSQL and
MariaDB. Self-contained on purpose, like every migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from wmsbridge.store.migrations.common import MYSQL, TABLE_OPTIONS

revision = "0005_inventory"
down_revision = "0004_cancellations"
branch_labels = None
depends_on = None

VERDICTS = ("running", "completed", "guard_refused", "refused", "failed", "abandoned")

# Sellable = ZP quantity (the warehouse's quantity is already net of frozen/locked stock).
_AVAILABLE = (
    "CASE WHEN w.wms_quantity - COALESCE(w.pending_quantity, 0) > 0"
    " THEN w.wms_quantity - COALESCE(w.pending_quantity, 0) ELSE 0 END"
)

VIEWS = {
    # One row per Beijing day and SKU: what the warehouse held (all warehouses, batches summed).
    "wms_v_stock_daily": """
        SELECT snapshot_date, item_code,
               SUM(CASE WHEN inventory_type = 'ZP' THEN quantity ELSE 0 END) AS sellable_quantity,
               SUM(CASE WHEN inventory_type = 'ZP' THEN lock_quantity ELSE 0 END) AS locked_quantity,
               SUM(CASE WHEN inventory_type = 'ZP' THEN 0 ELSE quantity END) AS other_quantity,
               SUM(quantity) AS total_quantity,
               COUNT(*) AS snapshot_rows
        FROM wms_inventory_snapshot
        GROUP BY snapshot_date, item_code""",
    # One row per SKU: on how many snapshot days it had nothing to sell.
    "wms_v_days_out_of_stock": """
        SELECT item_code,
               COUNT(*) AS days_observed,
               SUM(CASE WHEN sellable_quantity <= 0 THEN 1 ELSE 0 END) AS days_out_of_stock,
               MIN(snapshot_date) AS first_snapshot_date,
               MAX(snapshot_date) AS last_snapshot_date,
               MAX(CASE WHEN sellable_quantity <= 0 THEN snapshot_date END) AS last_out_of_stock_date
        FROM wms_v_stock_daily
        GROUP BY item_code""",
    # One row per day and SKU (the day's last decision): the shop's stock before the write-back
    # against what the warehouse said was available to sell; drift > 0: the shop showed more.
    "wms_v_stock_drift": f"""
        SELECT w.writeback_date, w.item_code, w.sku_id, w.shop_stock_before, w.wms_quantity,
               w.pending_quantity,
               {_AVAILABLE} AS available_to_sell,
               w.shop_stock_before - {_AVAILABLE} AS drift,
               w.written_value, w.outcome, w.reason, w.run_id
        FROM wms_stock_writeback w
        WHERE w.wms_quantity IS NOT NULL AND w.shop_stock_before IS NOT NULL
          AND w.id = (SELECT MAX(w2.id) FROM wms_stock_writeback w2
                      WHERE w2.writeback_date = w.writeback_date AND w2.item_code = w.item_code
                        AND w2.wms_quantity IS NOT NULL AND w2.shop_stock_before IS NOT NULL)""",
}


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *MYSQL), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "wms_inventory_run",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("beijing_date", sa.Date(), nullable=False),
        sa.Column("holds_date", sa.Date()),
        sa.Column("run_id", sa.String(250)),
        sa.Column("forced", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("verdict", sa.String(20), nullable=False),
        _ts("started_at", nullable=False),
        _ts("finished_at"),
        sa.Column("skus_queried", sa.Integer()),
        sa.Column("skus_answered", sa.Integer()),
        sa.Column("skus_missing", sa.Integer()),
        sa.Column("rows_saved", sa.Integer()),
        sa.Column("calls", sa.Integer()),
        sa.Column("skus_written", sa.Integer()),
        sa.Column("message", sa.Text()),
        sa.UniqueConstraint("holds_date", name="uq_wms_inventory_run_holds_date"),
        sa.CheckConstraint(
            f"verdict IN ({', '.join(repr(v) for v in VERDICTS)})", name="ck_wms_inventory_run_verdict"
        ),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_wms_inventory_run_beijing_date", "wms_inventory_run", ["beijing_date"])
    for name, sql in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {sql.strip()}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_index("ix_wms_inventory_run_beijing_date", table_name="wms_inventory_run")
    op.drop_table("wms_inventory_run")
