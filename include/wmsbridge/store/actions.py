"""What a person does about a record waiting for them, recorded for good in ``wms_person_action``.

Every act is conditional on the record still being in the category the person saw (store/
attention.py): a page older than the last run cannot act on a record that moved on meanwhile; such
a subject is reported back as "not waiting any more", and nothing is changed for it.

- ``handled``: dealt with outside the bridge; the record leaves every list until it changes state.
- ``send_again``: an order the warehouse refused, or holds in another version, goes back to
  ``pending`` (the next push sends it under the same code); a refused cancellation is due again; a
  SKU refused for good is sent again by the next item run.
- ``apply_again``: a stored confirmation is due again (``received``) for the next wms_shipments run.
- ``write_snapshot``: recorded here; the write itself is a run of wms_inventory_sync_manual (started
  by the operations page) that writes the day's stored snapshot without asking the warehouse again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .attention import category
from .base import MESSAGE_MAX, UNHANDLED, Repository, _clip
from .schema import DEFAULT_BRIDGE, KEY, USER, item_sync, order_sync, person_action
from .states import ORDER_TRANSITIONS, PERSON_ACTIONS
from .types import utc_now


@dataclass
class ActionResult:
    """Which subjects an act changed, and which were not waiting any more."""

    action: str
    category: str
    done: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    def describe(self) -> str:
        said = f"{self.action}: {len(self.done)} done"
        return said + (f", {len(self.stale)} not waiting any more ({', '.join(self.stale[:10])})" if self.stale else "")


class PersonActions(Repository):
    """Acts of people on waiting records."""

    def __init__(self, engine: Engine, clock=utc_now, bridge_id: str = DEFAULT_BRIDGE) -> None:
        super().__init__(engine, clock, bridge_id)

    def act(self, action: str, category_key: str, subjects: Iterable[str], *, actor: str, note: str | None = None,
            start: Callable[[list[str]], tuple[str, str] | None] | None = None) -> ActionResult:
        """Do ``action`` for each subject still waiting in ``category_key``, in one transaction,
        and log it. ``start(done)``: starts the DAG run the act needs and returns its ``(dag_id,
        run_id)`` (recorded); if it fails, nothing of the act is kept."""
        cat = category(category_key)
        if action not in PERSON_ACTIONS or action not in cat.actions:
            raise ValueError(f"{action!r} is not an action for {cat.key} (allowed: {', '.join(cat.actions)})")
        if not actor:
            raise ValueError("an action needs the person who took it")
        wanted = list(dict.fromkeys(str(s) for s in subjects if str(s).strip()))
        result = ActionResult(action, cat.key)
        now = self.clock()
        with self.engine.begin() as conn:
            for subject in wanted:
                changed = conn.execute(self._statement(action, cat, subject, actor, now)).rowcount == 1
                (result.done if changed else result.stale).append(subject)
            started = start(result.done) if start is not None and result.done else None
            if result.done:
                conn.execute(sa.insert(person_action), [{
                    "bridge_id": self.bridge_id, "acted_at": now, "actor": _clip(actor, USER), "action": action,
                    "category": cat.key,
                    "subject": _clip(subject, KEY), "note": _clip(note, MESSAGE_MAX) if note else None,
                    "outcome": _OUTCOMES[action], "dag_id": started[0] if started else None,
                    "run_id": started[1] if started else None} for subject in result.done])
        return result

    def history(self, limit: int = 50, *, subject: str | None = None,
                every_bridge: bool = False) -> list[dict[str, Any]]:
        """The newest acts first (of one subject, if given), of this bridge or of every one."""
        stmt = sa.select(person_action).order_by(person_action.c.acted_at.desc(), person_action.c.id.desc())
        if not every_bridge:
            stmt = stmt.where(self._mine(person_action))
        if subject is not None:
            stmt = stmt.where(person_action.c.subject == subject)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt.limit(limit))]

    def _statement(self, action: str, cat, subject: str, actor: str, now: datetime) -> sa.Update:
        """One conditional UPDATE: the subject's row, only while it is still waiting in ``cat``."""
        table = cat.table
        still = sa.and_(self._mine(table), sa.cast(cat.subject, sa.String) == subject, cat.rule(),
                        table.c.handled_at.is_(None))
        if action in ("handled", "write_snapshot"):
            return sa.update(table).where(still).values(handled_at=now, handled_by=_clip(actor, USER))
        if action == "apply_again":
            return (sa.update(table).where(still)
                    .values(state="received", overdue_at=None, processed_at=None, **UNHANDLED))
        if table is order_sync:  # send_again: refused order -> pending, refused cancel -> due again
            target = "cancel_requested" if cat.flow == "cancels" else "pending"
            values = {"state": target, "updated_at": now, "next_attempt_at": None, **UNHANDLED}
            if target == "pending":
                values.update(last_error_retryable=None)
            return (sa.update(table).where(still, table.c.state.in_(sorted(ORDER_TRANSITIONS[target])))
                    .values(**values))
        if table is item_sync:  # a failed SKU is retried by every item run once it may pass again
            return sa.update(table).where(still).values(last_error_retryable=True, updated_at=now, **UNHANDLED)
        raise ValueError(f"send_again does not apply to {cat.key}")


_OUTCOMES = {
    "handled": "marked handled: left the list until it changes again",
    "send_again": "due again: the next run of its flow sends it",
    "apply_again": "due again: the next wms_shipments run applies it",
    "write_snapshot": "the day's stored snapshot is written by the run started",
}

assert set(_OUTCOMES) == set(PERSON_ACTIONS), "every action says what it did"
