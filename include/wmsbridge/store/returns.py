"""wms_return, the returns aggregate: a return the shop approved, from its announcement
(returnorder.create) to what the warehouse received (returnorder.confirm) and the shop's refund.

pipelines/returns.py drives it: ``register`` what the shop approved, ``claim`` one for sending,
record its answer (``mark_sent`` / ``mark_failed`` / ``mark_rejected``), then ``mark_received`` per
confirmation and ``mark_refunded`` once the shop paid. A received return not yet refunded waits for
a person (store/attention.py: ``returns_to_refund``). One the shop withdrew before the warehouse
received it (``withdrawable``) is ``mark_withdrawn``: never sent again, and waiting for a person
(``returns_withdrawn``) when the warehouse had been told. Returns are never deleted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .base import MESSAGE_MAX, UNHANDLED, Repository, _clip, _run, _utc, run_columns
from .schema import CODE, DEFAULT_BRIDGE, EXT_ID, return_sync
from .states import RETURN_WITHDRAWABLE, RETURN_WITHDRAWN_TOLD, RETURN_WITHDRAWN_UNTOLD

DEFAULT_STALE_SENDING = timedelta(minutes=15)


class ReturnRepository(Repository):
    """The shop's approved returns and where each stands at the warehouse."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], bridge_id: str = DEFAULT_BRIDGE, *,
                 stale_sending_after: timedelta = DEFAULT_STALE_SENDING) -> None:
        super().__init__(engine, clock, bridge_id)
        self.own = self._mine(return_sync)  # this bridge's rows
        self.stale_sending_after = stale_sending_after

    def register(self, returns: Sequence[Mapping[str, Any]], *, run_id: str | None = None) -> int:
        """Store returns not seen before as ``pending`` (``return_code``, ``shop_return_id``,
        ``delivery_order_code``, ``express_code``, ``logistics_code``, ``reason``, ``lines``); known ones stay as they are."""
        now = self.clock()
        rows = [{
            "return_code": _clip(str(r["return_code"]), CODE), "shop_return_id": str(r["shop_return_id"])[:EXT_ID],
            "delivery_order_code": _clip(str(r["delivery_order_code"]), CODE), "state": "pending",
            "express_code": _clip(r.get("express_code"), CODE), "logistics_code": _clip(r.get("logistics_code"), CODE),
            "reason": r.get("reason"),
            "lines": json.dumps(list(r.get("lines") or []), ensure_ascii=False),
            "attempts": 0, "created_at": now, "updated_at": now, **run_columns(run_id),
        } for r in returns]
        return self._insert_missing(return_sync, "return_code", rows)

    def rows(self, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Stored returns by return code (lines and received quantities decoded)."""
        return {code: _decoded(row) for code, row in self._rows_by_key(return_sync, "return_code", codes).items()}

    def by_shop_ids(self, shop_return_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Stored returns by the shop's own return id."""
        return {row["shop_return_id"]: row for row in
                self._rows_by_key(return_sync, "shop_return_id", [str(i) for i in shop_return_ids]).values()}

    def due(self) -> list[dict[str, Any]]:
        """Returns to send by this run: pending, failed for a passing reason, or left ``sending``
        by a run that died (older than ``stale_sending_after``)."""
        t, stale = return_sync.c, self.clock() - self.stale_sending_after
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(return_sync).where(self.own, sa.or_(
                t.state == "pending", sa.and_(t.state == "failed", t.last_error_retryable.is_(True)),
                sa.and_(t.state == "sending", t.updated_at < _utc(stale)))).order_by(t.id)).all()
        return [_decoded(dict(r._mapping)) for r in found]

    def open_refunds(self) -> list[dict[str, Any]]:
        """Returns the warehouse received (in part or whole) whose refund the shop has not paid yet."""
        t = return_sync.c
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(return_sync).where(self.own,
                t.state.in_(("partially_received", "received")), t.refunded_at.is_(None)).order_by(t.id)).all()
        return [_decoded(dict(r._mapping)) for r in found]

    def withdrawable(self) -> list[dict[str, Any]]:
        """Registered returns the shop may still withdraw: not received (nor refunded) yet. A refused
        one (``rejected``, ``failed``) a person marked handled is settled and left out."""
        t = return_sync.c
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(return_sync).where(self.own, sa.or_(
                t.state.in_(("pending", "sending", "sent")),
                sa.and_(t.state.in_(("failed", "rejected")), t.handled_at.is_(None)))).order_by(t.id)).all()
        return [_decoded(dict(r._mapping)) for r in found]

    def mark_withdrawn(self, code: str, seen_state: str, why: str, *, told: bool,
                       run_id: str | None = None) -> bool:
        """The shop withdrew, refused or deleted the return: never sent (again). ``told``: the
        warehouse was (or may have been) told of it, so it waits for a person, who asks the warehouse
        to cancel it (store/attention.py: ``returns_withdrawn``). Only from ``seen_state``, the state
        the decision was made on (a run that claimed or sent it meanwhile wins; the next run looks
        again); False when it moved on."""
        if seen_state not in RETURN_WITHDRAWABLE:
            raise ValueError(f"a {seen_state} return cannot be withdrawn")
        return self._move(code, (seen_state,), run_id, state="withdrawn",
                          last_error_code=RETURN_WITHDRAWN_TOLD if told else RETURN_WITHDRAWN_UNTOLD,
                          last_error_message=_clip(why, MESSAGE_MAX), last_error_retryable=False)

    def claim(self, code: str, *, run_id: str | None = None) -> bool:
        """Take one return for sending (``sending``, attempts + 1): False when another run holds it
        or it moved on meanwhile."""
        t, now = return_sync.c, self.clock()
        stale = now - self.stale_sending_after
        with self.engine.begin() as conn:
            return conn.execute(sa.update(return_sync).where(self.own, t.return_code == code, sa.or_(
                t.state == "pending", sa.and_(t.state == "failed", t.last_error_retryable.is_(True)),
                sa.and_(t.state == "sending", t.updated_at < _utc(stale)))).values(
                state="sending", attempts=t.attempts + 1, updated_at=now, **_run(run_id))).rowcount == 1

    def mark_sent(self, code: str, wms_return_id: str | None, *, run_id: str | None = None) -> None:
        now = self.clock()
        self._move(code, ("sending",), run_id, state="sent", wms_return_id=_clip(wms_return_id, EXT_ID), sent_at=now,
                   last_error_code=None, last_error_message=None, last_error_retryable=None)

    def mark_failed(self, code: str, error_code: str | None, message: str | None, *, retryable: bool,
                    run_id: str | None = None) -> None:
        self._move(code, ("sending",), run_id, state="failed", last_error_code=_clip(error_code, 100),
                   last_error_message=_clip(message, MESSAGE_MAX), last_error_retryable=retryable)

    def mark_rejected(self, code: str, reason: str, *, run_id: str | None = None) -> None:
        """Our own checks refused it (never sent): a person fixes the shop or marks it handled."""
        self._move(code, ("pending", "sending", "failed"), run_id, state="rejected", last_error_code="REJECTED",
                   last_error_message=_clip(reason, MESSAGE_MAX), last_error_retryable=False)

    def mark_received(self, code: str, received: Mapping[str, Mapping[str, int]], *, final: bool, note: str,
                      run_id: str | None = None) -> bool:
        """What the warehouse took in so far within what the return announced (``{item_code: {"ZP": n,
        "CC": n}}``, every confirmation summed; units beyond it wait for a person on their report,
        ``note`` says so); ``final``: the last confirmation came. A confirmation may overtake our own record
        of the create's answer, so any state but ``rejected`` may move here."""
        now = self.clock()
        return self._move(code, ("sending", "sent", "failed", "partially_received", "received"), run_id,
                   state="received" if final else "partially_received", received_at=now, note=note,
                   received=json.dumps(received, ensure_ascii=False, sort_keys=True))

    def mark_refunded(self, code: str, *, run_id: str | None = None) -> None:
        """The shop paid the refund: the return leaves the person's list."""
        t, now = return_sync.c, self.clock()
        with self.engine.begin() as conn:
            conn.execute(sa.update(return_sync).where(self.own, t.return_code == code, t.refunded_at.is_(None))
                         .values(refunded_at=now, updated_at=now, **_run(run_id)))

    def _move(self, code: str, sources: tuple[str, ...], run_id: str | None, **values: Any) -> bool:
        t, now = return_sync.c, self.clock()
        with self.engine.begin() as conn:
            return conn.execute(sa.update(return_sync).where(self.own, t.return_code == code, t.state.in_(sources))
                                .values(updated_at=now, **UNHANDLED, **_run(run_id), **values)).rowcount == 1


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    row["lines"] = json.loads(row["lines"]) if row.get("lines") else []
    row["received"] = json.loads(row["received"]) if row.get("received") else {}
    return row
