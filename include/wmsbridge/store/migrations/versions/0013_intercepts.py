"""Courier intercepts to check: the view of what waits for a person lists an ``orderprocess.report``
TMSCANCELED the cancels flow could not apply under ``intercepts_to_check`` (flow ``cancels``), no
longer under ``reports_for_person`` (flow ``orders``).

Revision ID: 0013_intercepts
Revises: 0012_return_receipts
Create Date: 2026-12-07

The ``wms_order_cancel`` run settles such a report ``needs_person`` (the courier intercepted an order
the shop never refunded, or the report cannot be read), with its ``run_id``, and fails for it like
for every record it newly puts in front of a person; store/attention.py says so, and
``wms_v_needs_person`` is recreated from it. The statuses the receiver stores for a person at once
(REJECT, EXCEPTION, TMSCANCELFAILED ..., no ``run_id``) stay under ``reports_for_person``. No table
changes. The view always follows the code: the downgrade recreates it the same way, from
store/attention.py as it is then (a downgrade leaves the code in place, and the view must count what
the runs and the operations page count).
"""

from __future__ import annotations

from wmsbridge.store.migrations.common import recreate_needs_person_view

revision = "0013_intercepts"
down_revision = "0012_return_receipts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    recreate_needs_person_view()


def downgrade() -> None:
    recreate_needs_person_view()
