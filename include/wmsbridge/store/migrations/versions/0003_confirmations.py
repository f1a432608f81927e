"""Shipment confirmations: inbox states and retries, callbacks logged as direction 'inbound'.

Revision ID: 0003_confirmations
Revises: 0002_failure_model
Create Date: 2026-11-29

Self-contained (values spelled out here, not imported from the live schema). SQLite gets batch
mode: it rebuilds the table to change a CHECK constraint.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from wmsbridge.store.migrations.common import MYSQL

revision = "0003_confirmations"
down_revision = "0002_failure_model"
branch_labels = None
depends_on = None

SHIPMENT_STATES = ("received", "applied", "waiting", "needs_person")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _set_directions(old: tuple[str, ...], new: tuple[str, ...], rename: tuple[str, str]) -> None:
    with op.batch_alter_table("wms_exchange_log") as batch:
        batch.drop_constraint("ck_wms_exchange_log_direction", type_="check")
    op.execute(sa.text("UPDATE wms_exchange_log SET direction = :new WHERE direction = :old")
               .bindparams(old=rename[0], new=rename[1]))
    with op.batch_alter_table("wms_exchange_log") as batch:
        batch.create_check_constraint("ck_wms_exchange_log_direction", _in("direction", new))


def upgrade() -> None:
    _set_directions(("outbound", "callback"), ("outbound", "inbound"), ("callback", "inbound"))
    with op.batch_alter_table("wms_shipment_inbox") as batch:
        batch.add_column(sa.Column("state", sa.String(20), nullable=False, server_default="received"))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column(
            "last_attempt_at", sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *MYSQL), nullable=True
        ))
        batch.create_check_constraint("ck_wms_shipment_inbox_state", _in("state", SHIPMENT_STATES))
    # Rows from before: processed ones are done (applied, or with process_error a person's case).
    op.execute(sa.text(
        "UPDATE wms_shipment_inbox SET state = CASE WHEN process_error IS NULL THEN 'applied' ELSE 'needs_person' END"
        " WHERE processed_at IS NOT NULL"
    ))
    op.create_index("ix_wms_shipment_inbox_state_received_at", "wms_shipment_inbox", ["state", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_wms_shipment_inbox_state_received_at", table_name="wms_shipment_inbox")
    with op.batch_alter_table("wms_shipment_inbox") as batch:
        batch.drop_constraint("ck_wms_shipment_inbox_state", type_="check")
        batch.drop_column("last_attempt_at")
        batch.drop_column("attempts")
        batch.drop_column("state")
    _set_directions(("outbound", "inbound"), ("outbound", "callback"), ("inbound", "callback"))
