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
from .timeutil import BEIJING
from .validation import Violation

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

# Strict in what we send, lenient in what we receive: a confirmation is refused only when it does
# not say which order it is about. Odd values elsewhere (an empty element, ``1.2kg``, ``2.0000``, a
# Java time ``2020-09-26 13:53:08.0``, an unknown element) are read as well as they can be and
# noted; losing a tracking number is worse than ignoring a weight.
INBOUND_FATAL_RULES = frozenset({"required"})
INBOUND_REQUIRED = ("deliveryOrder.deliveryOrderCode",)


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
    the SPEC to the integration store; ``document`` keeps everything that was sent and ``notes``
    every value that had to be read leniently (or was ignored)."""

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
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_final(self) -> bool:
        """``confirmType`` 0 (or absent) is the final confirmation; 1 is partial/intermediate."""
        return not self.confirmType

    @property
    def tracking_numbers(self) -> tuple[str, ...]:
        """Every package's ``expressCode``, in package order, without repeats."""
        return tuple(dict.fromkeys(p.expressCode for p in self.packages if p.expressCode))


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")
# A time outside these years is a placeholder (0001-01-01, 9999-12-31 23:59:59), not a moment: read
# as missing, with a note, so it never reaches a store column or a shop (where it may not fit).
_EARLIEST_YEAR, _LATEST_YEAR = 1900, 2200


class _Reader:
    """Reads leaves leniently and remembers what it had to bend."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    @staticmethod
    def text(data, name: str) -> str | None:
        value = data.get(name) if isinstance(data, Mapping) else None
        if isinstance(value, list):  # repeated where one is expected: the first one counts
            value = next((v for v in value if isinstance(v, str)), None)
        if not isinstance(value, str):
            return None
        return value.strip() or None

    def number(self, data, name: str, where: str) -> Decimal | None:
        value = self.text(data, name)
        if value is None:
            return None
        match = _NUMBER.search(value)
        if match is None:
            self.notes.append(f"{where}.{name}: {value!r} is not a number, ignored")
            return None
        if match.group(0) != value:
            self.notes.append(f"{where}.{name}: {value!r} read as {match.group(0)}")
        return Decimal(match.group(0))

    def integer(self, data, name: str, where: str) -> int | None:
        value = self.number(data, name, where)
        if value is None:
            return None
        if value != value.to_integral_value():
            self.notes.append(f"{where}.{name}: {value} is not whole, read as {int(value)}")
        return int(value)

    def when(self, data, name: str, where: str) -> datetime | None:
        value = self.text(data, name)
        if value is None:
            return None
        candidate = value.split(".")[0] if re.fullmatch(r".+\.\d{1,9}", value) else value  # Java's ".0"
        parsed = None
        for fmt in _DATETIME_FORMATS:
            try:
                parsed = datetime.strptime(candidate, fmt).replace(tzinfo=BEIJING)
                break
            except ValueError:
                continue
        if parsed is None:
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                self.notes.append(f"{where}.{name}: {value!r} is not a time, ignored")
                return None
            parsed = parsed.replace(tzinfo=BEIJING) if parsed.tzinfo is None else parsed
        if not _EARLIEST_YEAR <= parsed.year <= _LATEST_YEAR:  # 0001-01-01, 9999-12-31: placeholders
            self.notes.append(f"{where}.{name}: {value!r} is out of range, ignored")
            return None
        return parsed

    def day(self, data, name: str, where: str) -> date | None:
        value = self.text(data, name)
        if value is None:
            return None
        for fmt in _DATE_FORMATS:
            try:
                found = datetime.strptime(value[:10] if fmt == "%Y-%m-%d" else value, fmt).date()
            except ValueError:
                continue
            if found.year < _EARLIEST_YEAR:  # 0001-01-01 is "unset"; 9999-12-31 "never expires" is kept
                self.notes.append(f"{where}.{name}: {value!r} is out of range, ignored")
                return None
            return found
        self.notes.append(f"{where}.{name}: {value!r} is not a date, ignored")
        return None


def _dicts(value) -> list[Mapping]:
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def parse_deliveryorder_confirm(body: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> DeliveryOrderConfirm:
    """A typed ``deliveryorder.confirm``, read leniently (see ``INBOUND_FATAL_RULES``).

    ``QimenProtocolError`` for a body that is not safe, well-formed XML with a ``<request>`` root;
    ``QimenValidationError`` only when ``deliveryOrderCode`` is missing.
    """
    data = parse_request("deliveryorder.confirm", body, max_bytes=max_bytes)
    order = next(iter(_dicts(data.get("deliveryOrder"))), {})
    read = _Reader()
    code = read.text(order, "deliveryOrderCode")
    if code is None:
        raise QimenValidationError(
            [Violation("deliveryOrder.deliveryOrderCode", "required", "required")], request_body=_as_text(body)
        )
    packages = []
    for n, p in enumerate(_dicts(data.get("packages"))):
        where = f"packages[{n}]"
        items = tuple(
            PackageItem(read.text(i, "itemCode") or "", read.text(i, "itemId"),
                        read.integer(i, "quantity", f"{where}.items[{m}]") or 0)
            for m, i in enumerate(_dicts(p.get("items")))
        )
        packages.append(Package(
            logisticsCode=read.text(p, "logisticsCode") or "",
            logisticsName=read.text(p, "logisticsName"),
            expressCode=read.text(p, "expressCode"),
            packageCode=read.text(p, "packageCode"),
            weight=read.number(p, "weight", where),
            items=items,
        ))
    lines = []
    for n, line in enumerate(_dicts(data.get("orderLines"))):
        where = f"orderLines[{n}]"
        sn_list = line.get("snList")
        lines.append(ConfirmLine(
            orderLineNo=read.text(line, "orderLineNo"),
            orderSourceCode=read.text(line, "orderSourceCode"),
            subSourceCode=read.text(line, "subSourceCode"),
            ownerCode=read.text(line, "ownerCode"),
            itemCode=read.text(line, "itemCode") or "",
            itemId=read.text(line, "itemId"),
            inventoryType=read.text(line, "inventoryType"),
            itemName=read.text(line, "itemName"),
            planQty=read.integer(line, "planQty", where),
            actualQty=read.integer(line, "actualQty", where) or 0,
            batchCode=read.text(line, "batchCode"),
            productDate=read.day(line, "productDate", where),
            expireDate=read.day(line, "expireDate", where),
            produceCode=read.text(line, "produceCode"),
            snList=tuple(sn.strip() for sn in (sn_list if isinstance(sn_list, list) else ())
                         if isinstance(sn, str) and sn.strip()),
        ))
    return DeliveryOrderConfirm(
        deliveryOrderCode=code,
        deliveryOrderId=read.text(order, "deliveryOrderId"),
        warehouseCode=read.text(order, "warehouseCode") or "",
        orderType=read.text(order, "orderType") or "",
        status=(read.text(order, "status") or "").upper() or None,
        outBizCode=read.text(order, "outBizCode"),
        confirmType=read.integer(order, "confirmType", "deliveryOrder"),
        orderConfirmTime=read.when(order, "orderConfirmTime", "deliveryOrder"),
        operateTime=read.when(order, "operateTime", "deliveryOrder"),
        operatorCode=read.text(order, "operatorCode"),
        operatorName=read.text(order, "operatorName"),
        packages=tuple(packages),
        orderLines=tuple(lines),
        document=data,
        notes=tuple(read.notes),
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
