"""Building and sending signed Qimen requests to a simulator over real HTTP (requests)."""

from __future__ import annotations

from qimen.documents import build_document
from qimen.parsing import parse_response
from qimen.transport import CONTENT_TYPE, build_request_url, public_params, signed_params

WAREHOUSE = "WH01"
OWNER = "OWNER01"
SESSION_TIMEOUT = 10


def item_document(code: str, name: str = "秋冬大衣 黑色XL", action: str = "add", **item) -> dict:
    return {
        "actionType": action,
        "warehouseCode": WAREHOUSE,
        "ownerCode": OWNER,
        "item": {"itemCode": code, "itemName": name, "barCode": f"69{code}", "itemType": "ZC", **item},
    }


def order_document(code: str, lines: list[tuple[str, int]], *, create_time: str = "2024-05-01 10:00:00",
                   receiver_name: str = "金祖飞", logistics: str = "ZTO") -> dict:
    return {
        "deliveryOrder": {
            "deliveryOrderCode": code,
            "orderType": "JYCK",
            "warehouseCode": WAREHOUSE,
            "sourcePlatformCode": "API",
            "createTime": create_time,
            "placeOrderTime": "2024-05-01 09:58:00",
            "operateTime": create_time,
            "shopNick": "四海母婴专营店",
            "logisticsCode": logistics,
            "senderInfo": {"name": "四海", "mobile": "01056133684", "province": "北京", "city": "北京市",
                           "area": "朝阳区", "detailAddress": "朝阳路1号"},
            "receiverInfo": {"name": receiver_name, "mobile": "15068648811", "province": "浙江省",
                             "city": "台州市", "area": "玉环市", "detailAddress": "楚门镇彭宅村"},
        },
        "orderLines": [
            {"orderLineNo": str(i + 1), "ownerCode": OWNER, "itemCode": item, "itemName": f"商品{item}",
             "planQty": qty, "actualPrice": "59.90", "sourceOrderCode": f"{code}-S", "subSourceOrderCode": f"{code}-{i}"}
            for i, (item, qty) in enumerate(lines)
        ],
    }


def cancel_document(code: str, order_id: str | None = None) -> dict:
    return {"warehouseCode": WAREHOUSE, "ownerCode": OWNER, "orderCode": code, "orderId": order_id,
            "orderType": "JYCK", "cancelReason": "买家退款"}


def inventory_document(*codes: str, inventory_type: str | None = None) -> dict:
    return {"criteriaList": [{"warehouseCode": WAREHOUSE, "ownerCode": OWNER, "itemCode": c,
                              "inventoryType": inventory_type} for c in codes]}


def return_document(code: str, pre_order: str, lines: list[tuple[str, int]], *, reason: str = "七天无理由",
                    express: str = "SF9001") -> dict:
    """A returnorder.create: the buyer sends ``lines`` of order ``pre_order`` back."""
    return {
        "returnOrder": {
            "returnOrderCode": code, "warehouseCode": WAREHOUSE, "ownerCode": OWNER, "orderType": "THRK",
            "preDeliveryOrderCode": pre_order, "logisticsCode": "SF", "expressCode": express,
            "returnReason": reason,
            "senderInfo": {"name": "金祖飞", "mobile": "15068648811", "province": "浙江省", "city": "台州市",
                           "area": "玉环市", "detailAddress": "楚门镇彭宅村"},
        },
        "orderLines": [
            {"orderLineNo": str(i + 1), "ownerCode": OWNER, "itemCode": item, "planQty": qty,
             "sourceOrderCode": f"{pre_order}-S"}
            for i, (item, qty) in enumerate(lines)
        ],
    }


def signed_url(sim, method: str, body: str, *, path: str | None = None, secret: str | None = None,
               customer_id: str | None = None, sign_method: str = "md5") -> str:
    params = public_params(method, app_key=sim.app_key, customer_id=customer_id or sim.customer_id or "",
                           sign_method=sign_method)
    params = signed_params(params, body, secret if secret is not None else (sim.secret or ""))
    return build_request_url(sim.url(path) if path else sim.base_url, params)


def post(session, sim, method: str, body: str | bytes, *, timeout: float = SESSION_TIMEOUT, **kwargs):
    """POST a signed request; returns the ``requests.Response``."""
    text = body if isinstance(body, str) else body.decode("utf-8")
    url = signed_url(sim, method, text, **kwargs)
    data = body.encode("utf-8") if isinstance(body, str) else body
    return session.post(url, data=data, headers={"Content-Type": CONTENT_TYPE}, timeout=timeout)


def call(session, sim, method: str, document: dict, **kwargs):
    """Build, sign and send ``document``; returns the parsed ``qimen.parsing.Response``."""
    short = method.removeprefix("taobao.qimen.")
    answer = post(session, sim, method, build_document(short, document), **kwargs)
    assert answer.status_code == 200, answer.text
    return parse_response(answer.text, short)
