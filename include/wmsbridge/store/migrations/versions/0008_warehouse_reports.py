"""The warehouse's own reports: ``wms_warehouse_report``, and the view of what waits for a person.

Revision ID: 0008_warehouse_reports
Revises: 0007_attention
Create Date: 2026-12-04

Standard Qimen reports beyond Juxing's note (``itemlack.report`` first; ``orderprocess.report`` and
``stockchange.report`` next), switched on per deployment in ``enabled_methods``, are stored by the
receiver once per report key. ``wms_v_needs_person`` is recreated with the reports a person must
deal with (store/attention.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from wmsbridge.store.migrations.common import MYSQL, TABLE_OPTIONS

revision = "0008_warehouse_reports"
down_revision = "0007_attention"
branch_labels = None
depends_on = None

STATES = ("received", "applied", "needs_person")
TABLES_0007 = ("wms_order_sync", "wms_item_sync", "wms_shipment_inbox", "wms_inventory_run", "wms_unkeyed_record")
TABLES_0008 = (*TABLES_0007, "wms_warehouse_report")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *MYSQL), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "wms_warehouse_report",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("method", sa.String(50), nullable=False),
        sa.Column("report_key", sa.String(100), nullable=False),
        sa.Column("order_code", sa.String(50)),
        sa.Column("summary", sa.Text()),
        sa.Column("raw_body", sa.Text().with_variant(mysql.LONGTEXT(), *MYSQL), nullable=False),
        _ts("received_at", nullable=False),
        sa.Column("state", sa.String(20), nullable=False, server_default="received"),
        _ts("processed_at"),
        sa.Column("run_id", sa.String(250)),
        sa.Column("dag_id", sa.String(250)),
        _ts("handled_at"),
        sa.Column("handled_by", sa.String(250)),
        sa.UniqueConstraint("method", "report_key", name="uq_wms_warehouse_report_method_report_key"),
        sa.CheckConstraint(f"state IN ({', '.join(repr(s) for s in STATES)})", name="ck_wms_warehouse_report_state"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_wms_warehouse_report_order_code", "wms_warehouse_report", ["order_code"])
    op.create_index("ix_wms_warehouse_report_method_state_received_at", "wms_warehouse_report",
                    ["method", "state", "received_at"])
    from wmsbridge.store.attention import view_sql

    op.execute("DROP VIEW IF EXISTS wms_v_needs_person")
    op.execute(view_sql(op.get_bind().dialect, TABLES_0008, keyed=False))


def downgrade() -> None:
    from wmsbridge.store.attention import view_sql

    op.execute("DROP VIEW IF EXISTS wms_v_needs_person")
    op.execute(view_sql(op.get_bind().dialect, TABLES_0007, keyed=False))
    op.drop_index("ix_wms_warehouse_report_method_state_received_at", table_name="wms_warehouse_report")
    op.drop_index("ix_wms_warehouse_report_order_code", table_name="wms_warehouse_report")
    op.drop_table("wms_warehouse_report")
