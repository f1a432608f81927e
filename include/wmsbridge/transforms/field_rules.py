"""Look-ups into ``qimen.rules``, the one table of Qimen field rules.

Transforms never repeat a length or an enumeration: they ask here by the same dotted path that
``qimen.validation`` reports (``deliveryOrder.receiverInfo.mobile``; list positions are ignored,
so ``orderLines.itemName`` and ``orderLines[3].itemName`` are the same rule).
"""

from __future__ import annotations

import re
from functools import lru_cache

from qimen.rules import Field, document_fields

_INDEX = re.compile(r"\[\d*\]")


@lru_cache(maxsize=None)
def field(method: str, path: str) -> Field:
    """The rule for ``path`` in the request document of ``method``; KeyError if the table has none."""
    first, *rest = _INDEX.sub("", path).split(".")
    node = next((f for f in document_fields(method) if f.name == first), None)
    for name in rest:
        node = node.child(name) if node is not None else None
    if node is None:
        raise KeyError(f"{method}: no field {path!r} in qimen.rules")
    return node


def max_len(method: str, path: str) -> int | None:
    """The longest text ``path`` may carry, in characters (None: no limit)."""
    return field(method, path).max_len
