"""Return receipts to check: the view of what waits for a person lists a ``returnorder.confirm`` the
returns flow could not apply under ``returns_receipts`` (flow ``returns``), no longer under
``reports_for_person`` (flow ``orders``).

Revision ID: 0012_return_receipts
Revises: 0011_return_withdrawn
Create Date: 2026-12-06

The ``wms_returns`` run settles such a receipt ``needs_person`` (a return we never announced, one our
checks refused or the shop withdrew, units beyond what the return announced, a receipt it cannot
read) and fails for it like for every record it newly puts in front of a person; store/attention.py
says so, and ``wms_v_needs_person`` is recreated from it. No table changes. The view always follows
the code: the downgrade recreates it the same way, from store/attention.py as it is then (a
downgrade leaves the code in place, and the view must count what the runs and the operations page
count).
"""

from __future__ import annotations

from wmsbridge.store.migrations.common import recreate_needs_person_view

revision = "0012_return_receipts"
down_revision = "0011_return_withdrawn"
branch_labels = None
depends_on = None


def upgrade() -> None:
    recreate_needs_person_view()


def downgrade() -> None:
    recreate_needs_person_view()
