"""Typed readers for the warehouse's other messages: ``returnorder.confirm``, ``orderprocess.report``,
``itemlack.report`` and ``stockchange.report``.

The policy of ``parse_deliveryorder_confirm``: strict in what we send, lenient in what we receive.
A message is refused (``QimenValidationError`` naming the path) only when the key that says what it
is about is missing; any other odd value (``2.0000``, a Java time ``13:53:08.0``, a placeholder year,
an unknown element, one line where a list is expected) is read as well as it can be and noted.
Attribute names mirror the XML element names; ``document`` keeps everything that was sent.

Each message has a ``dedup_key``, as the confirmation inbox keys ``deliveryorder.confirm``: its
``outBizCode`` when it has one, else ``content_key`` of its document (``sha256:...``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import ClassVar

from .errors import QimenValidationError
from .parsing import DEFAULT_MAX_BYTES, _as_text, _dicts, _Reader, parse_request
from .rules import PROCESS_STATUSES
from .validation import Violation

# --- de-duplication --------------------------------------------------------------------------


def content_key(method: str, document: Mapping) -> str:
    """``sha256:<hex>`` of the canonical form of a parsed document: leaves stripped, empty values
    dropped, keys sorted and repeated elements (lines, items) in a canonical order. A resend that
    only differs in whitespace, element order or empty elements gets the same key."""
    canonical = {"method": method, "document": _canonical(document) or {}}
    text = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value):
    if isinstance(value, Mapping):
        out = {str(k): c for k, v in value.items() if (c := _canonical(v)) is not None}
        return out or None
    if isinstance(value, (list, tuple)):
        items = [c for v in value if (c := _canonical(v)) is not None]
        return sorted(items, key=_sort_text) or None
    if isinstance(value, str):
        return value.strip() or None
    return value


def _sort_text(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# --- shared helpers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Inbound:
    """What every message of the warehouse carries besides its own fields: the whole ``document``
    as sent and the parser's ``notes`` (keyword-only, after each message's fields), and its
    ``dedup_key``: ``outBizCode`` when the message has one, else the content key."""

    METHOD: ClassVar[str]
    document: dict = field(default_factory=dict, compare=False, repr=False, kw_only=True)
    notes: tuple[str, ...] = field(default=(), compare=False, kw_only=True)

    @property
    def dedup_key(self) -> str:
        return getattr(self, "outBizCode", None) or content_key(self.METHOD, self.document)


def _refusal(path: str, body: bytes | str, rule: str = "required", message: str = "required") -> QimenValidationError:
    return QimenValidationError([Violation(path, rule, message)], request_body=_as_text(body))


def _first(value) -> Mapping:
    """The first mapping of a struct that may have been repeated (or be missing)."""
    return next(iter(_dicts(value)), {})


def _texts(value) -> tuple[str, ...]:
    """Plain-text list items (``snList/sn``), blanks dropped."""
    items = value if isinstance(value, list) else ()
    return tuple(v.strip() for v in items if isinstance(v, str) and v.strip())


def _naming_an_item(read: _Reader, rows, path: str):
    """``(where, row, itemCode)`` per row that names an item; the others are skipped with a note
    (nothing in them can move stock or be named to a person)."""
    for n, row in enumerate(_dicts(rows)):
        where = f"{path}[{n}]"
        item_code = read.text(row, "itemCode")
        if item_code is None:
            read.notes.append(f"{where}: no itemCode, skipped")
            continue
        yield where, row, item_code


# --- returnorder.confirm -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReturnBatch:
    """One ``batchs/batch`` of a return line: part of the line's ``actualQty``."""

    batchCode: str | None
    productDate: date | None
    expireDate: date | None
    produceCode: str | None
    inventoryType: str | None
    actualQty: int | None


@dataclass(frozen=True)
class ReturnLine:
    orderLineNo: str | None
    sourceOrderCode: str | None
    subSourceOrderCode: str | None
    ownerCode: str | None
    itemCode: str
    itemId: str | None
    inventoryType: str | None
    planQty: int | None
    actualQty: int
    batchCode: str | None
    productDate: date | None
    expireDate: date | None
    produceCode: str | None
    batchs: tuple[ReturnBatch, ...]
    snList: tuple[str, ...]


