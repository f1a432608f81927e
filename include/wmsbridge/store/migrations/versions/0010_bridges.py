"""Several bridges in one store: every table gets ``bridge_id``, every business key is unique per bridge.

Revision ID: 0010_bridges
Revises: 0009_returns
Create Date: 2026-12-04

One deployment may serve several shops and warehouse accounts (``bridges`` in wms_bridge_config);
two shops may both have order ``1001`` or SKU ``A-1``. Today's rows belong to bridge ``default``
(the one bridge of a flat configuration). The views gain ``bridge_id`` as their first column, so
analysts filter or total per bridge. SQLite cannot alter a constraint: batch mode rebuilds the tables
there, so every view (which SQLite checks on a rename) is dropped first and created again last.
Self-contained, like every migration; the downgrade refuses while another bridge has rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import mysql

from wmsbridge.store.migrations.common import MYSQL, TABLE_OPTIONS

revision = "0010_bridges"
down_revision = "0009_returns"
branch_labels = None
depends_on = None

DEFAULT = "default"
TABLES_0009 = ("wms_order_sync", "wms_item_sync", "wms_shipment_inbox", "wms_inventory_run", "wms_unkeyed_record",
               "wms_warehouse_report", "wms_return", "wms_stock_adjustment")

# table -> (old unique name, old columns, new unique name); the new key is bridge_id + the old columns
KEYS = {
    "wms_item_sync": ("uq_wms_item_sync_item_code", ("item_code",), "uq_wms_item_sync_bridge_item_code"),
    "wms_order_sync": ("uq_wms_order_sync_delivery_order_code", ("delivery_order_code",),
                       "uq_wms_order_sync_bridge_code"),
    "wms_shipment_inbox": ("uq_wms_shipment_inbox_out_biz_code", ("out_biz_code",),
                           "uq_wms_shipment_inbox_bridge_out_biz_code"),
    "wms_inventory_snapshot": ("uq_wms_inventory_snapshot_key",
                               ("snapshot_date", "warehouse_code", "item_code", "inventory_type", "batch_code"),
                               "uq_wms_inventory_snapshot_bridge_key"),
    "wms_inventory_run": ("uq_wms_inventory_run_holds_date", ("holds_date",), "uq_wms_inventory_run_bridge_holds_date"),
    "wms_unkeyed_record": ("uq_wms_unkeyed_record_flow_shop_id", ("flow", "shop_id"),
                           "uq_wms_unkeyed_record_bridge_flow_shop_id"),
    "wms_warehouse_report": ("uq_wms_warehouse_report_method_report_key", ("method", "report_key"),
                             "uq_wms_warehouse_report_bridge_method_key"),
    "wms_return": ("uq_wms_return_return_code", ("return_code",), "uq_wms_return_bridge_return_code"),
    "wms_stock_adjustment": ("uq_wms_stock_adjustment_source_key_item", ("source", "source_key", "item_code"),
                             "uq_wms_stock_adjustment_bridge_source_key_item"),
}
UNKEYED = ("wms_exchange_log", "wms_shipment_package", "wms_stock_writeback", "wms_person_action")

_BEIJING = {
    "postgresql": "(o.cancel_requested_at AT TIME ZONE 'Asia/Shanghai')",
    "mysql": "CONVERT_TZ(o.cancel_requested_at, '+00:00', '+08:00')",
    "mariadb": "CONVERT_TZ(o.cancel_requested_at, '+00:00', '+08:00')",
    "sqlite": "datetime(o.cancel_requested_at, '+8 hours')",
}
_AVAILABLE = (
    "CASE WHEN w.wms_quantity - COALESCE(w.pending_quantity, 0) > 0"
    " THEN w.wms_quantity - COALESCE(w.pending_quantity, 0) ELSE 0 END"
)


def _views(dialect: str) -> dict[str, str]:
    """The analysts' views of 0004 and 0005, per bridge (created in this order)."""
    return {
        "wms_cancel_needs_person": f"""
            SELECT o.bridge_id, o.delivery_order_code, o.shop_order_id, o.wms_order_id, o.state,
                   CASE WHEN o.state IN ('shipped', 'partially_shipped') OR o.last_error_code = 'REFUND_AFTER_SHIPMENT'
                        THEN 'refund after shipment: intercept or return the parcel'
                        ELSE 'the warehouse refused order.cancel: see last_error_message'
                   END AS action,
                   o.carrier_code, o.tracking_numbers, o.shipped_at, o.cancel_requested_at,
                   {_BEIJING[dialect]} AS cancel_requested_beijing,
                   o.last_error_code, o.last_error_message, o.updated_at
            FROM wms_order_sync o
            WHERE o.state = 'cancel_failed'
               OR (o.cancel_requested_at IS NOT NULL AND o.state IN ('shipped', 'partially_shipped'))""",
        "wms_v_stock_daily": """
            SELECT bridge_id, snapshot_date, item_code,
                   SUM(CASE WHEN inventory_type = 'ZP' THEN quantity ELSE 0 END) AS sellable_quantity,
                   SUM(CASE WHEN inventory_type = 'ZP' THEN lock_quantity ELSE 0 END) AS locked_quantity,
                   SUM(CASE WHEN inventory_type = 'ZP' THEN 0 ELSE quantity END) AS other_quantity,
                   SUM(quantity) AS total_quantity,
                   COUNT(*) AS snapshot_rows
            FROM wms_inventory_snapshot
            GROUP BY bridge_id, snapshot_date, item_code""",
        "wms_v_days_out_of_stock": """
            SELECT bridge_id, item_code,
                   COUNT(*) AS days_observed,
                   SUM(CASE WHEN sellable_quantity <= 0 THEN 1 ELSE 0 END) AS days_out_of_stock,
                   MIN(snapshot_date) AS first_snapshot_date,
                   MAX(snapshot_date) AS last_snapshot_date,
                   MAX(CASE WHEN sellable_quantity <= 0 THEN snapshot_date END) AS last_out_of_stock_date
            FROM wms_v_stock_daily
            GROUP BY bridge_id, item_code""",
        "wms_v_stock_drift": f"""
            SELECT w.bridge_id, w.writeback_date, w.item_code, w.sku_id, w.shop_stock_before, w.wms_quantity,
                   w.pending_quantity,
                   {_AVAILABLE} AS available_to_sell,
                   w.shop_stock_before - {_AVAILABLE} AS drift,
                   w.written_value, w.outcome, w.reason, w.run_id
            FROM wms_stock_writeback w
            WHERE w.wms_quantity IS NOT NULL AND w.shop_stock_before IS NOT NULL
              AND w.id = (SELECT MAX(w2.id) FROM wms_stock_writeback w2
                          WHERE w2.bridge_id = w.bridge_id AND w2.writeback_date = w.writeback_date
                            AND w2.item_code = w.item_code
                            AND w2.wms_quantity IS NOT NULL AND w2.shop_stock_before IS NOT NULL)""",
    }


