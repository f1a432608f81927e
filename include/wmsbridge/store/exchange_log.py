"""wms_exchange_log: every exchange with the warehouse (requests and callbacks), scrubbed of secrets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa

from .base import LOOKUP_CHUNK, MESSAGE_MAX, Repository, _clip, batches, run_columns
from .schema import ERROR_CODE, exchange_log
from .scrub import scrub_text, scrub_url
from .states import EXCHANGE_DIRECTIONS, EXCHANGE_OUTCOMES


@dataclass(frozen=True)
class Inbound:
    """One callback as the receiver saw it, for wms_exchange_log (the URL without its token)."""

    method: str
    url: str | None
    body: str | None
    answer: str
    http_status: int
    outcome: str  # success, duplicate, refused ... (states.EXCHANGE_OUTCOMES)
    business_key: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    duration_ms: int | None = None
    duplicate_answer: str | None = None  # what was answered instead when the message was a duplicate


class ExchangeLog(Repository):
    """Append-only log of requests and callbacks."""

    def inbound_row(self, inbound: Inbound, *, business_key: str | None = None, duplicate: bool = False) -> dict:
        """The row of one callback (``duplicate``: a repeat, logged with what was answered to it),
        for a caller that writes it in the transaction that stores the callback."""
        if duplicate:
            inbound = replace(inbound, outcome="duplicate", answer=inbound.duplicate_answer or inbound.answer)
        return self.row(
            direction="inbound", method=inbound.method, outcome=inbound.outcome,
            business_key=business_key or inbound.business_key, request_body=inbound.body,
            response_body=inbound.answer, http_status=inbound.http_status, error_code=inbound.error_code,
            error_message=inbound.error_message, duration_ms=inbound.duration_ms, url=inbound.url,
        )

    def log_inbound(self, inbound: Inbound, *, business_key: str | None = None, duplicate: bool = False) -> int:
        """Append one callback (refused ones and repeats too); returns its id."""
        with self.engine.begin() as conn:
            return conn.execute(sa.insert(exchange_log).values(
                **self.inbound_row(inbound, business_key=business_key, duplicate=duplicate))).inserted_primary_key[0]

    def log(self, **fields) -> int:
        """Append one exchange with the warehouse (``fields``: those of ``row``); returns its id."""
        with self.engine.begin() as conn:
            return conn.execute(sa.insert(exchange_log).values(**self.row(**fields))).inserted_primary_key[0]

    def row(
        self,
        *,
        direction: str,
        method: str,
        outcome: str,
        business_key: str | None = None,
        request_body: str | None = None,
        response_body: str | None = None,
        http_status: int | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        duration_ms: int | None = None,
        run_id: str | None = None,
        url: str | None = None,
        logged_at: datetime | None = None,
    ) -> dict:
        """One wms_exchange_log row, checked and scrubbed: ``url`` loses its ``sign`` and any secret
        parameter; bodies and messages are scrubbed of ``sign=``/``secret=`` values. For
        ``log``, and for a caller that writes it in a transaction of its own (a callback
        stored together with its exchange)."""
        if direction not in EXCHANGE_DIRECTIONS:
            raise ValueError(f"direction must be one of {EXCHANGE_DIRECTIONS}, not {direction!r}")
        if outcome not in EXCHANGE_OUTCOMES:
            raise ValueError(f"outcome must be one of {EXCHANGE_OUTCOMES}, not {outcome!r}")
        return {
            "bridge_id": self.bridge_id,
            "logged_at": logged_at or self.clock(),
            "direction": direction,
            "method": method,
            "business_key": business_key,
            "request_url": scrub_text(scrub_url(url)),
            "request_body": scrub_text(request_body),
            "response_body": scrub_text(response_body),
            "http_status": http_status,
            "outcome": outcome,
            "error_code": _clip(error_code, ERROR_CODE),
            "error_message": _clip(scrub_text(error_message), MESSAGE_MAX),
            "duration_ms": None if duration_ms is None else int(duration_ms),
            **run_columns(run_id),
        }

    def last_outcomes(self, method: str, business_keys: Iterable[str]) -> dict[str, str]:
        """The outcome of the last request ``method`` logged for each of ``business_keys``: whether
        the last attempt got an answer (``business_failure``: the warehouse holds nothing) or none
        (``transport_error`` ...: it may hold what was sent)."""
        t = exchange_log.c
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in batches(list(dict.fromkeys(business_keys)), LOOKUP_CHUNK):
                last = (sa.select(t.business_key, sa.func.max(t.id).label("id"))
                        .where(self._mine(exchange_log), t.direction == "outbound", t.method == method,
                               t.business_key.in_(chunk)).group_by(t.business_key).subquery())
                for key, outcome in conn.execute(sa.select(t.business_key, t.outcome).join(last, last.c.id == t.id)):
                    found[key] = outcome
        return found
