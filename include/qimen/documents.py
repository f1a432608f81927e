"""Build the XML the warehouse reads (and, for the simulator, what the warehouse writes).

Elements come out in SPEC order whatever the dict order, because some WMS parsers are
order-sensitive; empty values are left out rather than sent as empty elements, so "not known" never
overwrites what the warehouse already has. lxml does the escaping (``&``, ``<``, emoji are fine).
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from .compiled import render
from .errors import QimenValidationError
from .rules import RESPONSE_HEAD, Field, document_fields, response_fields
from .validation import XML_ILLEGAL, FieldValueError, Violation, is_blank, leaf_text
from .validation import validate as validate_document

XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
_GENERIC = Field("value")


def build_document(method: str, document: Mapping, *, validate: bool = True) -> str:
    """``<request>`` XML for ``method`` (short or long name) from document data.

    With ``validate`` (the default) any rule violation raises ``QimenValidationError`` listing all
    of them. ``validate=False`` is for deliberately odd documents (simulator, tests): unknown keys
    are then emitted after the known ones, malformed text goes out as given and XML-illegal
    characters are stripped, but a value that has no text at all (a naive datetime, a float
    amount) still raises.
    """
    body = render(method, document)  # qimen.compiled: the same text for every valid document
    if body is not None:
        return body
    if validate:
        violations = validate_document(method, document)
        if violations:
            raise QimenValidationError(violations)
    return build_generic(method, document)


def build_generic(method: str, document: Mapping) -> str:
    """``build_document(..., validate=False)`` by the generic rules walker alone: the reference the
    compiled renderer (``qimen.compiled``) is tested against, and the path for odd documents."""
    root = etree.Element("request")
    _emit_struct(root, document_fields(method), document, "")
    return _serialize(root)


def build_deliveryorder_confirm(document: Mapping, *, validate: bool = True) -> str:
    """The warehouse's shipment confirmation (what the simulator posts to our callback)."""
    return build_document("deliveryorder.confirm", document, validate=validate)


def build_response(
    flag: str = "success",
    code: str = "0",
    message: str = "",
    fields: Mapping | None = None,
    method: str | None = None,
) -> str:
    """``<response>`` with flag/code/message, then ``fields`` (in the method's order when given)."""
    root = etree.Element("response")
    head = {"flag": flag, "code": code, "message": message}
    for f in RESPONSE_HEAD:
        etree.SubElement(root, f.name).text = _clean(leaf_text(f, head[f.name] if head[f.name] is not None else ""))
    if fields:
        known = response_fields(method) if method else ()
        _emit_struct(root, known, fields, "")
    return _serialize(root)


def build_error_response(
    code: str = "50",
    msg: str = "Remote service error",
    sub_code: str | None = None,
    sub_msg: str | None = None,
) -> str:
    """A gateway ``<error_response>`` (the simulator uses it to play a failing gateway)."""
    root = etree.Element("error_response")
    for name, value in (("code", code), ("msg", msg), ("sub_code", sub_code), ("sub_msg", sub_msg)):
        if not is_blank(value):
            etree.SubElement(root, name).text = _clean(str(value))
    return _serialize(root)


def build_callback_answer(success: bool, code: str = "0", message: str = "") -> str:
    """Our answer to the warehouse's ``deliveryorder.confirm`` post."""
    return build_response("success" if success else "failure", code, message)


# --- internals ---------------------------------------------------------------------------------


def _serialize(root: etree._Element) -> str:
    return XML_DECLARATION + etree.tostring(root, encoding="unicode")


def _clean(text: str) -> str:
    return XML_ILLEGAL.sub("", text)


def _leaf(parent: etree._Element, f: Field, value: object, path: str) -> None:
    try:
        text = leaf_text(f, value)
    except FieldValueError as exc:
        # Only reachable unvalidated: text goes out as given, other values have no text at all.
        if not isinstance(value, str):
            raise QimenValidationError([Violation(path, exc.rule, exc.message)]) from None
        text = value
    text = _clean(text)
    if text.strip():
        etree.SubElement(parent, f.name).text = text


def _emit_struct(parent: etree._Element, fields: tuple[Field, ...], data: Mapping, path: str) -> None:
    if not isinstance(data, Mapping):
        raise QimenValidationError([Violation(path, "type", "must be a mapping of fields")])
    known = set()
    for f in fields:
        known.add(f.name)
        _emit(parent, f, data.get(f.name), f"{path}.{f.name}" if path else f.name)
    for key, value in data.items():  # only reachable unvalidated: emitted as found
        if key not in known:
            _emit_unknown(parent, str(key), value, f"{path}.{key}" if path else str(key))


def _emit(parent: etree._Element, f: Field, value: object, path: str) -> None:
    if is_blank(value):
        return
    if f.kind == "struct":
        el = etree.Element(f.name)
        _emit_struct(el, f.children, value, path)
        if len(el):
            parent.append(el)
    elif f.kind == "list":
        if not isinstance(value, (list, tuple)):
            raise QimenValidationError([Violation(path, "type", f"must be a list of {f.item_tag}")])
        wrapper = etree.Element(f.name)
        for i, item in enumerate(value):
            item_path = f"{path}[{i}]"
            if f.children:
                el = etree.SubElement(wrapper, f.item_tag)
                _emit_struct(el, f.children, item, item_path)
            elif not is_blank(item):
                _leaf(wrapper, Field(f.item_tag), item, item_path)
        if len(wrapper):
            parent.append(wrapper)
    elif f.kind == "map":
        if not isinstance(value, Mapping):
            raise QimenValidationError([Violation(path, "type", "must be a mapping of names to values")])
        el = etree.Element(f.name)
        for key, item in value.items():
            if not is_blank(item):
                _leaf(el, Field(str(key)), item, f"{path}.{key}")
        if len(el):
            parent.append(el)
    else:
        _leaf(parent, f, value, path)


def _emit_unknown(parent: etree._Element, name: str, value: object, path: str) -> None:
    if is_blank(value):
        return
    if isinstance(value, Mapping):
        el = etree.SubElement(parent, name)
        _emit_struct(el, (), value, path)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _emit_unknown(parent, name, item, f"{path}[{i}]")
    else:
        _leaf(parent, Field(name), value, path)
