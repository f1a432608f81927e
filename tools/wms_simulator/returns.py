"""Customer returns: ``returnorder.create`` announces a parcel coming back, the warehouse receives it
(``POST /__admin/returns/receive``) and posts ``returnorder.confirm`` to the callback URL.

A return is ``announced`` until it arrives, ``receiving`` after a partial receipt (confirmType 1)
and ``received`` after the final one (confirmType 0). Good units (ZP) go back into the stock
inventory.query answers from, defective ones (CC) into the item's CC row.
"""

from __future__ import annotations

import json

from qimen.documents import build_document
from qimen.timeutil import format_datetime, now_beijing

from . import codes
from .codes import SimulatedRefusal
from .store import DEFAULT_INVENTORY_TYPE, WarehouseStore, order_body_hash, resend_of

RETURN_CONFIRM_METHOD = "returnorder.confirm"
ANNOUNCED, RECEIVING, RECEIVED = "announced", "receiving", "received"
GOOD, DEFECTIVE = "ZP", "CC"
SPLITS = ("lines", "batchs")


def create_return(store: WarehouseStore, document: dict, *, require_known_items: bool) -> dict:
    """Store an announced return, or recognise a resend (same code, same content: the same
    ``returnOrderId``). Returns ``{"returnOrderId", "repeat"}``; raises :class:`SimulatedRefusal`."""
    head = document.get("returnOrder") or {}
    code = str(head.get("returnOrderCode") or "").strip()
    pre_code = str(head.get("preDeliveryOrderCode") or "").strip()
    lines = document.get("orderLines") or []
    body_hash = order_body_hash(document)
    now = format_datetime(now_beijing())
    with store.transaction() as db:
        known = resend_of(db, "returns", "return_code", code, body_hash, "return_id", "returnOrder.returnOrderCode")
        if known is not None:
            return {"returnOrderId": known["return_id"], "repeat": True}
        if db.execute("SELECT 1 FROM orders WHERE order_code = ?", (pre_code,)).fetchone() is None:
            raise SimulatedRefusal(codes.ORDER_NOT_FOUND,
                                   f"returnOrder.preDeliveryOrderCode: delivery order {pre_code} was never received "
                                   "by this warehouse; the return cannot be matched to it")
        parsed = []
        for i, line in enumerate(lines):
            item_code = str(line.get("itemCode") or "").strip()
            item = db.execute("SELECT item_id FROM items WHERE item_code = ?", (item_code,)).fetchone()
            if item is None and require_known_items:
                raise SimulatedRefusal(codes.ITEM_NOT_FOUND, f"orderLines[{i}].itemCode: item {item_code} is not known")
            parsed.append((i, line.get("orderLineNo"), item_code,
                           line.get("itemId") or (item["item_id"] if item else None), line.get("ownerCode"),
                           line.get("inventoryType") or DEFAULT_INVENTORY_TYPE, int(str(line.get("planQty")).strip()),
                           line.get("sourceOrderCode"), line.get("subSourceOrderCode")))
        return_id = f"RO{store.next_value(db, 'return'):010d}"
        db.execute(
            "INSERT INTO returns(return_code, return_id, body_hash, status, order_type, pre_order_code, warehouse_code,"
            " owner_code, logistics_code, express_code, return_reason, document, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (code, return_id, body_hash, ANNOUNCED, head.get("orderType"), pre_code, head.get("warehouseCode"),
             head.get("ownerCode") or (lines[0].get("ownerCode") if lines else None), head.get("logisticsCode"),
             head.get("expressCode"), head.get("returnReason"), json.dumps(document, ensure_ascii=False), now, now),
        )
        db.executemany(
            "INSERT INTO return_lines(return_code, line_index, order_line_no, item_code, item_id, owner_code,"
            " inventory_type, plan_qty, source_order_code, sub_source_order_code)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(code, *line) for line in parsed],
        )
        return {"returnOrderId": return_id, "repeat": False}


def list_returns(store: WarehouseStore, code: str | None = None) -> list[dict]:
    with store.transaction() as db:
        sql = "SELECT * FROM returns" + (" WHERE return_code = ?" if code else "") + " ORDER BY return_id"
        found = [dict(r) for r in db.execute(sql, (code,) if code else ())]
        for ret in found:
            ret["document"] = json.loads(ret["document"])
            ret["lines"] = [dict(r) for r in db.execute(
                "SELECT * FROM return_lines WHERE return_code = ? ORDER BY line_index", (ret["return_code"],))]
    return found


