"""``qimen.rules`` compiled once per method into one fast check-and-render function.

The generic walkers in ``qimen.validation`` and ``qimen.documents`` interpret the rules table for
every record: they visit every field of the table (most of them absent), dispatch on its kind,
build a path string, and walk the document twice (validate, then build). That is the right code
for reporting every violation of a bad document, and far too slow for the 95 % that are fine.

``render(method, document)`` is the fast path for those: built from the SAME table at first use
(one closure per field, kind and limits resolved once), it walks the document once, checks each
present value with the rules and writes the XML text directly. It vouches only for what it fully
understands: for anything else (a violation, an unknown key, a value type outside the common ones,
``extendProps``) it returns ``None`` and the caller asks the generic walkers, which stay the
reference and report the violations. So, for every document:

* ``render(...)`` is not None  =>  ``validate(...) == []`` and the text equals
  ``build_document(...)`` byte for byte (lxml's escaping: ``& < >`` and CR as ``&#13;``);
* ``render(...)`` is None      =>  nothing is claimed; the generic path decides.

``tests/protocol/test_compiled.py`` checks both on the test documents and on generated ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from .rules import Field, document_fields
from .timeutil import format_date, format_datetime
from .validation import XML_ILLEGAL, FieldValueError, check_text, is_blank, leaf_text

XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'

# One search finds both "must not be sent" (XML-illegal) and "must be escaped" characters.
_SPECIAL = re.compile(  # XML_ILLEGAL's allowed set without & < > and CR
    "[^\u0009\u000a\u0020-\u0025\u0027-\u003b\u003d\u003f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_DATETIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")

Emit = Callable[[object, list], None]

#: Time texts that passed their kind's format check lately (the same createTime for a whole batch,
#: payTime = placeOrderTime) -> the text written; each field still checks its own length and enum.
_SEEN: dict[str, dict[str, str]] = {"datetime": {}, "date": {}}


class _Fallback(Exception):
    """Raised inside the compiled walk: the generic walkers must look at this document.

    Always raised as a NEW instance: re-raising one shared instance would chain every traceback
    onto it, and with them every frame and document ever rendered (a leak found at 200k orders).
    """


def render(method: str, document: object) -> str | None:
    """The ``<request>`` XML of a valid ``document``, exactly as ``build_document`` writes it, or
    None when the document is invalid or unusual (then use ``validate``/``build_document``)."""
    return compile_method(method)(document)


@lru_cache(maxsize=None)
def compile_method(method: str) -> Callable[[object], str | None]:
    """The compiled check-and-render function of ``method`` (cached: compiled once)."""
    emit_children = _compile_children(document_fields(method))

    def render_document(document: object) -> str | None:
        out: list[str] = []
        try:
            emit_children(document, out)
        except _Fallback:
            return None
        if not out:
            return XML_DECLARATION + "<request/>"
        return XML_DECLARATION + "<request>" + "".join(out) + "</request>"

    return render_document


# --- text -----------------------------------------------------------------------------------------


def _escape(text: str) -> str:
    """lxml's escaping of element text; raises when the text holds an XML-illegal character."""
    if XML_ILLEGAL.search(text):
        raise _Fallback
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _generic_text(f: Field, value: object) -> str | None:
    """The generic rules for one value: its text when valid (None when blank and optional)."""
    if is_blank(value):
        if f.required:
            raise _Fallback
        return None
    try:
        text = leaf_text(f, value)
    except FieldValueError:
        raise _Fallback from None
    if (f.required and not text.strip()) or check_text(f, text):
        raise _Fallback
    return text if text.strip() else None


# --- leaves: one specialised closure per field ------------------------------------------------------


