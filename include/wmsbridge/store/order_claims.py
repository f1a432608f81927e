"""Who may send an order now, and what a failed attempt leaves for the next one.

Mixed into ``IntegrationStore`` (it uses the repository's ``engine``, ``clock`` and the settings
below). Three rules keep an order moving without ever being sent by two live runs at once:

- **Backoff between runs.** A failure for a passing reason (busy, timeout, 5xx ...) leaves the order
  ``failed`` and retryable with ``next_attempt_at = now + min(base * 2**(attempts-1), cap)``: later
  runs claim it again from then on, for ever; an order is never dropped after N passing failures.
  Until it is due, a run counts it ``retry_waiting`` (visible, with the time of the next attempt).
- **Leases on ``sending``.** A claim sets ``lease_expires_at = now + lease`` and the live run renews
  it every ``lease / 3`` (``renew_leases``, a heartbeat thread in the pipeline). A row whose lease
  ran out was left by a process that stopped renewing: killed, crashed, or hung so long that a
  re-send is the lesser harm. Re-sending is safe either way: same deliveryOrderCode, the warehouse
  answers idempotently. So a dead attempt's orders are recovered one lease after its last
  heartbeat, not after a long stale delay. Rows without a lease (written before the lease existed)
  fall back to ``stale_sending_after``. An order left by an earlier try of the SAME run is
  recovered at once: Airflow never runs two tries of one task at the same time.
- **The run that decided is recorded.** Every decision writes ``run_id``, so a run's verdict (orders
  waiting for a person because of this run) is read back from the store by run id and a retried
  or cleared try gives the same verdict as the first one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .base import LOOKUP_CHUNK, UNHANDLED, batches, dag_of, run_columns, updated_all
from .schema import order_sync

DEFAULT_LEASE = timedelta(seconds=60)
DEFAULT_RETRY_BACKOFF = timedelta(minutes=1)
DEFAULT_RETRY_BACKOFF_MAX = timedelta(hours=1)

# claim outcomes
CLAIMED = "claimed"            # pending or due retryable failure: this run sends it
RECOVERED = "recovered"        # left in `sending` by a dead attempt: this run sends it again
NOT_DUE = "not_due"            # a passing failure whose next attempt is later: retry_waiting
IN_FLIGHT = "in_flight"        # another live run holds it (lease not expired): held
WAITS_FOR_PERSON = "waits_for_person"  # refused for good, or another version at the warehouse
SETTLED = "settled"            # accepted, cancelled, rejected ...: nothing to send
UNKNOWN = "unknown"            # not registered


@dataclass(frozen=True)
class Claim:
    outcome: str
    row: dict[str, Any] | None = None

    @property
    def owned(self) -> bool:
        """This caller moved the order to ``sending`` and sends it now."""
        return self.outcome in (CLAIMED, RECOVERED)


def _why_not(row: dict[str, Any] | None) -> Claim:
    """Why an order this caller could not take is not its to send (see the outcomes above)."""
    if row is None:
        return Claim(UNKNOWN)
    state = row["state"]
    if state == "failed" and row["last_error_retryable"]:
        return Claim(NOT_DUE, row)
    if state == "sending":
        return Claim(IN_FLIGHT, row)
    if state == "exists_different" or state == "failed":
        return Claim(WAITS_FOR_PERSON, row)
    return Claim(SETTLED, row)


def _plain(row) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def waiting_for_person() -> sa.ColumnElement[bool]:
    """Orders a warehouse answer left for a person (refused for good, or held in another version):
    never claimed by a run; the rules are attention.py's, the one definition."""
    from .attention import BY_KEY

    return sa.or_(BY_KEY["orders_refused"].where, BY_KEY["orders_exists_different"].where)


