"""A return the shop approved -> the ``returnorder.create`` document; a ``returnorder.confirm`` ->
what a person reads (pure: no database, no HTTP).

The warehouse matches the buyer's parcel by ``preDeliveryOrderCode`` (the order it shipped) and, when
the shop knows it, the parcel's tracking number; an unknown courier is ``OTHER`` as the standard
allows. Every line is a good-stock (ZP) return: the warehouse decides what is defective on receipt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from qimen.documents import build_document
from qimen.inbound import ReturnOrderConfirm
from qimen.timeutil import BEIJING

METHOD = "returnorder.create"
CONFIRM = "returnorder.confirm"
ORDER_TYPE = "THRK"  # 退货入库: a customer return (HHRK would be an exchange)
UNKNOWN_COURIER = "OTHER"


def build_return_document(
    *, return_code: str, order_code: str, wms_order_id: str | None, warehouse_code: str, owner_code: str,
    lines: Sequence[Mapping], express_code: str | None = None, logistics_code: str | None = None,
    reason: str | None = None, shop_nick: str | None = None,
) -> str:
    """The XML body; raises ``QimenValidationError`` when a field breaks the Qimen rules."""
    return build_document(METHOD, {
        "returnOrder": {
            "returnOrderCode": return_code,
            "warehouseCode": warehouse_code,
            "ownerCode": owner_code,
            "orderType": ORDER_TYPE,
            "preDeliveryOrderCode": order_code,
            "preDeliveryOrderId": wms_order_id or None,
            "shopNick": shop_nick or None,
            "logisticsCode": logistics_code or UNKNOWN_COURIER,
            "expressCode": express_code or None,
            "returnReason": reason or None,
        },
        "orderLines": [{
            "orderLineNo": str(n),
            "sourceOrderCode": order_code,
            "ownerCode": owner_code,
            "itemCode": line["item_code"],
            "inventoryType": "ZP",
            "planQty": int(line["quantity"]),
        } for n, line in enumerate(lines, start=1)],
    })


def received_quantities(confirms: Sequence[ReturnOrderConfirm]) -> dict[str, dict[str, int]]:
    """``{item_code: {"ZP": good, "CC": defective}}`` over every confirmation of one return (an
    inventory type the warehouse left out counts as good, the standard's default)."""
    out: dict[str, dict[str, int]] = {}
    for confirm in confirms:
        for (item, kind), quantity in confirm.actual_by_item.items():
            per = out.setdefault(item, {})
            per[kind or "ZP"] = per.get(kind or "ZP", 0) + quantity
    return out


def received_note(received: Mapping[str, Mapping[str, int]], planned: Mapping[str, int], at: datetime,
                  *, final: bool) -> str:
    """What a person reads, in the shop's after-sale record and on the operations page:
    ``[仓库已收货 2026-12-04 10:00 北京时间: SKU-1 良品 1 次品 1 / 应退 2]``."""
    parts = []
    for item in sorted(set(received) | set(planned)):
        kinds = received.get(item, {})
        good, bad = kinds.get("ZP", 0), sum(n for k, n in kinds.items() if k != "ZP")
        parts.append(f"{item} 良品 good {good} 次品 defective {bad} / 应退 planned {planned.get(item, 0)}")
    head = "仓库已收货 received by the warehouse" if final else "仓库部分收货 partly received by the warehouse"
    return f"[{head} {at.astimezone(BEIJING):%Y-%m-%d %H:%M} 北京时间: {'; '.join(parts)}]"


def shop_note(received: Mapping[str, Mapping[str, int]], at: datetime, *, final: bool) -> str:
    """The short form for the shop's own after-sale record (litemall's ``comment`` is 511 characters):
    ``[仓库已收货 2026-12-04 10:00: 良品 2 次品 1]``."""
    good = sum(kinds.get("ZP", 0) for kinds in received.values())
    bad = sum(n for kinds in received.values() for k, n in kinds.items() if k != "ZP")
    head = "仓库已收货" if final else "仓库部分收货"
    return f"[{head} {at.astimezone(BEIJING):%Y-%m-%d %H:%M}: 良品 {good} 次品 {bad}]"