def _compile_leaf(f: Field) -> Emit:
    """``emit(value, out)`` for a leaf field: the common value types checked inline, the rest by the
    generic ``leaf_text``/``check_text`` (the same functions the validator uses)."""
    open_tag, close_tag = f"<{f.name}>", f"</{f.name}>"
    max_len = f.max_len
    enum = frozenset(f.enum)
    required = f.required
    kind = f.kind

    def put(text: str, out: list) -> None:
        if _SPECIAL.search(text):
            text = _escape(text)
        out.append(open_tag + text + close_tag)

    def generic(value: object, out: list) -> None:
        text = _generic_text(f, value)
        if text is not None:
            put(text, out)

    if kind in ("str", "enum"):

        def emit(value: object, out: list) -> None:
            if type(value) is not str:
                return generic(value, out)
            if not value.strip():
                if required:
                    raise _Fallback
                return None
            if (max_len is not None and len(value) > max_len) or (enum and value not in enum):
                raise _Fallback
            return put(value, out)

    elif kind == "int":
        min_value = f.min_value

        def emit(value: object, out: list) -> None:
            if type(value) is not int:
                return generic(value, out)
            text = str(value)
            if ((min_value is not None and value < min_value) or (enum and text not in enum)
                    or (max_len is not None and len(text) > max_len)):
                raise _Fallback
            out.append(open_tag + text + close_tag)
            return None

    elif kind == "decimal":
        integer_limit = 18 - f.scale

        def emit(value: object, out: list) -> None:
            if type(value) is not Decimal:
                return generic(value, out)
            if not value.is_finite():
                raise _Fallback
            text = format(value, "f")
            _sign, digits, exponent = Decimal(text).as_tuple()
            if (max(0, -exponent) > f.scale or max(0, len(digits) + exponent) > integer_limit
                    or (max_len is not None and len(text) > max_len) or (enum and text not in enum)):
                raise _Fallback
            out.append(open_tag + text + close_tag)
            return None

    elif kind in ("datetime", "date"):
        pattern, build, fmt = (_DATETIME, datetime, format_datetime) if kind == "datetime" else (_DATE, date, format_date)
        native = datetime if kind == "datetime" else date
        seen = _SEEN[kind]  # text values of this kind accepted lately -> the text sent

        def emit(value: object, out: list) -> None:
            if type(value) is str:
                text = seen.get(value)  # the same time again (createTime = operateTime = now)
                if text is None:
                    text = value.strip()
                    match = pattern.fullmatch(text)
                    if match is None:  # other spellings strptime may still accept: the generic check
                        return generic(value, out)
                    try:
                        build(*map(int, match.groups()))
                    except ValueError:
                        return generic(value, out)
            elif type(value) is native:
                try:
                    text = fmt(value)
                except ValueError:
                    raise _Fallback from None
            else:
                return generic(value, out)
            if (max_len is not None and len(text) > max_len) or (enum and text not in enum):
                raise _Fallback
            if type(value) is str:
                if len(seen) >= 1024:
                    seen.clear()
                seen[value] = text
            out.append(open_tag + text + close_tag)
            return None

    elif kind == "yn":

        def emit(value: object, out: list) -> None:
            if value is True or value is False:
                text = "Y" if value else "N"
            elif type(value) is str and (value == "Y" or value == "N"):
                text = value
            else:
                return generic(value, out)
            if (max_len is not None and len(text) > max_len) or (enum and text not in enum):
                raise _Fallback
            out.append(open_tag + text + close_tag)
            return None

    else:  # pragma: no cover - every kind is handled above or by _compile_field
        raise ValueError(f"{f.name}: no compiled leaf for kind {kind!r}")
    return emit


# --- containers -------------------------------------------------------------------------------------


def _blank_container(f: Field, value: object) -> None:
    """A struct/list/map value that is not of the common type: blank is fine, the rest is generic."""
    if is_blank(value):
        if f.required:
            raise _Fallback
        return
    raise _Fallback


#: Shapes (key tuples) remembered per struct before falling back to the any-shape function: a
#: producer builds the same few shapes over and over; a stream of ever new ones must not grow memory.
MAX_SHAPES = 64


