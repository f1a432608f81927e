"""A shop cancellation or refund -> the ``order.cancel`` document (pure: no database, no HTTP).

The reason goes to people in the warehouse: Chinese first, with the shop's own status so they
can look the order up in the shop.
"""

from __future__ import annotations

from qimen.documents import build_document

METHOD = "order.cancel"
ORDER_TYPE = "JYCK"  # every order the bridge creates is an ordinary sale (deliveryorder.create)

# profile ``statuses.cancelled`` category -> the words the warehouse sees
REASONS = {
    "cancelled": "订单已取消 order cancelled in the shop",
    "refund_requested": "买家申请退款 refund requested",
    "refunded": "订单已退款 order refunded",
}


def cancel_reason(category: str | None, shop_status: str | None) -> str:
    """``cancelReason``: what happened, and the shop's status code (e.g. ``(shop status 203)``)."""
    text = REASONS.get(category or "", "订单已取消 order cancelled in the shop")
    return f"{text} (shop status {shop_status})" if shop_status else text


def build_cancel_document(
    *, order_code: str, wms_order_id: str | None, warehouse_code: str, owner_code: str,
    reason: str,
) -> str:
    """The XML body; raises ``QimenValidationError`` when a field breaks the Qimen rules."""
    return build_document(METHOD, {
        "warehouseCode": warehouse_code,
        "ownerCode": owner_code,
        "orderCode": order_code,
        "orderId": wms_order_id or None,
        "orderType": ORDER_TYPE,
        "cancelReason": reason,
    })
