"""What waits for a person, one definition: handled marks, the deciding DAG, the actions log, a view.

Revision ID: 0007_attention
Revises: 0006_unkeyed_records
Create Date: 2026-12-03

- ``dag_id`` beside every ``run_id`` (run ids repeat across DAGs: ``scheduled__<time>``), and a
  ``run_id`` on wms_shipment_inbox (the run that last moved a confirmation);
- ``handled_at`` / ``handled_by`` on the rows a person can deal with (cleared when they change
  state), every act also in the append-only ``wms_person_action``;
- ``wms_item_sync.last_error_retryable`` (a SKU the warehouse refused for good waits for a person,
  a passing failure does not) and ``wms_shipment_inbox.overdue_at`` (a confirmation waiting too
  long for its order);
- the view ``wms_v_needs_person``: every record waiting for a person, built from
  ``wmsbridge.store.attention`` (the one definition the run verdicts and the operations page use).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from wmsbridge.store.migrations.common import MYSQL, TABLE_OPTIONS

revision = "0007_attention"
down_revision = "0006_unkeyed_records"
branch_labels = None
depends_on = None

ACTIONS = ("handled", "send_again", "apply_again", "write_snapshot")
DAG_ID_TABLES = ("wms_order_sync", "wms_item_sync", "wms_exchange_log", "wms_shipment_inbox", "wms_stock_writeback",
                 "wms_cursor", "wms_inventory_run", "wms_unkeyed_record")
HANDLED_TABLES = ("wms_order_sync", "wms_item_sync", "wms_shipment_inbox", "wms_inventory_run", "wms_unkeyed_record")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *MYSQL), nullable=nullable
    )


def upgrade() -> None:
    op.add_column("wms_shipment_inbox", sa.Column("run_id", sa.String(250)))
    for table in DAG_ID_TABLES:
        op.add_column(table, sa.Column("dag_id", sa.String(250)))
    for table in HANDLED_TABLES:
        op.add_column(table, _ts("handled_at"))
        op.add_column(table, sa.Column("handled_by", sa.String(250)))
    op.add_column("wms_item_sync", sa.Column("last_error_retryable", sa.Boolean()))
    op.add_column("wms_shipment_inbox", _ts("overdue_at"))
    op.create_table(
        "wms_person_action",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        _ts("acted_at", nullable=False),
        sa.Column("actor", sa.String(250), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("outcome", sa.Text()),
        sa.Column("dag_id", sa.String(250)),
        sa.Column("run_id", sa.String(250)),
        sa.CheckConstraint(f"action IN ({', '.join(repr(a) for a in ACTIONS)})", name="ck_wms_person_action_action"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_wms_person_action_acted_at", "wms_person_action", ["acted_at"])
    op.create_index("ix_wms_person_action_subject", "wms_person_action", ["category", "subject"])
    # The one definition (store/attention.py), over the tables of this revision: a later change to
    # it comes with a migration that recreates the view (0008 adds wms_warehouse_report).
    from wmsbridge.store.attention import view_sql

    op.execute(view_sql(op.get_bind().dialect, HANDLED_TABLES, keyed=False))


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS wms_v_needs_person")
    op.drop_index("ix_wms_person_action_subject", table_name="wms_person_action")
    op.drop_index("ix_wms_person_action_acted_at", table_name="wms_person_action")
    op.drop_table("wms_person_action")
    with op.batch_alter_table("wms_shipment_inbox") as batch:
        batch.drop_column("overdue_at")
    with op.batch_alter_table("wms_item_sync") as batch:
        batch.drop_column("last_error_retryable")
    for table in HANDLED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("handled_by")
            batch.drop_column("handled_at")
    for table in DAG_ID_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("dag_id")
    with op.batch_alter_table("wms_shipment_inbox") as batch:
        batch.drop_column("run_id")