def _compile_children(fields: tuple[Field, ...]) -> Emit:
    """Emit the fields of one mapping in rules order; unknown keys and non-dicts fall back.

    A producer sends the same keys in the same order for every record (most of them ``None`` or
    absent out of the table's dozens of fields), so each new key tuple gets its own generated
    function: it unpacks the values once, looks only at the keys it was made for and writes them in
    rules order. Past :data:`MAX_SHAPES` shapes, one function that asks for every field takes over.
    """
    known = frozenset(f.name for f in fields)
    emitters = [_compile_field(f) for f in fields]
    any_shape = _generate(fields, emitters, None)
    by_shape: dict[tuple, Emit] = {}

    def emit_children(data: object, out: list) -> None:
        if type(data) is not dict:
            raise _Fallback
        shape = tuple(data)
        emit = by_shape.get(shape)
        if emit is None:
            if not known.issuperset(shape):
                raise _Fallback
            if len(by_shape) >= MAX_SHAPES:
                return any_shape(data, out)
            emit = by_shape[shape] = _generate(fields, emitters, shape)
        emit(data, out)

    return emit_children


def _generate(fields: tuple[Field, ...], emitters: list[Emit], shape: tuple | None) -> Emit:
    """One straight-line function for ``fields``: for the keys of ``shape`` (unpacked in their
    order, written in rules order) or, with ``shape`` None, for any dict of known keys.

    The rules' most common case, a valid text value, is accepted inline; every other value goes to
    its field's closure, which decides exactly as above.
    """
    names = {"F": _Fallback, "special": _SPECIAL.search, "known": frozenset(f.name for f in fields), "Decimal": Decimal,
             "seen_datetime": _SEEN["datetime"].get, "seen_date": _SEEN["date"].get}
    if shape is None:
        body = [
            "def emit_children(data, out):",
            "    if type(data) is not dict or not known.issuperset(data):",
            "        raise F",
            "    get = data.get",
            "    append = out.append",
        ]
        slot = {f.name: "v" for f in fields}
    else:
        slot = {name: f"v{i}" for i, name in enumerate(shape)}
        body = ["def emit_children(data, out):", "    append = out.append"]
        if len(shape) == 1:
            body.append(f"    {slot[shape[0]]}, = data.values()")
        elif shape:
            body.append(f"    {', '.join(slot[n] for n in shape)} = data.values()")
        if any(f.required and f.name not in slot for f in fields):
            body.append("    raise F")  # a required field is absent: the generic walkers say so
        texts = [slot[f.name] for f in fields if f.name in slot and f.kind in ("str", "enum")]
        if len(texts) > 1:
            # One search over all text values instead of one per value; str() of a value that is no
            # text only adds characters, so "clean" can err only towards checking each value alone.
            body += ["    try:",
                     f"        clean = special({' + '.join(f'str({v})' for v in texts)}) is None",
                     "    except Exception:",
                     "        clean = False"]
    for i, f in enumerate(fields):
        if f.name not in slot:
            continue
        v = slot[f.name]
        names[f"e{i}"] = emitters[i]
        if shape is None:
            body.append(f"    v = get({f.name!r})")
        body += [f"    if {v} is None:", "        raise F" if f.required else "        pass"]
        if f.kind in ("str", "enum"):
            tests = [f"type({v}) is str"]
            if f.max_len is not None:
                tests.append(f"len({v}) <= {f.max_len}")
            if f.enum:
                names[f"enum{i}"] = frozenset(f.enum)
                tests.append(f"{v} in enum{i}")
            clean = "clean" if shape is not None and len(texts) > 1 else "False"
            tests += [f"({clean} or special({v}) is None)", f"{v}.strip()"]
            body += [f"    elif {' and '.join(tests)}:", f"        append({f'<{f.name}>'!r} + {v} + {f'</{f.name}>'!r})"]
        elif f.kind == "int" and not f.enum and f.max_len is None:
            low = "" if f.min_value is None else f" and {v} >= {int(f.min_value)}"
            body += [f"    elif type({v}) is int{low}:", f"        append({f'<{f.name}>'!r} + str({v}) + {f'</{f.name}>'!r})"]
        elif f.kind in ("datetime", "date") and not f.enum:
            # a text this kind accepted before (the closure stores it only after its full check)
            fits = "" if f.max_len is None else f" and len(text) <= {f.max_len}"
            body += [f"    elif type({v}) is str and (text := seen_{f.kind}({v})) is not None{fits}:",
                     f"        append({f'<{f.name}>'!r} + text + {f'</{f.name}>'!r})"]
        elif f.kind == "decimal" and not f.enum and f.max_len is None:
            # exponent in [-scale, 0]: format "f" writes exactly the places check_text counts
            # (Decimal(text) has -places as its exponent), and |v| < 10 ** (18 - scale) is "at most
            # 18 - scale integer digits"
            names[f"limit{i}"] = Decimal(10) ** (18 - f.scale)
            body += [f"    elif type({v}) is Decimal and {v}.is_finite() and -limit{i} < {v} < limit{i} and"
                     f" ((dot := (text := format({v}, 'f')).find('.')) < 0 or len(text) - dot - 1 <= {f.scale}):",
                     f"        append({f'<{f.name}>'!r} + text + {f'</{f.name}>'!r})"]
        body += ["    else:", f"        e{i}({v}, out)"]
    label = "/".join(f.name for f in fields[:2]) + ("..." if shape is None else f"... {len(shape)} keys")
    exec(compile("\n".join(body), f"<qimen.compiled {label}>", "exec"), names)
    return names["emit_children"]


