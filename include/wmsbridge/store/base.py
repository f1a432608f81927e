"""What every part of the store shares: its refusals, size limits and small value helpers.

Kept apart from repo.py so the per-flow modules (order_claims, cursors, ...) can use them without
importing the repository they are mixed into.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .types import UtcDateTime

MESSAGE_MAX = 4000  # error messages are for people; the full answer is in wms_exchange_log
REASON_MAX = 500
LOOKUP_CHUNK = 1000  # codes per IN (...) list
INSERT_CHUNK = 5000  # rows per transaction in bulk registration
DEFAULT_STALE_SENDING = timedelta(minutes=30)
CONFLICT_RETRIES = 5


class StoreError(Exception):
    """Base class of the store's refusals."""


class UnknownOrder(StoreError, LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"order {code!r} is not in wms_order_sync")
        self.code = code


class InvalidTransition(StoreError):
    def __init__(self, code: str, current: str, target: str) -> None:
        super().__init__(f"order {code!r}: {current} -> {target} is not allowed")
        self.code, self.current, self.target = code, current, target


def _clip(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


def _violations_json(violations: Iterable[Any]) -> str:
    """Violations as a JSON array of strings (``str(qimen.validation.Violation)`` or plain text)."""
    return json.dumps([str(v) for v in violations], ensure_ascii=False)


def _utc(now: datetime) -> sa.BindParameter:
    """``now`` as a bound value with the store's UTC type, for use inside SQL expressions."""
    return sa.literal(now, UtcDateTime())


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _run(run_id: str | None) -> dict[str, Any]:
    return {"run_id": run_id} if run_id is not None else {}
