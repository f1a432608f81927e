"""``inventory.query``: the request for several items, and the answer as typed rows.

Juxing's note: stock is not real-time and calling too often gets refused; once a day is normal.
So one request carries many ``criteria`` (one per item), and the answer may hold several rows per
item: one per inventory type, batch and warehouse.

Reading the answer (strict in what we send, lenient in what we receive):

- a row without ``inventoryType`` is ``ZP`` (good stock); an unlisted type is kept as sent;
- quantities are integers (``"12"``, also ``"12.0"``); an empty quantity is 0; a negative one is
  clamped to 0 and reported; a row whose quantity is not a whole number is dropped and reported;
- a row without ``itemCode`` is dropped and reported; unknown elements and unreadable dates are
  ignored (dates become ``None``): we do not need them to count stock.

The combining rule, :func:`sellable_by_item`: an item's sellable quantity is the sum of
``quantity`` over its ZP rows, all batches and warehouses together. Qimen's ``quantity`` is the
part that is not frozen (``lockQuantity`` is the frozen part, reported beside it), so locked stock
is never sellable and is not subtracted a second time. Defective, damaged and in-transit types
(CC, JS, XS, ZT) are never sellable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from .documents import build_document
from .parsing import Response, parse_response
from .timeutil import parse_date

METHOD = "inventory.query"
SELLABLE_TYPE = "ZP"
DEFAULT_INVENTORY_TYPE = "ZP"


@dataclass(frozen=True)
class InventoryRow:
    """One row of an inventory.query answer, with integer quantities >= 0."""

    item_code: str
    inventory_type: str
    quantity: int
    lock_quantity: int
    warehouse_code: str | None = None
    item_id: str | None = None
    batch_code: str = ""
    product_date: date | None = None
    expire_date: date | None = None
    produce_code: str | None = None


@dataclass(frozen=True)
class InventoryAnswer:
    """The readable rows of one answer, and what was wrong with the others (one line each)."""

    rows: tuple[InventoryRow, ...]
    problems: tuple[str, ...] = ()

    @property
    def item_codes(self) -> set[str]:
        return {r.item_code for r in self.rows}

    def sellable(self) -> dict[str, int]:
        return sellable_by_item(self.rows)


def build_inventory_query(item_codes: Sequence[str], *, warehouse_code: str | None = None,
                          owner_code: str | None = None) -> str:
    """The ``<request>`` for ``item_codes`` (one criteria each, every inventory type)."""
    if not item_codes:
        raise ValueError("inventory.query needs at least one item code")
    criteria = [
        {"warehouseCode": warehouse_code, "ownerCode": owner_code, "itemCode": code} for code in item_codes
    ]
    return build_document(METHOD, {"criteriaList": criteria})


def _text(row: Mapping, name: str) -> str | None:
    value = row.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _quantity(row: Mapping, name: str) -> int:
    """An integer quantity; empty is 0. ``ValueError`` when it is not a whole number."""
    text = _text(row, name)
    if text is None:
        return 0
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"{name} {text!r} is not a whole number")
    return int(number)


def _date(row: Mapping, name: str) -> date | None:
    text = _text(row, name)
    if text is None:
        return None
    try:
        return parse_date(text[:10])
    except ValueError:
        return None


def parse_inventory_rows(items: Iterable) -> InventoryAnswer:
    """Typed rows from the answer's ``items`` (as ``Response.fields["items"]``)."""
    rows: list[InventoryRow] = []
    problems: list[str] = []
    for index, raw in enumerate(items or ()):
        where = f"items[{index}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: not an <item> element, ignored")
            continue
        code = _text(raw, "itemCode")
        if code is None:
            problems.append(f"{where}: no itemCode, row ignored")
            continue
        kind = (_text(raw, "inventoryType") or DEFAULT_INVENTORY_TYPE).upper()
        values = {}
        try:
            for name in ("quantity", "lockQuantity"):
                values[name] = _quantity(raw, name)
        except ValueError as err:
            problems.append(f"{where} ({code}, {kind}): {err}; row ignored")
            continue
        for name, value in values.items():
            if value < 0:
                problems.append(f"{where} ({code}, {kind}): {name} {value} clamped to 0")
                values[name] = 0
        rows.append(InventoryRow(
            item_code=code,
            inventory_type=kind,
            quantity=values["quantity"],
            lock_quantity=values["lockQuantity"],
            warehouse_code=_text(raw, "warehouseCode"),
            item_id=_text(raw, "itemId"),
            batch_code=_text(raw, "batchCode") or "",
            product_date=_date(raw, "productDate"),
            expire_date=_date(raw, "expireDate"),
            produce_code=_text(raw, "produceCode"),
        ))
    return InventoryAnswer(tuple(rows), tuple(problems))


def parse_inventory_response(answer: Response | bytes | str) -> InventoryAnswer:
    """Typed rows of a successful inventory.query answer (a parsed ``Response`` or its body).

    ``<items>`` holding one ``<item>`` or many, or no ``<items>`` at all (nothing known), are all
    fine. The failure of the exchange itself (flag, gateway) is the caller's business.
    """
    response = answer if isinstance(answer, Response) else parse_response(answer, METHOD)
    items = response.fields.get("items")
    if items is None or items == "":
        return InventoryAnswer(())
    if isinstance(items, Mapping):  # a lenient reader: <items> read without the rules' list shape
        items = items.get("item") or []
        items = [items] if isinstance(items, Mapping) else items
    return parse_inventory_rows(items)


def sellable_by_item(rows: Iterable[InventoryRow]) -> dict[str, int]:
    """The combining rule: per item code, the sum of ``quantity`` over its ZP rows (all batches
    and warehouses). Every item with any row is in the result, 0 when none of its rows is ZP."""
    out: dict[str, int] = {}
    for row in rows:
        out[row.item_code] = out.get(row.item_code, 0) + (row.quantity if row.inventory_type == SELLABLE_TYPE else 0)
    return out


__all__ = [
    "DEFAULT_INVENTORY_TYPE", "InventoryAnswer", "InventoryRow", "SELLABLE_TYPE", "build_inventory_query",
    "parse_inventory_response", "parse_inventory_rows", "sellable_by_item",
]
