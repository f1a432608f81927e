"""Failure model: exists_different orders, retry backoff, sending leases, per-flow cursors.

Revision ID: 0002_failure_model
Revises: 0001_create_store
Create Date: 2026-11-29

- ``wms_order_sync.state`` may be ``exists_different`` (the warehouse holds another version);
- ``next_attempt_at``: a retryable failure is claimed again from then on (backoff between runs);
- ``lease_expires_at``: a ``sending`` order belongs to its run until then (renewed while it lives);
- ``wms_cursor``: per-flow watermarks, moved only by what was really sent.

SQLite cannot alter a CHECK constraint: batch mode rebuilds wms_order_sync there. Self-contained
on purpose, like 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from wmsbridge.store.migrations.common import MYSQL, TABLE_OPTIONS

revision = "0002_failure_model"
down_revision = "0001_create_store"
branch_labels = None
depends_on = None

CHECK = "ck_wms_order_sync_state"

OLD_STATES = (
    "pending", "sending", "sent", "rejected", "failed", "cancel_requested", "cancelled",
    "cancel_failed", "shipped", "partially_shipped",
)
NEW_STATES = (
    "pending", "sending", "sent", "rejected", "failed", "exists_different", "cancel_requested", "cancelled",
    "cancel_failed", "shipped", "partially_shipped",
)


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *MYSQL), nullable=nullable
    )


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _replace_state_check(states: tuple[str, ...]) -> None:
    with op.batch_alter_table("wms_order_sync") as batch:
        batch.drop_constraint(CHECK, type_="check")
        batch.create_check_constraint(CHECK, _in("state", states))


def upgrade() -> None:
    with op.batch_alter_table("wms_order_sync") as batch:
        batch.add_column(_ts("next_attempt_at"))
        batch.add_column(_ts("lease_expires_at"))
    _replace_state_check(NEW_STATES)
    op.create_index("ix_wms_order_sync_run_id_state", "wms_order_sync", ["run_id", "state"])
    op.create_table(
        "wms_cursor",
        sa.Column("flow", sa.String(100), primary_key=True),
        _ts("watermark", nullable=False),
        sa.Column("run_id", sa.String(250)),
        _ts("updated_at", nullable=False),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("wms_cursor")
    op.drop_index("ix_wms_order_sync_run_id_state", table_name="wms_order_sync")
    # exists_different has no older equivalent: such orders wait for a person, as failed ones do.
    op.execute(
        "UPDATE wms_order_sync SET state = 'failed', last_error_retryable = false WHERE state = 'exists_different'"
    )
    _replace_state_check(OLD_STATES)
    with op.batch_alter_table("wms_order_sync") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("next_attempt_at")