def receive_return(store: WarehouseStore, code: str, wanted: list[dict] | None, *, confirm_type: int = 0,
                   split: str = "lines") -> dict:
    """The parcel of return ``code`` arrived: count it in (``wanted``: ``[{"itemCode"|"orderLineNo",
    "good", "defective"}]``; None: whatever is still announced, all good), move the stock, store
    the ``returnorder.confirm`` to post. Returns ``{"out_biz_code", "order_code", "state", "body"}``.
    Malformed quantities raise ``ValueError``; an unknown or closed return, an unknown line
    :class:`SimulatedRefusal`."""
    if isinstance(confirm_type, bool) or confirm_type not in (0, 1):
        raise ValueError("confirm_type must be 0 (final) or 1 (partial)")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    with store.transaction() as db:
        ret = db.execute("SELECT * FROM returns WHERE return_code = ?", (code,)).fetchone()
        if ret is None:
            raise SimulatedRefusal(codes.ORDER_NOT_FOUND, f"return {code} is not known")
        if ret["status"] == RECEIVED:
            raise SimulatedRefusal(codes.RETURN_CLOSED, f"return {code} was received already (final receipt sent)")
        lines = [dict(r) for r in db.execute(
            "SELECT * FROM return_lines WHERE return_code = ? ORDER BY line_index", (code,))]
        arrived = _arrivals(code, lines, wanted)
        for line, (good, defective) in zip(lines, arrived):
            db.execute("UPDATE return_lines SET good_qty = good_qty + ?, defective_qty = defective_qty + ?"
                       " WHERE return_code = ? AND line_index = ?", (good, defective, code, line["line_index"]))
            for kind, qty in ((GOOD, good), (DEFECTIVE, defective)):
                if qty:
                    store.move_stock(db, line["item_code"], kind, available=qty, locked=0)
        state = RECEIVED if confirm_type == 0 else RECEIVING
        now = format_datetime(now_beijing())
        db.execute("UPDATE returns SET status = ?, updated_at = ? WHERE return_code = ?", (state, now, code))
        seq, out_biz_code = store.next_message(db)
        body = render_return_confirmation(dict(ret), lines, arrived, out_biz_code=out_biz_code,
                                          confirm_type=confirm_type, time=now, split=split)
        store.insert_message(db, seq, out_biz_code, method=RETURN_CONFIRM_METHOD, order_code=code, status=state,
                             confirm_type=confirm_type, body=body,
                             express_codes=[c for c in (ret["express_code"],) if c])
    return {"out_biz_code": out_biz_code, "method": RETURN_CONFIRM_METHOD, "order_code": code, "state": state,
            "confirm_type": confirm_type, "body": body}


def _quantity(spec: dict, key: str) -> int:
    value = spec.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be a whole number >= 0, got {value!r} in {spec}")
    return value


def _arrivals(code: str, lines: list[dict], wanted: list[dict] | None) -> list[tuple[int, int]]:
    """``(good, defective)`` per return line for this receipt."""
    if wanted is None:
        return [(max(0, line["plan_qty"] - line["good_qty"] - line["defective_qty"]), 0) for line in lines]
    if not isinstance(wanted, list) or not all(isinstance(spec, dict) for spec in wanted):
        raise ValueError('lines must be a list of {"itemCode" or "orderLineNo", "good", "defective"}')
    arrived = [[0, 0] for _ in lines]
    for spec in wanted:
        if spec.get("orderLineNo") is not None:
            matches = [i for i, line in enumerate(lines) if str(line["order_line_no"]) == str(spec["orderLineNo"])]
        else:
            matches = [i for i, line in enumerate(lines) if line["item_code"] == spec.get("itemCode")]
        if len(matches) != 1:
            raise SimulatedRefusal(codes.INVALID_PARAMETER,
                                   f"return {code}: {spec} names {'no' if not matches else 'more than one'} line "
                                   "(give orderLineNo when an item is on several lines)")
        arrived[matches[0]][0] += _quantity(spec, "good")
        arrived[matches[0]][1] += _quantity(spec, "defective")
    return [(good, defective) for good, defective in arrived]


def render_return_confirmation(ret: dict, lines: list[dict], arrived: list[tuple[int, int]], *,
                               out_biz_code: str, confirm_type: int, time: str, split: str = "lines") -> str:
    """``returnorder.confirm`` for one receipt: ``actualQty`` is what arrived in THIS receipt, good
    (ZP) and defective (CC) on lines of their own (``split="lines"``) or as the line's ``batchs``
    (``split="batchs"``). A receipt of nothing at all lists every line with actualQty 0."""
    def base(line: dict) -> dict:
        return {"orderLineNo": line["order_line_no"], "sourceOrderCode": line["source_order_code"],
                "subSourceOrderCode": line["sub_source_order_code"],
                "ownerCode": line["owner_code"] or ret["owner_code"], "itemCode": line["item_code"],
                "itemId": line["item_id"], "planQty": line["plan_qty"]}

    order_lines = []
    for line, (good, defective) in zip(lines, arrived):
        parts = [(kind, qty) for kind, qty in ((GOOD, good), (DEFECTIVE, defective)) if qty]
        if split == "batchs" and len(parts) == 2:
            order_lines.append({**base(line), "inventoryType": line["inventory_type"], "actualQty": good + defective,
                                "batchs": [{"inventoryType": kind, "actualQty": qty} for kind, qty in parts]})
        else:
            order_lines += [{**base(line), "inventoryType": kind, "actualQty": qty} for kind, qty in parts]
    if not order_lines:
        order_lines = [{**base(line), "inventoryType": line["inventory_type"], "actualQty": 0} for line in lines]
    document = {
        "returnOrder": {
            "returnOrderCode": ret["return_code"],
            "returnOrderId": ret["return_id"],
            "warehouseCode": ret["warehouse_code"],
            "ownerCode": ret["owner_code"],
            "outBizCode": out_biz_code,
            "orderType": ret["order_type"],
            "orderConfirmTime": time,
            "logisticsCode": ret["logistics_code"] or "OTHER",
            "expressCode": ret["express_code"],
            "returnReason": ret["return_reason"],
            "confirmType": confirm_type,
        },
        "orderLines": order_lines,
    }
    return build_document(RETURN_CONFIRM_METHOD, document)
