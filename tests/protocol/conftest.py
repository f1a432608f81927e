"""Valid documents for every method, built fresh per test so tests may break them freely."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
import pytest


@pytest.fixture
def item_doc() -> dict:
    return {
        "actionType": "add",
        "warehouseCode": "15",
        "ownerCode": "82073683308314625",
        "item": {
            "itemCode": "SKU-001",
            "itemName": "秋冬大衣 黑色XL",
            "barCode": "6971278390527;6971278390528",
            "skuProperty": "黑色 XL",
            "length": Decimal("30.5"),
            "grossWeight": Decimal("1.250"),
            "itemType": "ZC",
            "retailPrice": Decimal("399.00"),
            "isShelfLifeMgmt": False,
            "isValid": True,
            "safetyStock": 3,
            "createTime": datetime(2024, 1, 11, 3, 22, 5, tzinfo=timezone.utc),
        },
    }


@pytest.fixture
def order_doc() -> dict:
    return {
        "deliveryOrder": {
            "deliveryOrderCode": "SO20240111001",
            "orderType": "JYCK",
            "warehouseCode": "15",
            "sourcePlatformCode": "API",
            "createTime": datetime(2024, 1, 11, 3, 22, 5, tzinfo=timezone.utc),
            "placeOrderTime": "2024-01-11 11:20:00",
            "operateTime": datetime(2024, 1, 11, 3, 22, 5, tzinfo=timezone.utc),
            "shopNick": "四海母婴专营店",
            "totalAmount": Decimal("119.80"),
            "freight": 0,
            "logisticsCode": "ZTO",
            "isUrgency": False,
            "buyerMessage": "请尽快发货 & 谢谢 <急> 🚀",
            "receiverInfo": {
                "name": "金祖飞",
                "mobile": "15068648811",
                "province": "浙江省",
                "city": "台州市",
                "area": "玉环市",
                "detailAddress": "楚门镇彭宅村",
            },
        },
        "orderLines": [
            {
                "orderLineNo": "1",
                "ownerCode": "82073683308314625",
                "itemCode": "SKU-001",
                "itemName": "秋冬大衣",
                "planQty": 2,
                "actualPrice": Decimal("59.90"),
            },
            {
                "orderLineNo": "2",
                "ownerCode": "82073683308314625",
                "itemCode": "SKU-002",
                "itemName": "围巾",
                "planQty": "1",
                "actualPrice": "0",
                "productDate": date(2023, 12, 1),
            },
        ],
    }


@pytest.fixture
def cancel_doc() -> dict:
    return {
        "warehouseCode": "15",
        "ownerCode": "82073683308314625",
        "orderCode": "SO20240111001",
        "orderType": "JYCK",
        "cancelReason": "买家退款",
    }


@pytest.fixture
def inventory_doc() -> dict:
    return {
        "criteriaList": [
            {"warehouseCode": "15", "ownerCode": "82073683308314625", "itemCode": "SKU-001", "inventoryType": "ZP"},
            {"warehouseCode": "15", "ownerCode": "82073683308314625", "itemCode": "SKU-002"},
        ],
        "remark": "daily",
    }


@pytest.fixture
def confirm_doc() -> dict:
    return {
        "deliveryOrder": {
            "deliveryOrderCode": "SO20240111001",
            "deliveryOrderId": "JY202401110001",
            "warehouseCode": "15",
            "orderType": "JYCK",
            "status": "DELIVERED",
            "outBizCode": "1704943325",
            "confirmType": 0,
            "orderConfirmTime": datetime(2024, 1, 11, 8, 0, 0, tzinfo=timezone.utc),
        },
        "packages": [
            {
                "logisticsCode": "ZTO",
                "logisticsName": "中通",
                "expressCode": "ZT4815765342047",
                "weight": Decimal("1.250"),
                "items": [{"itemCode": "SKU-001", "itemId": "75378204784721921", "quantity": 2}],
            }
        ],
        "orderLines": [
            {
                "orderLineNo": "1",
                "orderSourceCode": "SO20240111001",
                "ownerCode": "82073683308314625",
                "itemCode": "SKU-001",
                "inventoryType": "ZP",
                "planQty": 2,
                "actualQty": 2,
                "productDate": "2023-12-01",
                "snList": ["SN001", "SN002"],
            }
        ],
    }


@pytest.fixture
def return_doc() -> dict:
    return {
        "returnOrder": {
            "returnOrderCode": "RT20240115001",
            "warehouseCode": "15",
            "ownerCode": "82073683308314625",
            "orderType": "THRK",
            "preDeliveryOrderCode": "SO20240111001",
            "preDeliveryOrderId": "JY202401110001",
            "sourcePlatformCode": "API",
            "logisticsCode": "ZTO",
            "logisticsName": "中通",
            "expressCode": "ZT7815765342047",
            "returnReason": "尺码不合适",
            "buyerNick": "阿飞88111",
            "senderInfo": {
                "name": "金祖飞",
                "mobile": "15068648811",
                "province": "浙江省",
                "city": "台州市",
                "area": "玉环市",
                "detailAddress": "楚门镇彭宅村",
            },
        },
        "orderLines": [
            {"orderLineNo": "1", "sourceOrderCode": "SO20240111001", "ownerCode": "82073683308314625",
             "itemCode": "SKU-001", "inventoryType": "ZP", "planQty": 2},
            {"orderLineNo": "2", "ownerCode": "82073683308314625", "itemCode": "SKU-002", "planQty": "1",
             "productDate": date(2023, 12, 1)},
        ],
    }


@pytest.fixture
def return_confirm_doc() -> dict:
    return {
        "returnOrder": {
            "returnOrderCode": "RT20240115001",
            "returnOrderId": "TH202401150001",
            "warehouseCode": "15",
            "outBizCode": "TH202401150001-1",
            "orderType": "THRK",
            "orderConfirmTime": datetime(2024, 1, 16, 8, 5, 9, tzinfo=timezone.utc),
            "logisticsCode": "ZTO",
            "expressCode": "ZT7815765342047",
            "confirmType": 0,
        },
        "orderLines": [
            {"orderLineNo": "1", "ownerCode": "82073683308314625", "itemCode": "SKU-001", "inventoryType": "ZP",
             "planQty": 2, "actualQty": 2,
             "batchs": [{"inventoryType": "ZP", "actualQty": 1}, {"inventoryType": "CC", "actualQty": 1}]},
            {"orderLineNo": "2", "ownerCode": "82073683308314625", "itemCode": "SKU-002", "planQty": 1,
             "actualQty": 1, "snList": ["SN002"]},
        ],
    }


@pytest.fixture
def process_doc() -> dict:
    return {
        "order": {"orderCode": "SO20240111001", "orderId": "JY202401110001", "orderType": "JYCK",
                  "warehouseCode": "15"},
        "process": {"processStatus": "PACKAGE", "operatorName": "老王",
                    "operateTime": datetime(2024, 1, 11, 6, 0, 0, tzinfo=timezone.utc)},
    }


@pytest.fixture
def lack_doc() -> dict:
    return {
        "warehouseCode": "15",
        "deliveryOrderCode": "SO20240111001",
        "createTime": "2024-01-11 14:02:11",
        "outBizCode": "QH202401110007",
        "items": [{"itemCode": "SKU-001", "inventoryType": "ZP", "planQty": 2, "lackQty": 1, "reason": "实物报缺"}],
    }


@pytest.fixture
def stockchange_doc() -> dict:
    return {
        "items": [
            {"ownerCode": "82073683308314625", "warehouseCode": "15", "orderCode": "KC20240112001",
             "orderType": "QTCK", "outBizCode": "KC20240112001-1", "itemCode": "SKU-001", "inventoryType": "ZP",
             "quantity": -2, "changeTime": "2024-01-12 10:15:00"},
            {"ownerCode": "82073683308314625", "warehouseCode": "15", "orderCode": "KC20240112001",
             "orderType": "QTRK", "outBizCode": "KC20240112001-2", "itemCode": "SKU-001", "inventoryType": "CC",
             "quantity": 2, "changeTime": "2024-01-12 10:15:00"},
        ],
    }


@pytest.fixture
def documents(item_doc, order_doc, cancel_doc, inventory_doc, confirm_doc, return_doc, return_confirm_doc,
              process_doc, lack_doc, stockchange_doc) -> dict[str, dict]:
    return {
        "singleitem.synchronize": item_doc,
        "deliveryorder.create": order_doc,
        "order.cancel": cancel_doc,
        "inventory.query": inventory_doc,
        "deliveryorder.confirm": confirm_doc,
        "returnorder.create": return_doc,
        "returnorder.confirm": return_confirm_doc,
        "orderprocess.report": process_doc,
        "itemlack.report": lack_doc,
        "stockchange.report": stockchange_doc,
    }
