"""Content hashes that say "the warehouse already has exactly this".

The hash is taken over the XML body as built, which is already canonical: ``qimen.documents``
writes elements in the rules' order whatever the dict or column order, leaves empty values out and
formats every leaf one way. Elements that change on every send (``createTime``/``operateTime``) or
between the first and later sends (``actionType``, ``itemId``) are cut out first, so a resend or
an ``update`` of unchanged content hashes equal. Hashing the text costs a regex and a SHA-256,
a fraction of walking the document again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache

from qimen.rules import Field, document_fields


def content_hash(method: str, body: str, *, exclude: Iterable[str] = ()) -> str:
    """SHA-256 (hex) of ``body`` without the elements named in ``exclude``.

    ``exclude`` holds element names that occur once only in ``method``'s document (checked against
    ``qimen.rules``: not twice in the tree, not inside a list), so cutting by name cannot remove
    an element elsewhere.
    """
    names = tuple(sorted(exclude))
    pattern = _exclusion(method, names)
    text = body if pattern is None else _cut(body, names) or pattern.sub("", body)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _cut(body: str, names: tuple[str, ...]) -> str | None:
    """What ``_exclusion``'s pattern removes, by ``str.find`` for the usual shape (each element
    once, ``<name>text</name>``); None for any other shape, which the pattern handles."""
    for name in names:
        opening, closing = f"<{name}>", f"</{name}>"
        start = body.find(opening)
        if start < 0:
            if f"<{name}/>" in body:
                return None
            continue
        if body.find(f"<{name}") != start:  # another element of that name (or prefix) before it
            return None
        end = body.find("<", start + len(opening))
        if not body.startswith(closing, end) or body.find(f"<{name}", end + len(closing)) >= 0:
            return None
        body = body[:start] + body[end + len(closing):]
    return body


@lru_cache(maxsize=None)
def _exclusion(method: str, names: tuple[str, ...]) -> re.Pattern[str] | None:
    if not names:
        return None
    counts: dict[str, int] = {}
    _count_names(document_fields(method), counts)
    ambiguous = [n for n in names if counts.get(n, 0) != 1]
    if ambiguous:
        raise ValueError(f"{method}: {ambiguous} must name exactly one element each to be excluded by name")
    alternatives = "|".join(re.escape(n) for n in names)
    # <name>text</name> or <name/>; element text never holds '<' (lxml escapes it).
    return re.compile(rf"<({alternatives})(?:>[^<]*</\1>|/>)")


def _count_names(fields: Iterable[Field], counts: dict[str, int], *, repeated: bool = False) -> None:
    """How often each element name can occur; anything inside a list counts as many."""
    for f in fields:
        counts[f.name] = counts.get(f.name, 0) + (2 if repeated else 1)
        _count_names(f.children, counts, repeated=repeated or f.kind == "list")
