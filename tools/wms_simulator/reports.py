"""The warehouse's own reports, posted to the callback URL like its confirmations:
``orderprocess.report`` (a document's progress), ``itemlack.report`` (an order it cannot fill)
and ``stockchange.report`` (stock moved, which moves the simulator's stock too).

Each is stored with a new ``outBizCode`` (the confirmations' sequence) before it is posted, so
``POST /__admin/deliver`` and ``resend-confirm`` work for reports as for confirmations. The official
``orderprocess.report`` has no ``outBizCode``; the simulator adds one in ``order``, as some WMSs do
(``qimen.inbound`` reads it there).
"""

from __future__ import annotations

import sqlite3

from qimen.documents import build_document
from qimen.errors import QimenValidationError
from qimen.rules import LACK_REASONS, PROCESS_STATUSES
from qimen.timeutil import format_datetime, now_beijing
from qimen.validation import validate

from . import codes
from .codes import SimulatedRefusal
from .config import SimulatorConfig
from .shipping import OPERATOR
from .store import DEFAULT_INVENTORY_TYPE, WarehouseStore

PROCESS_METHOD = "orderprocess.report"
LACK_METHOD = "itemlack.report"
STOCK_CHANGE_METHOD = "stockchange.report"


def _stored(store: WarehouseStore, db: sqlite3.Connection, method: str, order_code: str | None, status: str,
            render) -> dict:
    """Store the message ``render(outBizCode, time, order_code) -> XML`` within the caller's
    transaction; without ``order_code`` the message is about an adjustment ``ADJ<outBizCode>``."""
    seq, out_biz_code = store.next_message(db)
    order_code = order_code or f"ADJ{out_biz_code}"
    body = render(out_biz_code, format_datetime(now_beijing()), order_code)
    store.insert_message(db, seq, out_biz_code, method=method, order_code=order_code, status=status,
                         confirm_type=0, body=body)
    return {"out_biz_code": out_biz_code, "method": method, "order_code": order_code, "status": status, "body": body}


def _document_of(db: sqlite3.Connection, code: str) -> dict:
    """The delivery order (or else the return) ``code``: its id, type, warehouse and owner."""
    row = db.execute("SELECT order_id AS id, order_type AS type, warehouse_code, owner_code FROM orders"
                     " WHERE order_code = ?", (code,)).fetchone()
    kind = "JYCK"
    if row is None:
        row = db.execute("SELECT return_id AS id, order_type AS type, warehouse_code, owner_code FROM returns"
                         " WHERE return_code = ?", (code,)).fetchone()
        kind = "THRK"
    if row is None:
        raise SimulatedRefusal(codes.ORDER_NOT_FOUND,
                               f"order {code} is not known (neither a delivery order nor a return)")
    return {**dict(row), "type": row["type"] or kind}


def report_process(store: WarehouseStore, order_code: str, status: str, *, operate_info: str | None = None,
                   express_code: str | None = None, remark: str | None = None) -> dict:
    """Store an ``orderprocess.report`` saying document ``order_code`` reached ``status``."""
    status = str(status or "").strip().upper()
    if status not in PROCESS_STATUSES:
        raise ValueError(f"status must be one of {', '.join(PROCESS_STATUSES)}, got {status!r}")
    with store.transaction() as db:
        doc = _document_of(db, order_code)

        def render(out_biz_code: str, time: str, _code: str) -> str:
            order = {"orderCode": order_code, "orderId": doc["id"], "orderType": doc["type"],
                     "warehouseCode": doc["warehouse_code"], "ownerCode": doc["owner_code"]}
            process = {"processStatus": status, **OPERATOR, "operateTime": time, "operateInfo": operate_info,
                       "expressCode": express_code, "remark": remark}
            violations = validate(PROCESS_METHOD, {"order": order, "process": process})
            if violations:
                raise QimenValidationError(violations)
            # outBizCode is no standard element: added (unvalidated) where qimen.inbound looks first
            return build_document(PROCESS_METHOD, {"order": {**order, "outBizCode": out_biz_code},
                                                   "process": process}, validate=False)

        return _stored(store, db, PROCESS_METHOD, order_code, status, render)


