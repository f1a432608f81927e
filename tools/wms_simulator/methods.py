"""What the warehouse does for each Qimen method, once a request is authentic and valid.

Each handler takes the parsed document and answers ``(message, fields)`` for ``flag=success``
or raises :class:`~wms_simulator.codes.SimulatedRefusal` for ``flag=failure``.
"""

from __future__ import annotations

from collections.abc import Callable

from . import codes
from .codes import SimulatedRefusal
from .config import SimulatorConfig
from .returns import create_return
from .store import WarehouseStore

Handler = Callable[[dict, SimulatorConfig, WarehouseStore], tuple[str, dict]]


def _check_codes(config: SimulatorConfig, warehouse_code, owner_code, where: str) -> None:
    """Refuse documents for another warehouse or owner, when the simulator is told its own."""
    if config.warehouse_code and warehouse_code is not None and str(warehouse_code) != config.warehouse_code:
        raise SimulatedRefusal(codes.INVALID_WAREHOUSE, f"{where}warehouseCode: {warehouse_code} is not this warehouse")
    if config.owner_code and owner_code is not None and str(owner_code) != config.owner_code:
        raise SimulatedRefusal(codes.INVALID_OWNER, f"{where}ownerCode: {owner_code} is not a known owner")


def singleitem_synchronize(doc: dict, config: SimulatorConfig, store: WarehouseStore) -> tuple[str, dict]:
    _check_codes(config, doc.get("warehouseCode"), doc.get("ownerCode"), "")
    item = doc.get("item") or {}
    item_id, created = store.synchronize_item(
        str(doc.get("actionType") or "add"), doc.get("warehouseCode"), doc.get("ownerCode"), item,
        starting_stock=config.starting_stock_of(str(item.get("itemCode") or "").strip()),
    )
    return ("item created" if created else "item updated"), {"itemId": item_id}


def deliveryorder_create(doc: dict, config: SimulatorConfig, store: WarehouseStore) -> tuple[str, dict]:
    head = doc.get("deliveryOrder") or {}
    _check_codes(config, head.get("warehouseCode"), None, "deliveryOrder.")
    for i, line in enumerate(doc.get("orderLines") or []):
        _check_codes(config, None, line.get("ownerCode"), f"orderLines[{i}].")
    result = store.create_order(doc, require_known_items=config.require_known_items,
                                strict_stock=config.strict_stock)
    fields = {k: result[k] for k in ("createTime", "deliveryOrderId", "warehouseCode", "logisticsCode")}
    return ("order already received" if result["repeat"] else "order accepted"), fields


def order_cancel(doc: dict, config: SimulatorConfig, store: WarehouseStore) -> tuple[str, dict]:
    _check_codes(config, doc.get("warehouseCode"), doc.get("ownerCode"), "")
    code = str(doc.get("orderCode") or "").strip()
    result = store.cancel_order(code, doc.get("cancelReason"), order_id=str(doc.get("orderId") or "").strip())
    return ("order already canceled" if result["already"] else "order canceled"), {}


def returnorder_create(doc: dict, config: SimulatorConfig, store: WarehouseStore) -> tuple[str, dict]:
    head = doc.get("returnOrder") or {}
    _check_codes(config, head.get("warehouseCode"), head.get("ownerCode"), "returnOrder.")
    for i, line in enumerate(doc.get("orderLines") or []):
        _check_codes(config, None, line.get("ownerCode"), f"orderLines[{i}].")
    result = create_return(store, doc, require_known_items=config.require_known_items)
    return ("return already announced" if result["repeat"] else "return announced"), {
        "returnOrderId": result["returnOrderId"]}


def inventory_query(doc: dict, config: SimulatorConfig, store: WarehouseStore) -> tuple[str, dict]:
    criteria = doc.get("criteriaList") or []
    for i, criterion in enumerate(criteria):
        _check_codes(config, criterion.get("warehouseCode"), criterion.get("ownerCode"), f"criteriaList[{i}].")
    rows = store.query_inventory(criteria)
    return f"{len(rows)} rows", {"items": rows}


HANDLERS: dict[str, Handler] = {
    "singleitem.synchronize": singleitem_synchronize,
    "deliveryorder.create": deliveryorder_create,
    "order.cancel": order_cancel,
    "inventory.query": inventory_query,
    "returnorder.create": returnorder_create,
}
