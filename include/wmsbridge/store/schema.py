"""The integration store's tables: the ONE SQLAlchemy Core definition.

The migrations in ``migrations/versions`` must create exactly this (tests/store compares them with
Alembic's autogenerate). Names are part of the analysts' contract (docs/data-dictionary.md): add
columns with a new migration, never rename. Every index serves a query of the store's repositories
(orders.py, confirmations.py ...); the comment next to it says which.

MySQL/MariaDB: tables are utf8mb4 with a binary collation, so codes compare case-sensitively and
emoji survive, as on PostgreSQL and SQLite. Indexed VARCHARs stay short (<= 250 characters, 1000
bytes) to fit InnoDB's key length limit.
"""

from __future__ import annotations

import sqlalchemy as sa

from .states import (
    EXCHANGE_DIRECTIONS,
    UNKEYED_FLOWS,
    INVENTORY_RUN_VERDICTS,
    PERSON_ACTIONS,
    ITEM_STATES,
    ORDER_STATES,
    REPORT_STATES,
    RETURN_STATES,
    ADJUSTMENT_SOURCES,
    ADJUSTMENT_STATES,
    SHIPMENT_STATES,
    WRITEBACK_OUTCOMES,
    check_in,
)
from .types import BigId, LongText, UtcDateTime

MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}

CODE = 50        # Qimen codes: itemCode, deliveryOrderCode, warehouseCode, logisticsCode ... (SPEC max 50)
EXT_ID = 64      # ids assigned by the shop or the warehouse
KEY = 100        # business keys and outBizCode
RUN_ID = 250     # Airflow's run_id limit
DAG_ID = 250     # Airflow's dag_id limit
USER = 250       # an Airflow user name
ERROR_CODE = 100
BRIDGE = 50      # a bridge id (config.py: lowercase letters, digits, _ and -)
DEFAULT_BRIDGE = "default"  # the one bridge of a flat wms_bridge_config, and every row before 0010
NO_BRIDGE = "*"  # a callback no bridge's token opened (wms_exchange_log): not a bridge id

metadata = sa.MetaData()


def _decided_by() -> list[sa.Column]:
    """0007: the DAG of ``run_id`` (run ids repeat across DAGs)."""
    return [sa.Column("dag_id", sa.String(DAG_ID), nullable=True)]


def _handled() -> list[sa.Column]:
    """0007: a person dealt with what this row waits for (store/attention.py); cleared when the
    row changes state. Every such act is also in wms_person_action."""
    return [sa.Column("handled_at", UtcDateTime(), nullable=True),
            sa.Column("handled_by", sa.String(USER), nullable=True)]


def _bridge() -> list[sa.Column]:
    """0010: the bridge (one shop <-> one warehouse account) the row belongs to. Every business key
    is unique per bridge only: two shops may both have order ``1001``."""
    return [sa.Column("bridge_id", sa.String(BRIDGE), nullable=False, server_default=DEFAULT_BRIDGE)]


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    ]


