"""What happened after each answer, written in batches by one thread.

A push used three transactions per order: the claim, the exchange-log row with both bodies, the
outcome. At 20 ms per request and 8 in flight the last two cost more than the request (commits,
SQLAlchemy per statement, contention between threads). The claim stays as it is: per order,
committed BEFORE its request (``IntegrationStore.claim_for_sending``). What follows the answer is
handed to an ``OutcomeWriter``: one thread writes the exchange-log rows and the order transitions
of every answer that arrived meanwhile in ONE transaction (up to ``max_batch``, at most
``max_wait`` seconds after the first).

The rows are exactly what ``IntegrationStore.log_exchange``/``mark_sent``/``mark_failed`` write
(same scrubbing and clipping, timestamps taken when the answer arrived; tests/store compares them).
A process killed before a batch is written leaves those orders in ``sending`` without their
exchange rows: the next attempt claims them again and re-sends the SAME deliveryOrderCode, which
the warehouse answers idempotently, as after a crash between an answer and its outcome before.
A refused transition (the order moved meanwhile) or a database error does not stop the other
outcomes; ``close()`` raises the first of them, so the task fails as it did.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import sqlalchemy as sa

from .repo import MESSAGE_MAX, IntegrationStore, _clip, _run, _str_or_none, _utc
from .schema import ERROR_CODE, exchange_log, order_sync
from .scrub import scrub_text, scrub_url
from .states import EXCHANGE_DIRECTIONS, EXCHANGE_OUTCOMES, ORDER_TRANSITIONS

_STOP = object()


class OutcomeWriter:
    """Batches exchange-log rows and order outcomes into few transactions. Use as a context
    manager around the sends (or call ``close``); thread-safe to submit from many threads."""

    def __init__(self, store: IntegrationStore, *, max_batch: int = 200, max_wait: float = 0.05) -> None:
        self.store = store
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="outcome-writer", daemon=True)
        self._thread.start()

    # --- what the senders call ---------------------------------------------------------------------

    def log_exchange(
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
    ) -> None:
        """``IntegrationStore.log_exchange``, written with the next batch."""
        if direction not in EXCHANGE_DIRECTIONS:
            raise ValueError(f"direction must be one of {EXCHANGE_DIRECTIONS}, not {direction!r}")
        if outcome not in EXCHANGE_OUTCOMES:
            raise ValueError(f"outcome must be one of {EXCHANGE_OUTCOMES}, not {outcome!r}")
        self._queue.put(("log", {
            "logged_at": self.store.clock(),
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
            "run_id": run_id,
        }))

    def mark_sent(self, code: str, wms_order_id: str | None, *, content_hash: str | None = None,
                  run_id: str | None = None) -> None:
        """``IntegrationStore.mark_sent``, written with the next batch."""
        now = self.store.clock()
        self._queue.put(("sent", code, {
            "wms_order_id": _str_or_none(wms_order_id),
            "content_hash": content_hash,
            "sent_at": now,
            "first_sent_at": sa.func.coalesce(order_sync.c.first_sent_at, _utc(now)),
            "last_error_code": None,
            "last_error_message": None,
            "last_error_retryable": None,
            "violations": None,
            **_run(run_id),
            "updated_at": now,
        }))

    def mark_failed(self, code: str, error_code: str | None, message: str | None, retryable: bool, *,
                    run_id: str | None = None) -> None:
        """``IntegrationStore.mark_failed``, written with the next batch."""
        self._queue.put(("failed", code, {
            "last_error_code": _clip(error_code, ERROR_CODE),
            "last_error_message": _clip(scrub_text(message), MESSAGE_MAX),
            "last_error_retryable": bool(retryable),
            **_run(run_id),
            "updated_at": self.store.clock(),
        }))

    def close(self) -> None:
        """Write what is queued, stop the thread, raise the first error any batch met."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        if self._errors:
            raise self._errors[0]

    def __enter__(self) -> "OutcomeWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # already failing: still write what arrived, but let the first exception through
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # --- the writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            try:
                self._write(batch)
            except Exception as exc:  # noqa: BLE001 - kept for close(); the next batches still go
                self._errors.append(exc)

    def _write(self, batch: list[tuple]) -> None:
        logs = [item[1] for item in batch if item[0] == "log"]
        moves = [item for item in batch if item[0] != "log"]
        refused: list[tuple[str, str]] = []

        def work() -> None:
            refused.clear()
            with self.store.engine.begin() as conn:
                if logs:
                    conn.execute(sa.insert(exchange_log), logs)
                for target, code, values in moves:
                    stmt = (
                        sa.update(order_sync)
                        .where(order_sync.c.delivery_order_code == code,
                               order_sync.c.state.in_(sorted(ORDER_TRANSITIONS[target])))
                        .values(**values, state=target)
                    )
                    if conn.execute(stmt).rowcount != 1:
                        refused.append((code, target))

        self.store._retrying(work)
        for code, target in refused:
            try:
                self.store._refuse(code, target)  # raises UnknownOrder or InvalidTransition
            except Exception as exc:  # noqa: BLE001
                self._errors.append(exc)


__all__ = ["OutcomeWriter"]
