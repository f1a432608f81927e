"""Check a document against ``qimen.rules`` before it leaves (or after it arrives).

``validate`` returns EVERY violation, each with the path of the offending element, so one failed
order tells the operator everything that is wrong with it instead of one thing per retry. Unknown
element names are violations too: the warehouse silently drops a typo'd field.

``leaf_text`` is the one place that turns a Python value into the text sent for a field; the
builder uses it too, so what is validated is exactly what is sent.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from .rules import Field, document_fields
from .timeutil import DATE_FORMAT, DATETIME_FORMAT, format_date, format_datetime

# XML 1.0 Char production: everything else (most C0 controls, lone surrogates, U+FFFE/U+FFFF)
# cannot be written at all, not even as a character reference.
XML_ILLEGAL = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INT = re.compile(r"[+-]?\d+")
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


@dataclass(frozen=True)
class Violation:
    """``path`` like ``orderLines[2].planQty``; ``rule`` a short machine name (``required``,
    ``max_len``, ``enum``, ``int``, ``min_value``, ``decimal``, ``scale``, ``datetime``, ``date``,
    ``yn``, ``type``, ``min_items``, ``unknown``, ``xml_char``, ``name``)."""

    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class FieldValueError(ValueError):
    """A value that cannot be sent for a field; ``rule`` as in ``Violation``."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


# pandas' missing-value markers (checked by type name: qimen does not depend on pandas). NaT is a
# datetime subclass and would otherwise fail deep inside formatting.
_MISSING_TYPES = frozenset({"NAType", "NaTType"})


def is_blank(value: object) -> bool:
    """``None``, ``""``, whitespace-only text and pandas ``NA``/``NaT`` count as absent (left out,
    fail ``required``)."""
    if value is None or type(value).__name__ in _MISSING_TYPES:
        return True
    return isinstance(value, str) and not value.strip()


def _int_message(field: Field) -> str:
    if field.min_value == 1:
        return "must be a positive integer"
    if field.min_value == 0:
        return "must be a non-negative integer"
    return "must be an integer"


