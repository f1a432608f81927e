"""A return the shop withdrew: ``wms_return.state`` may be ``withdrawn``, and the view of what waits
for a person lists the ones the warehouse had been told of (``returns_withdrawn``).

Revision ID: 0011_return_withdrawn
Revises: 0010_bridges
Create Date: 2026-12-05

The returns flow asks the shop (profile ``withdrawn_returns``) which registered returns not received
yet it withdrew, refused or deleted: those are never sent (again), and one the warehouse was told of
waits for a person, who asks the warehouse to cancel it (pipelines/returns.py). SQLite cannot alter
a CHECK constraint: batch mode rebuilds wms_return there, so ``wms_v_needs_person`` (which reads it,
and which SQLite checks on the rename) is dropped first and created again last, from
store/attention.py. Self-contained, like every migration; the downgrade turns withdrawn returns into
``rejected`` ones (never sent again), those the warehouse had been told of still waiting for a person.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wmsbridge.store.migrations.common import NEEDS_PERSON_VIEW, recreate_needs_person_view

revision = "0011_return_withdrawn"
down_revision = "0010_bridges"
branch_labels = None
depends_on = None

CHECK = "ck_wms_return_state"
OLD_STATES = ("pending", "sending", "sent", "failed", "rejected", "partially_received", "received")
NEW_STATES = (*OLD_STATES, "withdrawn")
TOLD = "WITHDRAWN_AFTER_SENT"  # last_error_code of a withdrawn return the warehouse had been told of


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _replace_state_check(states: tuple[str, ...]) -> None:
    with op.batch_alter_table("wms_return") as batch:
        batch.drop_constraint(CHECK, type_="check")
        batch.create_check_constraint(CHECK, _in("state", states))


def upgrade() -> None:
    op.execute(f"DROP VIEW IF EXISTS {NEEDS_PERSON_VIEW}")
    _replace_state_check(NEW_STATES)
    recreate_needs_person_view()


def downgrade() -> None:
    op.execute(f"DROP VIEW IF EXISTS {NEEDS_PERSON_VIEW}")
    # never sent again either way; one nobody waits for is marked handled, so it stays off the lists
    op.execute(sa.text(
        "UPDATE wms_return SET handled_at = updated_at, handled_by = :by "
        "WHERE state = 'withdrawn' AND COALESCE(last_error_code, '') <> :told").bindparams(
            by="0011 downgrade: withdrawn before it was sent", told=TOLD))
    op.execute(sa.text("UPDATE wms_return SET state = 'rejected', last_error_retryable = :no "
                       "WHERE state = 'withdrawn'").bindparams(sa.bindparam("no", False, sa.Boolean())))
    _replace_state_check(OLD_STATES)
    recreate_needs_person_view()