VIEWS = ("wms_v_needs_person", "wms_cancel_needs_person", "wms_v_stock_drift", "wms_v_days_out_of_stock",
         "wms_v_stock_daily")  # in the order they are dropped


def _drop_views() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")


def _bridge_column() -> sa.Column:
    return sa.Column("bridge_id", sa.String(50), nullable=False, server_default=DEFAULT)


def _cursor_table(name: str, keyed: bool) -> None:
    ts = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *MYSQL)
    columns = [
        sa.Column("flow", sa.String(100), nullable=False, primary_key=not keyed),
        sa.Column("watermark", ts, nullable=False),
        sa.Column("run_id", sa.String(250)),
        sa.Column("updated_at", ts, nullable=False),
        sa.Column("dag_id", sa.String(250)),
    ]
    if keyed:
        columns += [_bridge_column(), sa.PrimaryKeyConstraint("bridge_id", "flow", name="pk_wms_cursor")]
    op.create_table(name, *columns, **TABLE_OPTIONS)


def _rebuild_cursor(keyed: bool) -> None:
    """wms_cursor's primary key changes: a new table, the rows copied, the old one replaced."""
    _cursor_table("wms_cursor_0010", keyed)
    columns = "flow, watermark, run_id, updated_at, dag_id"
    op.execute(f"INSERT INTO wms_cursor_0010 ({columns}) SELECT {columns} FROM wms_cursor"
               + ("" if keyed else f" WHERE bridge_id = '{DEFAULT}'"))
    op.drop_table("wms_cursor")
    op.rename_table("wms_cursor_0010", "wms_cursor")


def upgrade() -> None:
    from wmsbridge.store.attention import view_sql

    dialect = op.get_bind().dialect
    _drop_views()
    for table, (old, columns, new) in KEYS.items():
        with op.batch_alter_table(table) as batch:
            batch.add_column(_bridge_column())
            batch.drop_constraint(old, type_="unique")
            batch.create_unique_constraint(new, ["bridge_id", *columns])
    for table in UNKEYED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(_bridge_column())
    _rebuild_cursor(keyed=True)
    for name, sql in _views(dialect.name).items():
        op.execute(f"CREATE VIEW {name} AS {sql.strip()}")
    op.execute(view_sql(dialect, TABLES_0009))


def downgrade() -> None:
    from wmsbridge.store.attention import view_sql

    bind = op.get_bind()
    for table in (*KEYS, *UNKEYED, "wms_cursor"):
        others = bind.execute(sa.text(f"SELECT COUNT(*) FROM {table} WHERE bridge_id <> :d"), {"d": DEFAULT}).scalar()
        if others:
            raise RuntimeError(f"{table} holds {others} rows of bridges other than {DEFAULT!r}: a store before "
                               "0010_bridges has room for one bridge only; remove those bridges' rows first")
    _drop_views()
    _rebuild_cursor(keyed=False)
    for table in UNKEYED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("bridge_id")
    for table, (old, columns, new) in KEYS.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(new, type_="unique")
            batch.create_unique_constraint(old, list(columns))
            batch.drop_column("bridge_id")
    scripts = ScriptDirectory.from_config(op.get_context().config)
    cancels, inventory = (scripts.get_revision(r).module for r in ("0004_cancellations", "0005_inventory"))
    op.execute(f"CREATE VIEW {cancels.VIEW} AS {cancels._select(bind.dialect.name)}")
    for name, sql in inventory.VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {sql.strip()}")
    op.execute(view_sql(bind.dialect, TABLES_0009, keyed=False))