@dataclass(frozen=True)
class ReturnOrderConfirm(_Inbound):
    """What arrived of a customer return (``returnOrder`` and its ``orderLines``)."""

    METHOD = "returnorder.confirm"

    returnOrderCode: str
    returnOrderId: str | None
    warehouseCode: str | None
    ownerCode: str | None
    orderType: str | None
    outBizCode: str | None
    confirmType: int | None
    orderConfirmTime: datetime | None
    logisticsCode: str | None
    logisticsName: str | None
    expressCode: str | None
    returnReason: str | None
    orderLines: tuple[ReturnLine, ...]

    @property
    def is_final(self) -> bool:
        """``confirmType`` 0 (or absent) is the final receipt; 1 one of several."""
        return not self.confirmType

    @property
    def actual_by_item(self) -> dict[tuple[str, str | None], int]:
        """Received quantity per (itemCode, inventoryType as sent; the standard's default is ZP).
        A line split into ``batchs`` counts per batch, each with its own inventoryType (one good,
        one defective), when the batches add up to the line; otherwise the line counts."""
        out: dict[tuple[str, str | None], int] = {}
        for line in self.orderLines:
            parts = [(b.inventoryType or line.inventoryType, b.actualQty) for b in line.batchs
                     if b.actualQty is not None]
            if not parts or sum(q for _, q in parts) != line.actualQty:
                parts = [(line.inventoryType, line.actualQty)]
            for inventory_type, quantity in parts:
                key = (line.itemCode, inventory_type)
                out[key] = out.get(key, 0) + quantity
        return out