item_sync = sa.Table(
    "wms_item_sync",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("item_code", sa.String(CODE), nullable=False),
    sa.Column("sku_id", sa.String(EXT_ID), nullable=True),
    sa.Column("content_hash", sa.String(64), nullable=True),
    sa.Column("wms_item_id", sa.String(EXT_ID), nullable=True),
    sa.Column("state", sa.String(20), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("last_error_code", sa.String(ERROR_CODE), nullable=True),
    sa.Column("last_error_message", sa.Text(), nullable=True),
    sa.Column("violations", sa.Text(), nullable=True),
    sa.Column("run_id", sa.String(RUN_ID), nullable=True),
    sa.Column("first_synced_at", UtcDateTime(), nullable=True),
    sa.Column("last_synced_at", UtcDateTime(), nullable=True),
    *_timestamps(),
    # 0007: whether the last failure may pass by itself (else it waits for a person)
    sa.Column("last_error_retryable", sa.Boolean(), nullable=True),
    *_decided_by(),
    *_handled(),
    *_bridge(),
    sa.UniqueConstraint("bridge_id", "item_code", name="uq_wms_item_sync_bridge_item_code"),  # lookups by code
    sa.CheckConstraint(check_in("state", ITEM_STATES), name="ck_wms_item_sync_state"),
    sa.Index("ix_wms_item_sync_sku_id", "sku_id"),  # shop SKU id -> item
    sa.Index("ix_wms_item_sync_state_updated_at", "state", "updated_at"),  # failed/pending queues
    **MYSQL_TABLE_OPTIONS,
)

order_sync = sa.Table(
    "wms_order_sync",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("delivery_order_code", sa.String(CODE), nullable=False),
    sa.Column("shop_order_id", sa.String(EXT_ID), nullable=False),
    sa.Column("state", sa.String(20), nullable=False, server_default="pending"),
    sa.Column("wms_order_id", sa.String(EXT_ID), nullable=True),
    sa.Column("content_hash", sa.String(64), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("last_error_code", sa.String(ERROR_CODE), nullable=True),
    sa.Column("last_error_message", sa.Text(), nullable=True),
    sa.Column("last_error_retryable", sa.Boolean(), nullable=True),
    sa.Column("violations", sa.Text(), nullable=True),
    sa.Column("carrier_code", sa.String(CODE), nullable=True),
    sa.Column("tracking_numbers", sa.Text(), nullable=True),
    sa.Column("run_id", sa.String(RUN_ID), nullable=True),
    sa.Column("paid_at", UtcDateTime(), nullable=True),
    sa.Column("last_attempt_at", UtcDateTime(), nullable=True),
    sa.Column("first_sent_at", UtcDateTime(), nullable=True),
    sa.Column("sent_at", UtcDateTime(), nullable=True),
    sa.Column("cancel_requested_at", UtcDateTime(), nullable=True),
    sa.Column("cancelled_at", UtcDateTime(), nullable=True),
    sa.Column("shipped_at", UtcDateTime(), nullable=True),
    sa.Column("shop_written_at", UtcDateTime(), nullable=True),
    *_timestamps(),
    # a retryable failure is claimed again from this moment on (capped exponential backoff)
    sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
    # a `sending` order belongs to its run until then; the live run renews it (heartbeat)
    sa.Column("lease_expires_at", UtcDateTime(), nullable=True),
    *_decided_by(),
    *_handled(),
    *_bridge(),
    sa.UniqueConstraint("bridge_id", "delivery_order_code", name="uq_wms_order_sync_bridge_code"),
    sa.CheckConstraint(check_in("state", ORDER_STATES), name="ck_wms_order_sync_state"),
    sa.CheckConstraint("attempts >= 0", name="ck_wms_order_sync_attempts"),
    sa.Index("ix_wms_order_sync_shop_order_id", "shop_order_id"),  # shop cancellations -> orders
    # claim queue (pending / retryable failed / stale sending, oldest first) and state dashboards
    sa.Index("ix_wms_order_sync_state_updated_at", "state", "updated_at"),
    sa.Index("ix_wms_order_sync_paid_at", "paid_at"),  # daily volumes, "paid but not sent after N hours"
    sa.Index("ix_wms_order_sync_run_id_state", "run_id", "state"),  # a run's verdict, its lease renewal
    **MYSQL_TABLE_OPTIONS,
)

exchange_log = sa.Table(
    "wms_exchange_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("logged_at", UtcDateTime(), nullable=False),
    sa.Column("direction", sa.String(10), nullable=False),
    sa.Column("method", sa.String(KEY), nullable=False),
    sa.Column("business_key", sa.String(KEY), nullable=True),
    sa.Column("request_url", sa.Text(), nullable=True),
    sa.Column("request_body", LongText, nullable=True),
    sa.Column("response_body", LongText, nullable=True),
    sa.Column("http_status", sa.Integer(), nullable=True),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("error_code", sa.String(ERROR_CODE), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("duration_ms", sa.Integer(), nullable=True),
    sa.Column("run_id", sa.String(RUN_ID), nullable=True),
    *_decided_by(),
    *_bridge(),
    sa.CheckConstraint(check_in("direction", EXCHANGE_DIRECTIONS), name="ck_wms_exchange_log_direction"),
    # "every exchange about order X / item Y", newest first
    sa.Index("ix_wms_exchange_log_business_key_logged_at", "business_key", "logged_at"),
    sa.Index("ix_wms_exchange_log_method_logged_at", "method", "logged_at"),  # error rates per method
    sa.Index("ix_wms_exchange_log_logged_at", "logged_at"),  # time windows and retention purge
    sa.Index("ix_wms_exchange_log_run_id", "run_id"),  # "what did this Airflow run send"
    **MYSQL_TABLE_OPTIONS,
)

shipment_inbox = sa.Table(
    "wms_shipment_inbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("out_biz_code", sa.String(KEY), nullable=False),
    sa.Column("delivery_order_code", sa.String(CODE), nullable=False),
    sa.Column("delivery_order_id", sa.String(EXT_ID), nullable=True),
    sa.Column("warehouse_code", sa.String(CODE), nullable=True),
    sa.Column("status", sa.String(20), nullable=True),
    sa.Column("confirm_type", sa.Integer(), nullable=True),
    sa.Column("order_confirm_at", UtcDateTime(), nullable=True),
    sa.Column("raw_body", LongText, nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("processed_at", UtcDateTime(), nullable=True),
    sa.Column("process_error", sa.Text(), nullable=True),
    # 0003: where the confirmation stands on its way to the shop, and how often it was tried
    sa.Column("state", sa.String(20), nullable=False, server_default="received"),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("last_attempt_at", UtcDateTime(), nullable=True),
    # 0007: the run that last moved it, and when a run first found it waiting past
    # shipment_waiting_alert_hours (from then on it waits for a person, still tried by every run)
    sa.Column("run_id", sa.String(RUN_ID), nullable=True),
    *_decided_by(),
    sa.Column("overdue_at", UtcDateTime(), nullable=True),
    *_handled(),
    *_bridge(),
    # idempotency
    sa.UniqueConstraint("bridge_id", "out_biz_code", name="uq_wms_shipment_inbox_bridge_out_biz_code"),
    sa.CheckConstraint(check_in("state", SHIPMENT_STATES), name="ck_wms_shipment_inbox_state"),
    sa.Index("ix_wms_shipment_inbox_delivery_order_code", "delivery_order_code"),
    sa.Index("ix_wms_shipment_inbox_processed_at_received_at", "processed_at", "received_at"),
    sa.Index("ix_wms_shipment_inbox_state_received_at", "state", "received_at"),  # work queue, dashboards
    **MYSQL_TABLE_OPTIONS,
)

shipment_package = sa.Table(
    "wms_shipment_package",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "inbox_id",
        BigId,
        sa.ForeignKey("wms_shipment_inbox.id", name="fk_wms_shipment_package_inbox_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("delivery_order_code", sa.String(CODE), nullable=False),
    sa.Column("package_no", sa.Integer(), nullable=False),
    sa.Column("logistics_code", sa.String(CODE), nullable=True),
    sa.Column("logistics_name", sa.String(200), nullable=True),
    sa.Column("express_code", sa.String(CODE), nullable=True),
    sa.Column("package_code", sa.String(CODE), nullable=True),
    sa.Column("item_code", sa.String(CODE), nullable=True),
    sa.Column("item_id", sa.String(EXT_ID), nullable=True),
    sa.Column("quantity", sa.Integer(), nullable=True),
    *_bridge(),
    sa.Index("ix_wms_shipment_package_inbox_id", "inbox_id"),
    sa.Index("ix_wms_shipment_package_delivery_order_code", "delivery_order_code"),
    sa.Index("ix_wms_shipment_package_express_code", "express_code"),  # "which order is this parcel"
    **MYSQL_TABLE_OPTIONS,
)

inventory_snapshot = sa.Table(
    "wms_inventory_snapshot",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("snapshot_date", sa.Date(), nullable=False),
    sa.Column("warehouse_code", sa.String(CODE), nullable=False),
    sa.Column("item_code", sa.String(CODE), nullable=False),
    sa.Column("inventory_type", sa.String(20), nullable=False),
    sa.Column("batch_code", sa.String(CODE), nullable=False, server_default=""),
    sa.Column("item_id", sa.String(EXT_ID), nullable=True),
    sa.Column("quantity", sa.Integer(), nullable=False),
    sa.Column("lock_quantity", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("product_date", sa.Date(), nullable=True),
    sa.Column("expire_date", sa.Date(), nullable=True),
    sa.Column("fetched_at", UtcDateTime(), nullable=False),
    sa.Column("run_id", sa.String(RUN_ID), nullable=True),
    *_bridge(),
    sa.UniqueConstraint(
        "bridge_id", "snapshot_date", "warehouse_code", "item_code", "inventory_type", "batch_code",
        name="uq_wms_inventory_snapshot_bridge_key",
    ),
    sa.Index("ix_wms_inventory_snapshot_item_code_snapshot_date", "item_code", "snapshot_date"),  # history
    **MYSQL_TABLE_OPTIONS,
)

stock_writeback = sa.Table(
    "wms_stock_writeback",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("writeback_date", sa.Date(), nullable=False),
    sa.Column("item_code", sa.String(CODE), nullable=False),
    sa.Column("sku_id", sa.String(EXT_ID), nullable=True),
    sa.Column("shop_stock_before", sa.Integer(), nullable=True),
    sa.Column("wms_quantity", sa.Integer(), nullable=True),
    sa.Column("pending_quantity", sa.Integer(), nullable=True),
    sa.Column("written_value", sa.Integer(), nullable=True),
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(500), nullable=True),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
    sa.Column("run_id", sa.String(RUN_ID), nullable=True),
    *_decided_by(),
    *_bridge(),
    sa.CheckConstraint(check_in("outcome", WRITEBACK_OUTCOMES), name="ck_wms_stock_writeback_outcome"),
    sa.Index("ix_wms_stock_writeback_writeback_date", "writeback_date"),  # "what changed today"
    sa.Index("ix_wms_stock_writeback_item_code_writeback_date", "item_code", "writeback_date"),
    **MYSQL_TABLE_OPTIONS,
)

cursor = sa.Table(
    "wms_cursor",
    metadata,
    # One watermark per flow (e.g. ``items``): moved only after what was really sent, never by a
    # dry run, so a manual or dry run between two syncs cannot make a changed record invisible.
    sa.Column("flow", sa.String(KEY), nullable=False),
    sa.Column("watermark", UtcDateTime(), nullable=False),
    sa.Column("run_id", sa.String(RUN_ID), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    *_decided_by(),
    *_bridge(),
    sa.PrimaryKeyConstraint("bridge_id", "flow", name="pk_wms_cursor"),  # one watermark per bridge and flow
    **MYSQL_TABLE_OPTIONS,
)

inventory_run = sa.Table(
    "wms_inventory_run",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("beijing_date", sa.Date(), nullable=False),
    # = beijing_date while this run holds the day's one full sync, else NULL: the unique constraint
    # lets exactly one run per Beijing day hold it, whatever started the run.
    sa.Column("holds_date", sa.Date(), nullable=True),
    sa.Column("run_id", sa.String(RUN_ID), nullable=True),
    sa.Column("forced", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime(), nullable=True),
    sa.Column("skus_queried", sa.Integer(), nullable=True),
    sa.Column("skus_answered", sa.Integer(), nullable=True),
    sa.Column("skus_missing", sa.Integer(), nullable=True),
    sa.Column("rows_saved", sa.Integer(), nullable=True),
    sa.Column("calls", sa.Integer(), nullable=True),
    sa.Column("skus_written", sa.Integer(), nullable=True),
    sa.Column("message", sa.Text(), nullable=True),
    *_decided_by(),
    *_handled(),
    *_bridge(),
    sa.UniqueConstraint("bridge_id", "holds_date", name="uq_wms_inventory_run_bridge_holds_date"),
    sa.CheckConstraint(check_in("verdict", INVENTORY_RUN_VERDICTS), name="ck_wms_inventory_run_verdict"),
    sa.Index("ix_wms_inventory_run_beijing_date", "beijing_date"),  # "what happened on day D"
    **MYSQL_TABLE_OPTIONS,
)

unkeyed_record = sa.Table(
    "wms_unkeyed_record",
    metadata,
    # 0006: a shop record (order, SKU) our rules refused and whose own code cannot key it (empty,
    # blank, control characters, too long): it has no row in wms_order_sync / wms_item_sync, so it
    # is kept here, by the shop's own id, until the shop's record comes back with a usable code.
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("flow", sa.String(20), nullable=False),
    sa.Column("shop_id", sa.String(EXT_ID), nullable=False),
    sa.Column("shop_code", sa.String(KEY), nullable=True),
    sa.Column("violations", sa.Text(), nullable=False),
    sa.Column("run_id", sa.String(RUN_ID), nullable=True),
    sa.Column("first_seen_at", UtcDateTime(), nullable=False),
    sa.Column("last_seen_at", UtcDateTime(), nullable=False),
    sa.Column("resolved_at", UtcDateTime(), nullable=True),
    *_decided_by(),
    *_handled(),
    *_bridge(),
    # one row per record
    sa.UniqueConstraint("bridge_id", "flow", "shop_id", name="uq_wms_unkeyed_record_bridge_flow_shop_id"),
    sa.CheckConstraint(check_in("flow", UNKEYED_FLOWS), name="ck_wms_unkeyed_record_flow"),
    **MYSQL_TABLE_OPTIONS,
)

warehouse_report = sa.Table(
    "wms_warehouse_report",
    metadata,
    # 0008: the warehouse's own reports beyond deliveryorder.confirm (standard Qimen methods switched
    # on in enabled_methods), once per report key (outBizCode, else a hash of the content).
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("method", sa.String(50), nullable=False),
    sa.Column("report_key", sa.String(KEY), nullable=False),
    sa.Column("order_code", sa.String(CODE), nullable=True),  # the delivery order it is about, if one
    sa.Column("summary", sa.Text(), nullable=True),  # what it says, as a person reads it
    sa.Column("raw_body", LongText, nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("state", sa.String(20), nullable=False, server_default="received"),
    sa.Column("processed_at", UtcDateTime(), nullable=True),
    sa.Column("run_id", sa.String(RUN_ID), nullable=True),
    *_decided_by(),
    *_handled(),
    *_bridge(),
    sa.UniqueConstraint("bridge_id", "method", "report_key", name="uq_wms_warehouse_report_bridge_method_key"),
    sa.CheckConstraint(check_in("state", REPORT_STATES), name="ck_wms_warehouse_report_state"),
    sa.Index("ix_wms_warehouse_report_order_code", "order_code"),
    sa.Index("ix_wms_warehouse_report_method_state_received_at", "method", "state", "received_at"),
    **MYSQL_TABLE_OPTIONS,
)

return_sync = sa.Table(
    "wms_return",
    metadata,
    # 0009: a return the shop approved (litemall_aftersale type 2, CRMEB's eb_store_order_refund ...),
    # announced to the warehouse with returnorder.create and followed to its returnorder.confirm.
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("return_code", sa.String(CODE), nullable=False),     # returnOrderCode: the shop's number
    sa.Column("shop_return_id", sa.String(EXT_ID), nullable=False),
    sa.Column("delivery_order_code", sa.String(CODE), nullable=False),  # the order it takes back
    sa.Column("state", sa.String(20), nullable=False, server_default="pending"),
    sa.Column("wms_return_id", sa.String(EXT_ID), nullable=True),
    sa.Column("express_code", sa.String(CODE), nullable=True),     # the buyer's return parcel
    sa.Column("logistics_code", sa.String(CODE), nullable=True),   # its courier, as the shop names it
    sa.Column("reason", sa.Text(), nullable=True),                 # the buyer's reason, for the warehouse
    sa.Column("lines", sa.Text(), nullable=True),                  # JSON [{sku_id, item_code, quantity}]
    sa.Column("received", sa.Text(), nullable=True),               # JSON {item_code: {ZP: n, CC: n}}
    sa.Column("note", sa.Text(), nullable=True),                   # what was received, as a person reads it
    sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("last_error_code", sa.String(ERROR_CODE), nullable=True),
    sa.Column("last_error_message", sa.Text(), nullable=True),
    sa.Column("last_error_retryable", sa.Boolean(), nullable=True),
    sa.Column("run_id", sa.String(RUN_ID), nullable=True),
    sa.Column("sent_at", UtcDateTime(), nullable=True),
    sa.Column("received_at", UtcDateTime(), nullable=True),
    sa.Column("refunded_at", UtcDateTime(), nullable=True),        # the shop paid it (seen by a run)
    *_timestamps(),
    *_decided_by(),
    *_handled(),
    *_bridge(),
    sa.UniqueConstraint("bridge_id", "return_code", name="uq_wms_return_bridge_return_code"),  # lookups by code
    sa.CheckConstraint(check_in("state", RETURN_STATES), name="ck_wms_return_state"),
    sa.Index("ix_wms_return_delivery_order_code", "delivery_order_code"),  # refunds after shipment
    sa.Index("ix_wms_return_state_updated_at", "state", "updated_at"),  # due returns, unpaid refunds
    **MYSQL_TABLE_OPTIONS,
)

stock_adjustment = sa.Table(
    "wms_stock_adjustment",
    metadata,
    # 0009: every signed change the bridge made to one SKU's shop stock between daily syncs, once per
    # (source, key, item): recorded ``applying`` before the shop's UPDATE, ``applied`` after.
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("source_key", sa.String(KEY), nullable=False),   # return code, report key ...
    sa.Column("item_code", sa.String(CODE), nullable=False),
    sa.Column("sku_id", sa.String(EXT_ID), nullable=True),
    sa.Column("delta", sa.Integer(), nullable=False),
    sa.Column("state", sa.String(20), nullable=False, server_default="applying"),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("run_id", sa.String(RUN_ID), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("applied_at", UtcDateTime(), nullable=True),
    *_decided_by(),
    *_handled(),
    *_bridge(),
    sa.UniqueConstraint("bridge_id", "source", "source_key", "item_code",
                        name="uq_wms_stock_adjustment_bridge_source_key_item"),
    sa.CheckConstraint(check_in("state", ADJUSTMENT_STATES), name="ck_wms_stock_adjustment_state"),
    sa.CheckConstraint(check_in("source", ADJUSTMENT_SOURCES), name="ck_wms_stock_adjustment_source"),
    sa.Index("ix_wms_stock_adjustment_state", "state"),  # rows a dead run left applying
    **MYSQL_TABLE_OPTIONS,
)

person_action = sa.Table(
    "wms_person_action",
    metadata,
    # 0007: what a person did from the operations page (append-only, never deleted): marked an
    # item handled, sent an order again, applied a confirmation again ... (store/actions.py)
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("acted_at", UtcDateTime(), nullable=False),
    sa.Column("actor", sa.String(USER), nullable=False),
    sa.Column("action", sa.String(30), nullable=False),
    sa.Column("category", sa.String(KEY), nullable=False),
    sa.Column("subject", sa.String(KEY), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("outcome", sa.Text(), nullable=True),
    # the DAG run the action started, if any
    sa.Column("dag_id", sa.String(DAG_ID), nullable=True),
    sa.Column("run_id", sa.String(RUN_ID), nullable=True),
    *_bridge(),
    sa.CheckConstraint(check_in("action", PERSON_ACTIONS), name="ck_wms_person_action_action"),
    sa.Index("ix_wms_person_action_acted_at", "acted_at"),  # the page's history, newest first
    sa.Index("ix_wms_person_action_subject", "category", "subject"),  # what was done about one item
    **MYSQL_TABLE_OPTIONS,
)

TABLES = (
    item_sync,
    order_sync,
    exchange_log,
    shipment_inbox,
    shipment_package,
    inventory_snapshot,
    stock_writeback,
    cursor,
    inventory_run,
    unkeyed_record,
    warehouse_report,
    return_sync,
    stock_adjustment,
    person_action,
)