def _compile_field(f: Field) -> Emit:
    if f.kind == "struct":
        return _compile_struct(f)
    if f.kind == "list":
        return _compile_list(f)
    if f.kind == "map":
        def emit_map(value: object, out: list) -> None:
            if type(value) is dict and not value:  # empty: valid, and left out
                return None
            return _blank_container(f, value)  # extendProps with content: the generic walkers

        return emit_map
    return _compile_leaf(f)


def _compile_struct(f: Field) -> Emit:
    open_tag, close_tag = f"<{f.name}>", f"</{f.name}>"
    emit_children = _compile_children(f.children)

    def emit_struct(value: object, out: list) -> None:
        if type(value) is not dict:
            return _blank_container(f, value)
        start = len(out)
        emit_children(value, out)
        if len(out) > start:  # an empty struct is left out, as lxml's builder does
            out.insert(start, open_tag)
            out.append(close_tag)
        return None

    return emit_struct


def _compile_list(f: Field) -> Emit:
    open_tag, close_tag = f"<{f.name}>", f"</{f.name}>"
    item_open, item_close, item_empty = f"<{f.item_tag}>", f"</{f.item_tag}>", f"<{f.item_tag}/>"
    min_items = f.min_items
    if f.children:
        emit_fields = _compile_children(f.children)

        def emit_item(item: object, out: list) -> None:
            start = len(out)
            emit_fields(item, out)
            if len(out) > start:
                out.insert(start, item_open)
                out.append(item_close)
            else:  # every item of a list of structs is written, even an empty one
                out.append(item_empty)
    else:
        emit_item = _compile_leaf(Field(f.item_tag or ""))  # plain text items; blank ones are skipped

    def emit_list(value: object, out: list) -> None:
        if type(value) is not list and type(value) is not tuple:
            return _blank_container(f, value)
        if len(value) < min_items:
            raise _Fallback
        start = len(out)
        for item in value:
            emit_item(item, out)
        if len(out) > start:
            out.insert(start, open_tag)
            out.append(close_tag)
        return None

    return emit_list


__all__ = ["compile_method", "render"]