class OrderClaims:
    """Claims, leases, retry backoff and per-run verdicts of wms_order_sync."""

    lease: timedelta = DEFAULT_LEASE
    retry_backoff: timedelta = DEFAULT_RETRY_BACKOFF
    retry_backoff_max: timedelta = DEFAULT_RETRY_BACKOFF_MAX

    # ---------------------------------------------------------------- claims

    def _fresh(self, now: datetime, max_attempts: int | None) -> sa.ColumnElement[bool]:
        """Pending, or failed for a passing reason and due again."""
        c = order_sync.c
        due = sa.and_(c.state == "failed", c.last_error_retryable.is_(True),
                      sa.or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now))
        if max_attempts is not None:
            due = sa.and_(due, c.attempts < max_attempts)
        return sa.or_(c.state == "pending", due)

    def abandoned_sending(self, now: datetime) -> sa.ColumnElement[bool]:
        """SQL condition: an order in ``sending`` whose owner is provably gone (for other flows,
        e.g. a cancel of an order whose push died mid-request)."""
        return self._abandoned(now)

    def _abandoned(self, now: datetime, run_id: str | None = None) -> sa.ColumnElement[bool]:
        """In ``sending`` with its owner provably gone (see the module docstring)."""
        c = order_sync.c
        expired = sa.or_(
            sa.and_(c.lease_expires_at.is_not(None), c.lease_expires_at < now),
            sa.and_(c.lease_expires_at.is_(None), c.updated_at < now - self.stale_sending_after),
        )
        if run_id is not None:
            expired = sa.or_(expired, c.run_id == run_id)
        return sa.and_(c.state == "sending", expired)

    def _claimable(self, now: datetime, max_attempts: int | None, run_id: str | None = None) -> sa.ColumnElement[bool]:
        return sa.or_(self._fresh(now, max_attempts), self._abandoned(now, run_id))

    def claimable_codes(self, limit: int | None = None, *, max_attempts: int | None = None) -> list[str]:
        """Codes a run may try to claim: pending, due retryable failures (below ``max_attempts``) and
        abandoned sending ones, least recently touched first."""
        stmt = (
            sa.select(order_sync.c.delivery_order_code)
            .where(self._claimable(self.clock(), max_attempts))
            .order_by(order_sync.c.updated_at, order_sync.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(stmt).scalars())

    def _claim_values(self, run_id: str, now: datetime) -> dict[str, Any]:
        return {
            "state": "sending",
            **UNHANDLED,
            "attempts": order_sync.c.attempts + 1,
            **run_columns(run_id),
            "last_attempt_at": now,
            "lease_expires_at": now + self.lease,
            "next_attempt_at": None,
            "updated_at": now,
        }

    def _take_stmt(self, run_id: str, now: datetime, condition) -> sa.Update:
        """Move one order (bind parameter ``b_code``) to ``sending`` for ``run_id`` if ``condition``."""
        return (sa.update(order_sync).where(order_sync.c.delivery_order_code == sa.bindparam("b_code"), condition)
                .values(**self._claim_values(run_id, now)))

    def _take(self, conn, code: str, run_id: str, now: datetime, condition) -> bool:
        return conn.execute(self._take_stmt(run_id, now, condition), {"b_code": code}).rowcount == 1

    def _take_group(self, conn, codes: list[str], run_id: str, now: datetime, condition) -> set[str]:
        """Take every order of ``codes`` that meets ``condition``: one UPDATE when all of them do (the
        usual case); else that UPDATE is undone (a savepoint) and each order is taken on its own."""
        if not codes:
            return set()
        together = (sa.update(order_sync).where(order_sync.c.delivery_order_code.in_(codes), condition)
                    .values(**self._claim_values(run_id, now)))
        if updated_all(conn, together, len(codes)):
            return set(codes)
        return {code for code in codes if self._take(conn, code, run_id, now, condition)}

    def claim(self, code: str, run_id: str, *, max_attempts: int | None = None) -> Claim:
        """Move the order to ``sending`` for this run (with a lease and the attempt counted),
        committed BEFORE the request goes out, or say why not. One conditional UPDATE decides
        between racing runs."""
        now = self.clock()
        with self.engine.begin() as conn:
            if self._take(conn, code, run_id, now, self._fresh(now, max_attempts)):
                return Claim(CLAIMED)
        with self.engine.begin() as conn:
            if self._take(conn, code, run_id, now, self._abandoned(now, run_id)):
                return Claim(RECOVERED)
        return _why_not(self.order(code))

    def claim_many(self, codes: Iterable[str], run_id: str, *, max_attempts: int | None = None) -> dict[str, Claim]:
        """``claim`` for a group of orders in ONE transaction (committed before any of them is sent):
        one read of their rows, then a conditional UPDATE of those that look claimable (one for all
        of them; one each should another run have moved some meanwhile), which still decides between
        racing runs. An owned claim's row holds ``attempts`` (this one included)."""
        codes = sorted(set(codes))
        if not codes:
            return {}
        now = self.clock()
        c = order_sync.c
        fresh, abandoned = self._fresh(now, max_attempts), self._abandoned(now, run_id)
        probe = sa.select(*order_sync.c, fresh.label("_fresh"), abandoned.label("_abandoned"))

        def work() -> dict[str, Claim]:
            claims: dict[str, Claim] = {}
            with self.engine.begin() as conn:
                rows = {}
                for part in batches(codes, LOOKUP_CHUNK):
                    rows.update((r.delivery_order_code, r._mapping) for r in
                                conn.execute(probe.where(c.delivery_order_code.in_(part))))
                looks_fresh = [code for code in codes if code in rows and rows[code]["_fresh"]]
                looks_abandoned = [code for code in codes if code in rows and not rows[code]["_fresh"]
                                   and rows[code]["_abandoned"]]
                for outcome, looks, condition in ((CLAIMED, looks_fresh, fresh), (RECOVERED, looks_abandoned, abandoned)):
                    for code in self._take_group(conn, looks, run_id, now, condition):
                        claims[code] = Claim(outcome, {"attempts": rows[code]["attempts"] + 1})
                raced = [code for code in looks_fresh + looks_abandoned if code not in claims]  # moved meanwhile
                for code in codes:
                    if code not in rows:
                        claims[code] = Claim(UNKNOWN)
                    elif code not in claims and code not in raced:
                        claims[code] = _why_not(_plain(rows[code]))
                for part in batches(raced, LOOKUP_CHUNK):
                    for r in conn.execute(sa.select(order_sync).where(c.delivery_order_code.in_(part))):
                        claims[r.delivery_order_code] = _why_not(dict(r._mapping))
            return claims

        return self._retrying(work)

    def claim_for_sending(self, code: str, run_id: str, *, max_attempts: int | None = None) -> bool:
        """``claim`` as a yes/no: True when this caller owns the order now."""
        return self.claim(code, run_id, max_attempts=max_attempts).owned

    def renew_leases(self, run_id: str) -> int:
        """Heartbeat: this run is alive, its ``sending`` orders stay its own for one more lease."""
        c = order_sync.c
        with self.engine.begin() as conn:
            return conn.execute(
                sa.update(order_sync)
                .where(c.run_id == run_id, c.state == "sending")
                .values(lease_expires_at=self.clock() + self.lease)
            ).rowcount

    # ---------------------------------------------------------------- outcomes

    def retry_delay(self, attempts: int) -> timedelta:
        """Backoff after ``attempts`` attempts: base, 2 x base, 4 x base ... capped."""
        if self.retry_backoff <= timedelta(0):
            return timedelta(0)
        return min(self.retry_backoff * (2 ** min(max(attempts - 1, 0), 30)), self.retry_backoff_max)

    # ---------------------------------------------------------------- verdicts

    def needs_person_by_run(self, flow: str, run_id: str, *, failing: bool = True,
                            sample: int = 20) -> tuple[int, list[str]]:
        """What ``run_id`` newly left waiting for a person in ``flow`` (attention.new_for_run): with
        ``failing``, the run's verdict (the same on every try), else the records the shop must fix."""
        from .attention import new_for_run

        return new_for_run(self.engine, flow, run_id, dag_of(run_id), failing=failing, sample=sample)
