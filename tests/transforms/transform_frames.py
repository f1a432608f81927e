"""Hand-built canonical frames (docs/architecture.md) for the transform tests.

Each builder returns one good record; tests override the columns they are about, so every test
states only what it changes.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

UTC_PAID = "2026-11-27T16:30:00Z"  # 2026-11-28 00:30:00 in Beijing


def order_row(**overrides) -> dict:
    row = {
        "order_id": "1001",
        "order_code": "SO1001",
        "shop_status": "201",
        "paid_at": pd.Timestamp(UTC_PAID),
        "created_at": pd.Timestamp("2026-11-27T16:20:00Z"),
        "receiver_name": "金祖飞",
        "receiver_mobile": "150 6864 8811",
        "receiver_tel": None,
        "receiver_province": "浙江省",
        "receiver_city": "台州市",
        "receiver_area": "玉环市",
        "receiver_town": "楚门镇",
        "receiver_detail": "楚门镇彭宅村蔡家良志阀门隔壁纸板厂收",
        "receiver_address": None,
        "receiver_zip": "317600",
        "buyer_nick": "阿飞88111",
        "buyer_message": "请尽快发货",
        "seller_message": None,
        "total_amount": Decimal("39.9"),
        "item_amount": Decimal("39.9"),
        "discount_amount": Decimal("0"),
        "freight": Decimal("0"),
        "carrier_code": "YD",
        "updated_at": pd.Timestamp("2026-11-27T16:31:00Z"),
    }
    row.update(overrides)
    return row


def line_row(**overrides) -> dict:
    row = {
        "order_id": "1001",
        "line_no": 1,
        "sku_id": "77",
        "item_code": "8001436-0",
        "item_name": "强生婴儿牛奶沐浴露1000ML",
        "quantity": 1,
        "price": Decimal("39.90"),
        "retail_price": Decimal("59.90"),
    }
    row.update(overrides)
    return row


def sku_row(**overrides) -> dict:
    row = {
        "sku_id": "77",
        "item_code": "2.100102.00381",
        "item_name": "DEM-F325 加湿器",
        "bar_code": "6901234567892",
        "sku_property": "白色",
        "goods_code": "100102",
        "category_name": "加湿器",
        "brand_name": "德尔玛",
        "stock_unit": "台",
        "retail_price": Decimal("129.00"),
        "updated_at": pd.Timestamp("2026-11-27T08:00:00Z"),
    }
    row.update(overrides)
    return row


def frame(rows: list[dict]) -> pd.DataFrame:
    """A frame as a profile returns it: datetimes as aware UTC columns."""
    df = pd.DataFrame(rows)
    for column in ("paid_at", "created_at", "updated_at"):
        if column in df:
            df[column] = pd.to_datetime(df[column], utc=True)
    return df
