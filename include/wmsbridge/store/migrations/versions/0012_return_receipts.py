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

from alembic import op

from wmsbridge.store.migrations.common import MYSQL, TABLE_OPTIONS  # noqa: F401 - shared names, as every migration

revision = "0012_return_receipts"
down_revision = "0011_return_withdrawn"
branch_labels = None
depends_on = None

TABLES_0011 = ("wms_order_sync", "wms_item_sync", "wms_shipment_inbox", "wms_inventory_run", "wms_unkeyed_record",
               "wms_warehouse_report", "wms_return", "wms_stock_adjustment")
VIEW = "wms_v_needs_person"


def _view() -> None:
    from wmsbridge.store.attention import view_sql

    op.execute(f"DROP VIEW IF EXISTS {VIEW}")
    op.execute(view_sql(op.get_bind().dialect, TABLES_0011))


def upgrade() -> None:
    _view()


def downgrade() -> None:
    _view()
