"""One writer thread that records answers a batch per transaction (group commit).

Senders hand each answered request to ``put`` and go on with the next one; the writer takes
whatever has queued up meanwhile, lingers ``linger_s`` for more (a transaction costs far more than
a row), and records it with one call of ``write`` (one transaction). Nothing waits longer than
``linger_s`` plus one write, and no sender ever waits for the writer.

The caller keeps its guarantees only if it (1) commits its claim BEFORE the request, and (2)
leaves an answer not yet written recoverable, as the order push does (``sending`` with a lease).
``close`` writes what is queued and re-raises the first error of ``write``; after an error the
writer refuses more work (``put`` raises), so a dead store stops the run instead of hiding answers.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
_STOP = object()


class GroupCommitWriter(Generic[T]):
    """``with GroupCommitWriter(write) as writer: writer.put(item)``; ``write(items)`` runs in one thread."""

    def __init__(self, write: Callable[[Sequence[T]], None], *, max_batch: int = 500, linger_s: float = 0.05,
                 name: str = "group-commit"):
        self._write, self.max_batch, self.linger_s = write, max_batch, linger_s
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self.batches = self.items = 0  # how many transactions for how many items (the run's log)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def put(self, item: T) -> None:
        if self._error is not None:
            raise RuntimeError("the outcome writer stopped after an error") from self._error
        self._queue.put(item)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            until = time.monotonic() + self.linger_s
            while len(batch) < self.max_batch and batch[-1] is not _STOP:
                try:
                    batch.append(self._queue.get(timeout=max(until - time.monotonic(), 0)))
                except queue.Empty:
                    break
            if batch[-1] is _STOP:
                stopping = True
                batch.pop()
            if batch and self._error is None:
                try:
                    self._write(batch)
                    self.batches, self.items = self.batches + 1, self.items + len(batch)
                except BaseException as err:  # noqa: BLE001 - handed to the caller by close()/put()
                    self._error = err

    def __enter__(self) -> GroupCommitWriter[T]:
        self._thread.start()
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        self.close(raise_error=exc_type is None)

    def close(self, *, raise_error: bool = True) -> None:
        """Write everything queued, stop the thread; raise the writer's error, if any."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        if raise_error and self._error is not None:
            raise self._error
