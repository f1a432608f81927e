"""Read Qimen XML safely: requests (the inverse of ``build_document``), responses, confirmations.

Bodies come from the network (a callback anyone can post to, a gateway that may answer with an
HTML page), so the parser resolves no entities, loads no DTD, never touches the network, refuses
any DOCTYPE outright and caps the size before parsing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from .errors import QimenGatewayError, QimenProtocolError, QimenValidationError
from .rules import RESPONSE_HEAD, Field, document_fields, response_fields
from .timeutil import parse_date, parse_datetime
from .validation import validate

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
_ENTITY_DECL = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)


def _parser(encoding: str | None = None) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        encoding=encoding,
    )


def parse_xml(data: bytes | str, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """The root element of ``data``; ``QimenProtocolError`` for anything unsafe or not XML."""
    if isinstance(data, str):
        raw, encoding = data.encode("utf-8"), "utf-8"  # a str is already decoded: ignore its declaration
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw, encoding = bytes(data), None
    else:
        raise TypeError(f"XML must be bytes or str, not {type(data).__name__}")
    if len(raw) > max_bytes:
        raise QimenProtocolError(f"XML body of {len(raw)} bytes exceeds the {max_bytes}-byte limit")
    if not raw.strip():
        raise QimenProtocolError("empty body where XML was expected")
    if _DOCTYPE.search(raw) or _ENTITY_DECL.search(raw):
        raise QimenProtocolError("XML with a DOCTYPE or entity declaration is refused")
    try:
        root = etree.fromstring(raw, parser=_parser(encoding))
    except etree.XMLSyntaxError as exc:
        raise QimenProtocolError(f"not well-formed XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # e.g. UTF-16 bodies the byte scan cannot see
        raise QimenProtocolError("XML with a DOCTYPE is refused")
    return root


def _text(el: etree._Element) -> str:
    return el.text or ""


def _elements(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _generic(el: etree._Element):
    """An element no rule describes: text if it has no children, else a dict (repeats -> list)."""
    children = _elements(el)
    if not children:
        return _text(el)
    return _to_data(children, ())


def _to_data(children: list[etree._Element], fields: tuple[Field, ...]) -> dict:
    by_name = {f.name: f for f in fields}
    out: dict = {}
    repeated: set[str] = set()
    for child in children:
        f = by_name.get(child.tag)
        value = _convert(child, f) if f else _generic(child)
        if child.tag not in out:
            out[child.tag] = value
        elif child.tag in repeated:
            out[child.tag].append(value)
        else:  # a repeat where the rules expect one element: keep all, validation will object
            out[child.tag] = [out[child.tag], value]
            repeated.add(child.tag)
    return out


def _convert(el: etree._Element, f: Field):
    if f.kind == "struct":
        return _to_data(_elements(el), f.children)
    if f.kind == "list":
        items = []
        for item in _elements(el):
            if item.tag != f.item_tag:  # e.g. <orderLines><line>: kept under its own name so
                items.append({item.tag: _generic(item)})  # validation reports it, not dropped
            else:
                items.append(_to_data(_elements(item), f.children) if f.children else _generic(item))
        return items
    if f.kind == "map":
        return {c.tag: _generic(c) for c in _elements(el)}
    return _generic(el)


def _root(body: bytes | str, expected: tuple[str, ...], max_bytes: int) -> etree._Element:
    root = parse_xml(body, max_bytes)
    if root.tag not in expected:
        raise QimenProtocolError(
            f"unexpected root <{root.tag}>, expected <{'> or <'.join(expected)}>",
            response_body=_as_text(body),
        )
    return root


def _as_text(body: bytes | str) -> str:
    return body if isinstance(body, str) else bytes(body).decode("utf-8", errors="replace")


# --- requests ----------------------------------------------------------------------------------


def parse_request(method: str, body: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> dict:
    """Document data from a ``<request>`` body: nested dicts, lists where the rules have lists,
    leaves as the text sent (empty elements as ``""``). Not validated: call ``validate``."""
    fields = document_fields(method)
    root = _root(body, ("request",), max_bytes)
    return _to_data(_elements(root), fields)


# --- responses ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """A ``<response>``: ``fields`` holds the method's own fields (lists as lists, leaves as text).

    ``success`` follows ``flag`` only: Juxing answers ``message=invalid appkey`` on success.
    """

    flag: str
    code: str
    message: str
    fields: dict = field(default_factory=dict)
    raw: str = ""

    @property
    def success(self) -> bool:
        return self.flag.strip().lower() == "success"


def parse_response(body: bytes | str, method: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Response:
    """A warehouse answer. ``<error_response>`` raises ``QimenGatewayError``; anything that is not
    a Qimen answer raises ``QimenProtocolError``; ``flag=failure`` is returned, not raised."""
    raw = _as_text(body)
    try:
        root = parse_xml(body, max_bytes)
    except QimenProtocolError as exc:
        exc.response_body = raw
        raise
    if root.tag == "error_response":
        data = {c.tag: _text(c).strip() for c in _elements(root)}
        raise QimenGatewayError(
            data.get("msg") or data.get("sub_msg") or "gateway error",
            code=data.get("code") or None,
            sub_code=data.get("sub_code"),
            sub_msg=data.get("sub_msg"),
            response_body=raw,
        )
    if root.tag != "response":
        raise QimenProtocolError(f"unexpected root <{root.tag}>, expected <response>", response_body=raw)
    head_names = {f.name for f in RESPONSE_HEAD}
    children = _elements(root)
    head = {c.tag: _text(c).strip() for c in children if c.tag in head_names}
    if not head.get("flag"):
        raise QimenProtocolError("<response> without a <flag>", response_body=raw)
    own = response_fields(method) if method else ()
    fields = _to_data([c for c in children if c.tag not in head_names], own)
    return Response(head["flag"], head.get("code", ""), head.get("message", ""), fields, raw)


def raise_for_failure(response: Response) -> Response:
    """``QimenBusinessError`` for ``flag=failure``; the response itself otherwise (for chaining)."""
    from .errors import QimenBusinessError

    if not response.success:
        raise QimenBusinessError(
            response.message or f"flag={response.flag}",
            code=response.code or None,
            response_body=response.raw,
        )
    return response


# --- deliveryorder.confirm, typed --------------------------------------------------------------

# What stops a confirmation from being accepted. Unknown elements, over-long text, unlisted enum
# values and extra decimal places do not: refusing a shipment notice over them would lose it.
INBOUND_FATAL_RULES = frozenset(
    {"required", "type", "int", "min_value", "decimal", "datetime", "date", "min_items", "xml_char"}
)


@dataclass(frozen=True)
class PackageItem:
    itemCode: str
    itemId: str | None
    quantity: int


@dataclass(frozen=True)
class Package:
    logisticsCode: str
    logisticsName: str | None
    expressCode: str | None
    packageCode: str | None
    weight: Decimal | None
    items: tuple[PackageItem, ...]


@dataclass(frozen=True)
class ConfirmLine:
    orderLineNo: str | None
    orderSourceCode: str | None
    subSourceCode: str | None
    ownerCode: str | None
    itemCode: str
    itemId: str | None
    inventoryType: str | None
    itemName: str | None
    planQty: int | None
    actualQty: int
    batchCode: str | None
    productDate: date | None
    expireDate: date | None
    produceCode: str | None
    snList: tuple[str, ...]


@dataclass(frozen=True)
class DeliveryOrderConfirm:
    """A shipment confirmation. Attribute names mirror the XML, so there is one vocabulary from
    the SPEC to the integration store; ``document`` keeps everything that was sent."""

    deliveryOrderCode: str
    deliveryOrderId: str | None
    warehouseCode: str
    orderType: str
    status: str | None
    outBizCode: str | None
    confirmType: int | None
    orderConfirmTime: datetime | None
    operateTime: datetime | None
    operatorCode: str | None
    operatorName: str | None
    packages: tuple[Package, ...]
    orderLines: tuple[ConfirmLine, ...]
    document: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_final(self) -> bool:
        """``confirmType`` 0 (or absent) is the final confirmation; 1 is partial/intermediate."""
        return not self.confirmType


def _opt(data: Mapping, name: str) -> str | None:
    value = data.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _opt_int(data: Mapping, name: str) -> int | None:
    value = _opt(data, name)
    return int(value) if value is not None else None


def _opt_decimal(data: Mapping, name: str) -> Decimal | None:
    value = _opt(data, name)
    return Decimal(value) if value is not None else None


def _opt_datetime(data: Mapping, name: str) -> datetime | None:
    value = _opt(data, name)
    return parse_datetime(value) if value is not None else None


def _opt_date(data: Mapping, name: str) -> date | None:
    value = _opt(data, name)
    return parse_date(value) if value is not None else None


def parse_deliveryorder_confirm(body: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> DeliveryOrderConfirm:
    """A typed ``deliveryorder.confirm``; ``QimenValidationError`` with every fatal violation."""
    data = parse_request("deliveryorder.confirm", body, max_bytes=max_bytes)
    fatal = [v for v in validate("deliveryorder.confirm", data) if v.rule in INBOUND_FATAL_RULES]
    if fatal:
        raise QimenValidationError(fatal, request_body=_as_text(body))
    order = data["deliveryOrder"]
    packages = tuple(
        Package(
            logisticsCode=_opt(p, "logisticsCode") or "",
            logisticsName=_opt(p, "logisticsName"),
            expressCode=_opt(p, "expressCode"),
            packageCode=_opt(p, "packageCode"),
            weight=_opt_decimal(p, "weight"),
            items=tuple(
                PackageItem(_opt(i, "itemCode") or "", _opt(i, "itemId"), int(_opt(i, "quantity") or 0))
                for i in p.get("items") or ()
            ),
        )
        for p in data.get("packages") or ()
    )
    lines = tuple(
        ConfirmLine(
            orderLineNo=_opt(line, "orderLineNo"),
            orderSourceCode=_opt(line, "orderSourceCode"),
            subSourceCode=_opt(line, "subSourceCode"),
            ownerCode=_opt(line, "ownerCode"),
            itemCode=_opt(line, "itemCode") or "",
            itemId=_opt(line, "itemId"),
            inventoryType=_opt(line, "inventoryType"),
            itemName=_opt(line, "itemName"),
            planQty=_opt_int(line, "planQty"),
            actualQty=int(_opt(line, "actualQty") or 0),
            batchCode=_opt(line, "batchCode"),
            productDate=_opt_date(line, "productDate"),
            expireDate=_opt_date(line, "expireDate"),
            produceCode=_opt(line, "produceCode"),
            snList=tuple(sn.strip() for sn in line.get("snList") or () if isinstance(sn, str) and sn.strip()),
        )
        for line in data.get("orderLines") or ()
    )
    return DeliveryOrderConfirm(
        deliveryOrderCode=_opt(order, "deliveryOrderCode") or "",
        deliveryOrderId=_opt(order, "deliveryOrderId"),
        warehouseCode=_opt(order, "warehouseCode") or "",
        orderType=_opt(order, "orderType") or "",
        status=_opt(order, "status"),
        outBizCode=_opt(order, "outBizCode"),
        confirmType=_opt_int(order, "confirmType"),
        orderConfirmTime=_opt_datetime(order, "orderConfirmTime"),
        operateTime=_opt_datetime(order, "operateTime"),
        operatorCode=_opt(order, "operatorCode"),
        operatorName=_opt(order, "operatorName"),
        packages=packages,
        orderLines=lines,
        document=data,
    )


__all__ = [
    "DEFAULT_MAX_BYTES",
    "INBOUND_FATAL_RULES",
    "ConfirmLine",
    "DeliveryOrderConfirm",
    "Package",
    "PackageItem",
    "Response",
    "parse_deliveryorder_confirm",
    "parse_request",
    "parse_response",
    "parse_xml",
    "raise_for_failure",
]