def parse_returnorder_confirm(body: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ReturnOrderConfirm:
    """A typed ``returnorder.confirm``; refused only without ``returnOrder.returnOrderCode``.
    Lines without an itemCode are skipped with a note (nothing to put back into stock)."""
    data = parse_request("returnorder.confirm", body, max_bytes=max_bytes)
    order = _first(data.get("returnOrder"))
    read = _Reader()
    code = read.text(order, "returnOrderCode")
    if code is None:
        raise _refusal("returnOrder.returnOrderCode", body)
    lines = []
    for where, line, item_code in _naming_an_item(read, data.get("orderLines"), "orderLines"):
        actual = read.integer(line, "actualQty", where)
        if actual is None:
            read.notes.append(f"{where}.actualQty: missing, read as 0")
        batchs = tuple(
            ReturnBatch(
                batchCode=read.text(b, "batchCode"),
                productDate=read.day(b, "productDate", f"{where}.batchs[{m}]"),
                expireDate=read.day(b, "expireDate", f"{where}.batchs[{m}]"),
                produceCode=read.text(b, "produceCode"),
                inventoryType=read.text(b, "inventoryType"),
                actualQty=read.integer(b, "actualQty", f"{where}.batchs[{m}]"),
            )
            for m, b in enumerate(_dicts(line.get("batchs")))
        )
        batch_total = sum(b.actualQty for b in batchs if b.actualQty is not None)
        if batchs and batch_total != (actual or 0):
            read.notes.append(f"{where}.batchs: add up to {batch_total}, not actualQty {actual or 0}; the line counts")
        lines.append(ReturnLine(
            orderLineNo=read.text(line, "orderLineNo"),
            sourceOrderCode=read.text(line, "sourceOrderCode"),
            subSourceOrderCode=read.text(line, "subSourceOrderCode"),
            ownerCode=read.text(line, "ownerCode"),
            itemCode=item_code,
            itemId=read.text(line, "itemId"),
            inventoryType=read.text(line, "inventoryType"),
            planQty=read.integer(line, "planQty", where),
            actualQty=actual or 0,
            batchCode=read.text(line, "batchCode"),
            productDate=read.day(line, "productDate", where),
            expireDate=read.day(line, "expireDate", where),
            produceCode=read.text(line, "produceCode"),
            batchs=batchs,
            snList=_texts(line.get("snList")),
        ))
    return ReturnOrderConfirm(
        returnOrderCode=code,
        returnOrderId=read.text(order, "returnOrderId"),
        warehouseCode=read.text(order, "warehouseCode"),
        ownerCode=read.text(order, "ownerCode"),
        orderType=read.text(order, "orderType"),
        outBizCode=read.text(order, "outBizCode"),
        confirmType=read.integer(order, "confirmType", "returnOrder"),
        orderConfirmTime=read.when(order, "orderConfirmTime", "returnOrder"),
        logisticsCode=read.text(order, "logisticsCode"),
        logisticsName=read.text(order, "logisticsName"),
        expressCode=read.text(order, "expressCode"),
        returnReason=read.text(order, "returnReason"),
        orderLines=tuple(lines),
        document=data,
        notes=tuple(read.notes),
    )


# --- orderprocess.report -----------------------------------------------------------------------


@dataclass(frozen=True)
class OrderProcessReport(_Inbound):
    """A document's progress in the warehouse: ``order`` (which document) and ``process`` (what
    happened), flattened. ``outBizCode`` is not in the official message; read when a WMS adds one
    (in ``order``, ``process`` or at the top)."""

    METHOD = "orderprocess.report"

    orderCode: str
    orderId: str | None
    orderType: str | None
    warehouseCode: str | None
    ownerCode: str | None
    outBizCode: str | None
    processStatus: str | None
    operatorCode: str | None
    operatorName: str | None
    operateTime: datetime | None
    operateInfo: str | None
    expressCode: str | None


def parse_orderprocess_report(body: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> OrderProcessReport:
    """A typed ``orderprocess.report``; refused only without ``order.orderCode``. A missing or
    unknown ``processStatus`` is kept (upper-cased) and noted."""
    data = parse_request("orderprocess.report", body, max_bytes=max_bytes)
    order, process = _first(data.get("order")), _first(data.get("process"))
    read = _Reader()
    code = read.text(order, "orderCode")
    if code is None:
        raise _refusal("order.orderCode", body)
    status = (read.text(process, "processStatus") or "").upper() or None
    if status is None:
        read.notes.append("process.processStatus: missing")
    elif status not in PROCESS_STATUSES:
        read.notes.append(f"process.processStatus: {status!r} is not a known status, kept")
    return OrderProcessReport(
        orderCode=code,
        orderId=read.text(order, "orderId"),
        orderType=read.text(order, "orderType"),
        warehouseCode=read.text(order, "warehouseCode"),
        ownerCode=read.text(order, "ownerCode"),
        outBizCode=read.text(order, "outBizCode") or read.text(process, "outBizCode") or read.text(data, "outBizCode"),
        processStatus=status,
        operatorCode=read.text(process, "operatorCode"),
        operatorName=read.text(process, "operatorName"),
        operateTime=read.when(process, "operateTime", "process"),
        operateInfo=read.text(process, "operateInfo"),
        expressCode=read.text(process, "expressCode"),
        document=data,
        notes=tuple(read.notes),
    )


# --- itemlack.report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LackItem:
    itemCode: str
    itemId: str | None
    inventoryType: str | None
    batchCode: str | None
    productDate: date | None
    expireDate: date | None
    produceCode: str | None
    planQty: int | None
    lackQty: int | None
    reason: str | None


@dataclass(frozen=True)
class ItemLackReport(_Inbound):
    """The warehouse cannot fill (part of) a delivery order: what is short, per item."""

    METHOD = "itemlack.report"

    deliveryOrderCode: str
    deliveryOrderId: str | None
    warehouseCode: str | None
    createTime: datetime | None
    outBizCode: str | None
    items: tuple[LackItem, ...]

    @property
    def lack_by_item(self) -> dict[str, int]:
        """Total ``lackQty`` per itemCode (items without a readable lackQty left out)."""
        out: dict[str, int] = {}
        for item in self.items:
            if item.lackQty is not None:
                out[item.itemCode] = out.get(item.itemCode, 0) + item.lackQty
        return out


def parse_itemlack_report(body: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ItemLackReport:
    """A typed ``itemlack.report``; refused only without ``deliveryOrderCode``. Items without an
    itemCode are skipped with a note; a missing lackQty is noted and kept as None."""
    data = parse_request("itemlack.report", body, max_bytes=max_bytes)
    read = _Reader()
    code = read.text(data, "deliveryOrderCode")
    if code is None:
        raise _refusal("deliveryOrderCode", body)
    items = []
    for where, item, item_code in _naming_an_item(read, data.get("items"), "items"):
        lack = read.integer(item, "lackQty", where)
        if lack is None:
            read.notes.append(f"{where}.lackQty: missing")
        items.append(LackItem(
            itemCode=item_code,
            itemId=read.text(item, "itemId"),
            inventoryType=read.text(item, "inventoryType"),
            batchCode=read.text(item, "batchCode"),
            productDate=read.day(item, "productDate", where),
            expireDate=read.day(item, "expireDate", where),
            produceCode=read.text(item, "produceCode"),
            planQty=read.integer(item, "planQty", where),
            lackQty=lack,
            reason=read.text(item, "reason"),
        ))
    return ItemLackReport(
        deliveryOrderCode=code,
        deliveryOrderId=read.text(data, "deliveryOrderId"),
        warehouseCode=read.text(data, "warehouseCode"),
        createTime=read.when(data, "createTime", "request"),
        outBizCode=read.text(data, "outBizCode"),
        items=tuple(items),
        document=data,
        notes=tuple(read.notes),
    )


# --- stockchange.report ------------------------------------------------------------------------


@dataclass(frozen=True)
class StockChange:
    """One ``items/item``: a signed change (negative = out) caused by document ``orderCode``.
    ``batchs`` stay in the report's ``document``."""

    ownerCode: str | None
    warehouseCode: str | None
    orderCode: str | None
    orderType: str | None
    outBizCode: str | None
    itemCode: str
    itemId: str | None
    inventoryType: str | None
    quantity: int
    batchCode: str | None
    productDate: date | None
    expireDate: date | None
    produceCode: str | None
    changeTime: datetime | None


@dataclass(frozen=True)
class StockChangeReport(_Inbound):
    """Stock moved in the warehouse outside our orders' confirmations (or alongside them)."""

    METHOD = "stockchange.report"

    items: tuple[StockChange, ...]

    @property
    def dedup_key(self) -> str:
        """``outBizCode`` is per item: the one value when every item carries the same, else the
        content key (a message of several changes is the same message only as a whole)."""
        codes = {item.outBizCode for item in self.items}
        if len(codes) == 1 and None not in codes:
            return codes.pop()
        return content_key(self.METHOD, self.document)

    @property
    def quantity_by_item(self) -> dict[tuple[str, str | None], int]:
        """Net signed change per (itemCode, inventoryType as sent)."""
        out: dict[tuple[str, str | None], int] = {}
        for item in self.items:
            key = (item.itemCode, item.inventoryType)
            out[key] = out.get(key, 0) + item.quantity
        return out


def parse_stockchange_report(body: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> StockChangeReport:
    """A typed ``stockchange.report``. An item without an itemCode or a readable quantity is
    skipped with a note; the report is refused only when no usable item is left."""
    data = parse_request("stockchange.report", body, max_bytes=max_bytes)
    read = _Reader()
    items = []
    for n, item in enumerate(_dicts(data.get("items"))):
        where = f"items[{n}]"
        item_code = read.text(item, "itemCode")
        quantity = read.integer(item, "quantity", where)
        if item_code is None or quantity is None:
            read.notes.append(f"{where}: no {'itemCode' if item_code is None else 'quantity'}, skipped")
            continue
        items.append(StockChange(
            ownerCode=read.text(item, "ownerCode"),
            warehouseCode=read.text(item, "warehouseCode"),
            orderCode=read.text(item, "orderCode"),
            orderType=read.text(item, "orderType"),
            outBizCode=read.text(item, "outBizCode"),
            itemCode=item_code,
            itemId=read.text(item, "itemId"),
            inventoryType=read.text(item, "inventoryType"),
            quantity=quantity,
            batchCode=read.text(item, "batchCode"),
            productDate=read.day(item, "productDate", where),
            expireDate=read.day(item, "expireDate", where),
            produceCode=read.text(item, "produceCode"),
            changeTime=read.when(item, "changeTime", where),
        ))
    if not items:
        raise _refusal("items", body, "min_items", "no item with an itemCode and a quantity")
    return StockChangeReport(items=tuple(items), document=data, notes=tuple(read.notes))


__all__ = [
    "ItemLackReport",
    "LackItem",
    "OrderProcessReport",
    "ReturnBatch",
    "ReturnLine",
    "ReturnOrderConfirm",
    "StockChange",
    "StockChangeReport",
    "content_key",
    "parse_itemlack_report",
    "parse_orderprocess_report",
    "parse_returnorder_confirm",
    "parse_stockchange_report",
]