def report_lack(store: WarehouseStore, order_code: str, lacks: dict[str, int] | None,
                reason: str = LACK_REASONS[1]) -> dict:
    """Store an ``itemlack.report`` for delivery order ``order_code``: ``lacks`` ``{itemCode:
    lackQty}`` (None: every item lacks all it still has to ship)."""
    if lacks is not None and not isinstance(lacks, dict):
        raise ValueError("lacks must be an object {itemCode: lackQty}")
    with store.transaction() as db:
        order = db.execute("SELECT * FROM orders WHERE order_code = ?", (order_code,)).fetchone()
        if order is None:
            raise SimulatedRefusal(codes.ORDER_NOT_FOUND, f"order {order_code} is not known")
        per_item: dict[str, dict] = {}
        for line in db.execute("SELECT * FROM order_lines WHERE order_code = ? ORDER BY line_index", (order_code,)):
            entry = per_item.setdefault(line["item_code"], {
                "itemCode": line["item_code"], "itemId": line["item_id"], "inventoryType": line["inventory_type"],
                "planQty": 0, "lackQty": 0, "reason": reason})
            entry["planQty"] += line["plan_qty"]
            entry["lackQty"] += line["plan_qty"] - line["shipped_qty"]
        if lacks is not None:
            unknown = sorted(set(lacks) - set(per_item))
            if unknown:
                raise SimulatedRefusal(codes.INVALID_PARAMETER,
                                       f"order {order_code} has no line of {', '.join(unknown)}")
            for item_code, qty in lacks.items():
                if isinstance(qty, bool) or not isinstance(qty, int) or not 0 <= qty <= per_item[item_code]["planQty"]:
                    raise ValueError(f"lacks[{item_code}]: a whole number between 0 and the planned "
                                     f"{per_item[item_code]['planQty']}, got {qty!r}")
                per_item[item_code]["lackQty"] = qty
            per_item = {code: per_item[code] for code in lacks}

        def render(out_biz_code: str, time: str, _code: str) -> str:
            return build_document(LACK_METHOD, {
                "warehouseCode": order["warehouse_code"], "deliveryOrderCode": order_code,
                "deliveryOrderId": order["order_id"], "createTime": time, "outBizCode": out_biz_code,
                "items": list(per_item.values())})

        return _stored(store, db, LACK_METHOD, order_code, "LACK", render)


def report_stock_change(store: WarehouseStore, config: SimulatorConfig, changes: list[dict],
                        order_code: str | None = None, order_type: str | None = None) -> dict:
    """Move the stock by ``changes`` (``[{"itemCode", "quantity" (signed), "inventoryType"?,
    "batchCode"?}]``) and store the ``stockchange.report`` saying so, caused by document
    ``order_code`` (default: an adjustment ``ADJ<outBizCode>``)."""
    if not isinstance(changes, list) or not changes or not all(isinstance(c, dict) for c in changes):
        raise ValueError('changes must be a non-empty list of {"itemCode", "quantity", "inventoryType"?}')
    for i, change in enumerate(changes):
        qty = change.get("quantity")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty == 0 \
                or not str(change.get("itemCode") or "").strip():
            raise ValueError(f"changes[{i}]: an itemCode and a whole, non-zero quantity, got {change}")
    with store.transaction() as db:
        items = []
        for change in changes:
            code = str(change["itemCode"]).strip()
            known = db.execute("SELECT item_id, warehouse_code, owner_code FROM items WHERE item_code = ?",
                               (code,)).fetchone()
            warehouse = (known and known["warehouse_code"]) or config.warehouse_code
            owner = (known and known["owner_code"]) or config.owner_code
            if not (warehouse and owner):
                raise SimulatedRefusal(codes.ITEM_NOT_FOUND, f"item {code} is not known: no warehouseCode/ownerCode")
            kind = str(change.get("inventoryType") or DEFAULT_INVENTORY_TYPE)
            batch = str(change.get("batchCode") or "")
            store.move_stock(db, code, kind, available=change["quantity"], locked=0, batch_code=batch)
            items.append({"ownerCode": owner, "warehouseCode": warehouse, "orderType": order_type, "itemCode": code,
                          "itemId": known["item_id"] if known else None, "inventoryType": kind,
                          "quantity": change["quantity"], "batchCode": batch or None})

        def render(out_biz_code: str, time: str, document_code: str) -> str:
            return build_document(STOCK_CHANGE_METHOD, {"items": [
                {**item, "orderCode": document_code, "outBizCode": out_biz_code, "changeTime": time}
                for item in items]})

        return _stored(store, db, STOCK_CHANGE_METHOD, order_code, "CHANGE", render)