def _is_integral(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def leaf_text(field: Field, value: object) -> str:
    """The exact text sent for ``value`` in ``field`` (typed values in canonical form).

    Raises ``FieldValueError`` for a value of the wrong type or format. Length, enum and XML
    character checks are separate (``check_text``) because the builder may skip them.
    """
    kind = field.kind
    if isinstance(value, (Mapping, list, tuple)):
        raise FieldValueError("type", "must be a single value")
    if kind == "int":
        if _is_integral(value):
            return str(int(value))
        if isinstance(value, str) and _INT.fullmatch(value.strip()):
            return str(int(value.strip()))
        if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            return str(int(value))
        raise FieldValueError("int", _int_message(field))
    if kind == "decimal":
        if isinstance(value, float):
            raise FieldValueError("decimal", "must be a Decimal, int or text, not float (binary floats lose cents)")
        if _is_integral(value):
            number = Decimal(int(value))
        elif isinstance(value, (Decimal, str)):
            try:
                number = Decimal(value.strip() if isinstance(value, str) else value)
            except InvalidOperation:
                raise FieldValueError("decimal", "must be a decimal number") from None
        else:
            raise FieldValueError("decimal", "must be a decimal number")
        if not number.is_finite():
            raise FieldValueError("decimal", "must be a finite decimal number")
        return format(number, "f")
    if kind == "datetime":
        if isinstance(value, datetime):
            try:
                return format_datetime(value)
            except ValueError:
                raise FieldValueError("datetime", "naive datetime: attach its time zone") from None
        if isinstance(value, str):
            try:
                datetime.strptime(value.strip(), DATETIME_FORMAT)
            except ValueError:
                raise FieldValueError("datetime", "must be yyyy-MM-dd HH:mm:ss") from None
            return value.strip()
        raise FieldValueError("datetime", "must be an aware datetime or yyyy-MM-dd HH:mm:ss text")
    if kind == "date":
        if isinstance(value, date):
            try:
                return format_date(value)
            except ValueError:
                raise FieldValueError("date", "naive datetime: attach its time zone") from None
        if isinstance(value, str):
            try:
                datetime.strptime(value.strip(), DATE_FORMAT)
            except ValueError:
                raise FieldValueError("date", "must be yyyy-MM-dd") from None
            return value.strip()
        raise FieldValueError("date", "must be a date or yyyy-MM-dd text")
    if kind == "yn":
        if isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b":  # numpy bool
            return "Y" if value else "N"
        if value in ("Y", "N"):
            return value
        raise FieldValueError("yn", "must be Y or N")
    # str, enum, map values and unknown leaves: text; integers and Decimals are fine as codes.
    if isinstance(value, str):
        return value
    if _is_integral(value):
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    raise FieldValueError("type", f"must be text, not {type(value).__name__}")


def check_text(field: Field, text: str) -> list[tuple[str, str]]:
    """(rule, message) for every length, enum, scale and XML-character rule ``text`` breaks."""
    problems: list[tuple[str, str]] = []
    bad = XML_ILLEGAL.search(text)
    if bad:
        problems.append(("xml_char", f"contains a character not allowed in XML (U+{ord(bad.group()):04X})"))
    if field.max_len is not None and len(text) > field.max_len:
        problems.append(("max_len", f"longer than {field.max_len} characters ({len(text)})"))
    if field.enum and text not in field.enum:
        problems.append(("enum", f"must be one of {', '.join(field.enum)} (got {text!r})"))
    if field.kind == "int" and field.min_value is not None and int(text) < field.min_value:
        problems.append(("min_value", _int_message(field)))
    if field.kind == "decimal" and field.scale is not None:
        sign, digits, exponent = Decimal(text).as_tuple()
        places = max(0, -int(exponent))
        if places > field.scale:
            problems.append(("scale", f"at most {field.scale} decimal places ({text})"))
        integer_digits = max(0, len(digits) + int(exponent))
        if integer_digits > 18 - field.scale:
            problems.append(("decimal", f"more than {18 - field.scale} digits before the decimal point"))
    return problems


def validate(method: str, document: Mapping) -> list[Violation]:
    """Every violation of the rules for ``method`` (short or long name) in ``document``."""
    fields = document_fields(method)
    if not isinstance(document, Mapping):
        return [Violation("", "type", "document must be a mapping")]
    out: list[Violation] = []
    _check_struct(fields, document, "", out)
    return out


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _check_struct(fields: tuple[Field, ...], data: Mapping, prefix: str, out: list[Violation]) -> None:
    known = {f.name for f in fields}
    for f in fields:
        _check_field(f, data.get(f.name), _join(prefix, f.name), out)
    for key in data:
        if key not in known:
            out.append(Violation(_join(prefix, str(key)), "unknown", "unknown field"))


def _check_field(f: Field, value: object, path: str, out: list[Violation]) -> None:
    if is_blank(value):
        if f.required:
            out.append(Violation(path, "required", "required"))
        return
    if f.kind == "struct":
        if not isinstance(value, Mapping):
            out.append(Violation(path, "type", "must be a mapping of fields"))
        else:
            _check_struct(f.children, value, path, out)
    elif f.kind == "list":
        _check_list(f, value, path, out)
    elif f.kind == "map":
        if not isinstance(value, Mapping):
            out.append(Violation(path, "type", "must be a mapping of names to values"))
            return
        for key, item in value.items():
            item_path = _join(path, str(key))
            if not isinstance(key, str) or not _XML_NAME.fullmatch(key) or key.lower().startswith("xml"):
                out.append(Violation(item_path, "name", "not a valid XML element name"))
            if not is_blank(item):
                _check_leaf(Field(str(key)), item, item_path, out)
    else:
        _check_leaf(f, value, path, out)


def _check_list(f: Field, value: object, path: str, out: list[Violation]) -> None:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        out.append(Violation(path, "type", f"must be a list of {f.item_tag}"))
        return
    if len(value) < f.min_items:
        out.append(Violation(path, "min_items", f"needs at least {f.min_items} {f.item_tag}"))
    for i, item in enumerate(value):
        item_path = f"{path}[{i}]"
        if f.children:
            if not isinstance(item, Mapping):
                out.append(Violation(item_path, "type", f"each {f.item_tag} must be a mapping of fields"))
            else:
                _check_struct(f.children, item, item_path, out)
        elif not is_blank(item):
            _check_leaf(Field(f.item_tag or ""), item, item_path, out)


def _check_leaf(f: Field, value: object, path: str, out: list[Violation]) -> None:
    try:
        text = leaf_text(f, value)
    except FieldValueError as exc:
        out.append(Violation(path, exc.rule, exc.message))
        return
    if f.required and not text.strip():
        out.append(Violation(path, "required", "required"))
        return
    out.extend(Violation(path, rule, message) for rule, message in check_text(f, text))
