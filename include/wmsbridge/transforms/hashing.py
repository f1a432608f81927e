"""Content hashes that say "the warehouse already has exactly this".

The hash covers the business content of a document as sent, in a canonical form (keys sorted,
``None``/``""`` dropped like the XML drops them, every leaf as its text), so it does not depend on
the column order of the extract, on dict insertion order, or on fields that change on every send
(``createTime``/``operateTime``) or between the first and later sends (``actionType``, ``itemId``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from datetime import date, datetime
from decimal import Decimal

from qimen.timeutil import format_date, format_datetime


def content_hash(document: Mapping, *, exclude: Collection[str] = ()) -> str:
    """SHA-256 (hex) of ``document`` without the dotted paths in ``exclude``."""
    canonical = _canonical(document, frozenset(exclude), "")
    text = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value: object, exclude: frozenset[str], path: str) -> object:
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if child in exclude:
                continue
            canonical = _canonical(item, exclude, child)
            if canonical is not None:
                out[str(key)] = canonical
        return out or None
    if isinstance(value, (list, tuple)):
        return [_canonical(item, exclude, path) for item in value]
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
