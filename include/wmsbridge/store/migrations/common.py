"""What every migration shares, fixed for good: the MySQL/MariaDB dialect names and the table options
(InnoDB, utf8mb4 with a binary collation, so codes compare byte for byte), and since 0011 how a
revision recreates the view of what waits for a person. Migrations import these instead of
restating them; a migration that needs something else adds a new name, never edits one."""

MYSQL = ("mysql", "mariadb")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

NEEDS_PERSON_VIEW = "wms_v_needs_person"
# The tables wms_v_needs_person reads from 0010 on (every one with bridge_id).
VIEW_TABLES_0010 = ("wms_order_sync", "wms_item_sync", "wms_shipment_inbox", "wms_inventory_run", "wms_unkeyed_record",
                    "wms_warehouse_report", "wms_return", "wms_stock_adjustment")


def recreate_needs_person_view(tables: tuple[str, ...] = VIEW_TABLES_0010) -> None:
    """Drop wms_v_needs_person and create it from store/attention.py as it is now, over the categories
    of ``tables``: the view always follows the code, whichever way a revision goes."""
    from alembic import op

    from wmsbridge.store.attention import view_sql

    op.execute(f"DROP VIEW IF EXISTS {NEEDS_PERSON_VIEW}")
    op.execute(view_sql(op.get_bind().dialect, tables))
