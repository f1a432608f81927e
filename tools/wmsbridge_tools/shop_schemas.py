"""DDL of the two shop schemas as SQLAlchemy Core metadata, for tests, the generator and the demo.

The integrator never creates these tables in a customer's shop; they exist so every profile query
can be run against a real database of each dialect. ``litemall`` mirrors the real mall's column
names and types (naive local DATETIME, TINYINT/SMALLINT status, DECIMAL(10,2), VARCHAR lengths);
``reference`` is this project's own clean shop schema, with naive UTC timestamps.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
)
from sqlalchemy.engine import Engine

Money = Numeric(10, 2)
# Autoincrement integer keys that are BIGINT on servers but INTEGER on SQLite (rowid alias).
Key = BigInteger().with_variant(Integer(), "sqlite")

litemall = MetaData()

Table(
    "litemall_goods", litemall,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("goods_sn", String(63), nullable=False, default=""),
    Column("name", String(127), nullable=False, default=""),
    Column("category_id", Integer, default=0),
    Column("brand_id", Integer, default=0),
    Column("unit", String(31), default="’件‘"),
    Column("retail_price", Money, default=0),
    Column("is_on_sale", Boolean, default=True),
    Column("add_time", DateTime),
    Column("update_time", DateTime),
    Column("deleted", Boolean, default=False),
    Index("ix_litemall_goods_goods_sn", "goods_sn"),
)
Table(
    "litemall_goods_product", litemall,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("goods_id", Integer, nullable=False),
    Column("specifications", String(1023), nullable=False),
    Column("price", Money, nullable=False, default=0),
    Column("number", Integer, nullable=False, default=0),
    Column("url", String(125)),
    Column("add_time", DateTime),
    Column("update_time", DateTime),
    Column("deleted", Boolean, default=False),
    Index("ix_litemall_goods_product_goods_id", "goods_id"),
    Index("ix_litemall_goods_product_update_time", "update_time"),
)
Table(
    "litemall_order", litemall,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, nullable=False, default=0),
    Column("order_sn", String(63), nullable=False),
    Column("order_status", SmallInteger, nullable=False),
    Column("aftersale_status", SmallInteger, default=0),
    Column("consignee", String(63), nullable=False),
    Column("mobile", String(63), nullable=False),
    Column("address", String(1023), nullable=False),
    Column("message", String(512), nullable=False, default=""),
    Column("goods_price", Money, nullable=False),
    Column("freight_price", Money, nullable=False),
    Column("coupon_price", Money, nullable=False),
    Column("integral_price", Money, nullable=False),
    Column("groupon_price", Money, nullable=False),
    Column("order_price", Money, nullable=False),
    Column("actual_price", Money, nullable=False),
    Column("pay_id", String(63)),
    Column("pay_time", DateTime),
    Column("ship_sn", String(63)),
    Column("ship_channel", String(63)),
    Column("ship_time", DateTime),
    Column("refund_amount", Money),
    Column("refund_type", String(63)),
    Column("refund_content", String(127)),
    Column("refund_time", DateTime),
    Column("confirm_time", DateTime),
    Column("comments", SmallInteger, default=0),
    Column("end_time", DateTime),
    Column("add_time", DateTime),
    Column("update_time", DateTime),
    Column("deleted", Boolean, default=False),
    Index("ix_litemall_order_order_sn", "order_sn"),
    Index("ix_litemall_order_status_pay_time", "order_status", "pay_time"),
    Index("ix_litemall_order_update_time", "update_time"),
)
Table(
    "litemall_order_goods", litemall,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, nullable=False),
    Column("goods_id", Integer, nullable=False),
    Column("goods_name", String(127), nullable=False),
    Column("goods_sn", String(63), nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("number", SmallInteger, nullable=False),
    Column("price", Money, nullable=False),
    Column("specifications", String(1023), nullable=False),
    Column("pic_url", String(255), default=""),
    Column("comment", Integer, default=0),
    Column("add_time", DateTime),
    Column("update_time", DateTime),
    Column("deleted", Boolean, default=False),
    Index("ix_litemall_order_goods_order_id", "order_id"),
)
# litemall's after-sales (litemall-db/sql/litemall_table.sql): type 0 refund before receipt, 1 refund
# without return, 2 return and refund; status 0 can apply, 1 applied, 2 approved, 3 refunded,
# 4 refused, 5 withdrawn. litemall_order.aftersale_status mirrors the status.
Table(
    "litemall_aftersale", litemall,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("aftersale_sn", String(63)),
    Column("order_id", Integer, nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("type", SmallInteger, default=0),
    Column("reason", String(31), default=""),
    Column("amount", Money, default=0),
    Column("pictures", String(1023), default="[]"),
    Column("comment", String(511), default=""),
    Column("status", SmallInteger, default=0),
    Column("handle_time", DateTime),
    Column("add_time", DateTime),
    Column("update_time", DateTime),
    Column("deleted", Boolean, default=False),
)

reference = MetaData()

Table(
    "shop_product", reference,
    Column("id", Key, primary_key=True, autoincrement=True),
    Column("product_code", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("category_name", String(100)),
    Column("brand_name", String(100)),
    Column("unit", String(20), nullable=False, default="件"),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
Table(
    "shop_sku", reference,
    Column("id", Key, primary_key=True, autoincrement=True),
    Column("product_id", BigInteger, nullable=False),
    # Not unique on purpose: real shops do end up with duplicate codes, the pipelines must notice.
    Column("sku_code", String(64), nullable=False),
    Column("bar_code", String(32)),
    Column("spec", String(200), nullable=False, default=""),
    Column("price", Money, nullable=False),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_shop_sku_updated_at", "updated_at"),
    Index("ix_shop_sku_sku_code", "sku_code"),
)
Table(
    "shop_stock", reference,
    Column("sku_id", BigInteger, primary_key=True, autoincrement=False),
    Column("quantity", Integer, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
Table(
    "shop_order", reference,
    Column("id", Key, primary_key=True, autoincrement=True),
    Column("order_no", String(64), nullable=False, unique=True),
    # unpaid, paid, shipped, completed, cancelled, refunding, refunded
    Column("status", String(16), nullable=False),
    Column("buyer_nick", String(64)),
    Column("receiver_name", String(64)),
    Column("receiver_mobile", String(32)),
    Column("receiver_phone", String(32)),
    Column("receiver_province", String(64)),
    Column("receiver_city", String(64)),
    Column("receiver_district", String(64)),
    Column("receiver_town", String(64)),
    Column("receiver_detail", String(1000)),
    Column("receiver_zip", String(16)),
    Column("buyer_message", String(500)),
    Column("seller_message", String(500)),
    Column("item_amount", Money, nullable=False),
    Column("discount_amount", Money, nullable=False, default=0),
    Column("freight", Money, nullable=False, default=0),
    Column("total_amount", Money, nullable=False),
    Column("carrier_code", String(32)),
    Column("tracking_no", String(64)),
    Column("created_at", DateTime, nullable=False),
    Column("paid_at", DateTime),
    Column("shipped_at", DateTime),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_shop_order_status_paid_at", "status", "paid_at"),
    Index("ix_shop_order_updated_at", "updated_at"),
)
Table(
    "shop_order_line", reference,
    Column("id", Key, primary_key=True, autoincrement=True),
    Column("order_id", BigInteger, nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku_id", BigInteger, nullable=False),
    Column("sku_code", String(64), nullable=False),
    Column("item_name", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("price", Money, nullable=False),
    Column("retail_price", Money, nullable=False),
    Index("ix_shop_order_line_order_id", "order_id"),
)

Table(
    "shop_return", reference,
    Column("id", Key, primary_key=True, autoincrement=True),
    Column("return_no", String(64), nullable=False, unique=True),
    Column("order_id", BigInteger, nullable=False),
    # requested, approved, received, refunded, refused
    Column("status", String(16), nullable=False),
    Column("reason", String(200)),
    Column("carrier_code", String(32)),   # the buyer's return parcel
    Column("express_no", String(64)),
    Column("note", String(500)),
    Column("received_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_shop_return_status_updated_at", "status", "updated_at"),
)
Table(
    "shop_return_line", reference,
    Column("id", Key, primary_key=True, autoincrement=True),
    Column("return_id", BigInteger, nullable=False),
    Column("sku_id", BigInteger, nullable=False),
    Column("sku_code", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Index("ix_shop_return_line_return_id", "return_id"),
)

SCHEMAS: dict[str, MetaData] = {"litemall": litemall, "reference": reference}


def create_shop_schema(engine: Engine, schema: str) -> MetaData:
    """Create the tables of ``schema`` (``litemall`` or ``reference``) if missing."""
    metadata = SCHEMAS[schema]
    metadata.create_all(engine)
    return metadata


def drop_shop_schema(engine: Engine, schema: str) -> None:
    SCHEMAS[schema].drop_all(engine)


__all__ = ["SCHEMAS", "create_shop_schema", "drop_shop_schema", "litemall", "reference"]
