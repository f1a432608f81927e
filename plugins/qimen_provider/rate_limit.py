"""Client-side rate limit: Juxing refuses callers that send too much at once.

An even spacing of ``1 / max_per_second`` between request starts, so no one-second window ever holds
more than ``max_per_second`` requests. Slots are reserved under a lock and slept outside it: callers
queue up in order instead of waking together and stampeding.

The limit is the warehouse's, not one hook's: with ``shared_key`` (the hook passes its base URL and
app key) the next free slot lives in a small file under ``WMS_RATE_LIMIT_DIR`` (default
``<tmp>/qimen-rate-limit``), reserved under an exclusive ``flock``. Every thread, hook, task and
Airflow worker process on the machine that talks to the same warehouse with the same app key then
shares ONE limit, however many tasks the ``wms_warehouse`` pool lets run at once. Several worker
machines: put the directory on a shared filesystem with working locks, or divide the limit by the
number of machines (docs/connection.md).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)
DIR_ENV = "WMS_RATE_LIMIT_DIR"
# A slot further ahead than this is a wall clock that stepped back, not a queue: start again from now.
MAX_BACKLOG_S = 600.0


def shared_directory() -> Path:
    return Path(os.environ.get(DIR_ENV) or Path(tempfile.gettempdir()) / "qimen-rate-limit")


class RateLimiter:
    """Minimum interval between request starts; ``max_per_second <= 0`` means no limit.

    Thread-safe; with ``shared_key`` also process-safe (one limit per key on the machine, measured on
    the wall clock, which every process shares)."""

    def __init__(
        self,
        max_per_second: float,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        shared_key: str | None = None,
        directory: Path | str | None = None,
    ) -> None:
        self.max_per_second = float(max_per_second or 0)
        self.interval = 1.0 / self.max_per_second if self.max_per_second > 0 else 0.0
        self.path: Path | None = None
        if shared_key is not None and self.interval > 0:
            folder = Path(directory) if directory is not None else shared_directory()
            path = folder / (hashlib.sha256(shared_key.encode("utf-8")).hexdigest()[:32] + ".slot")
            try:
                folder.mkdir(parents=True, exist_ok=True)
                os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o666))
                self.path = path
            except OSError as err:
                # Still a limit, only no longer shared: say so instead of failing every request.
                log.warning("rate limit: cannot use %s (%s); limiting this process only; set %s", path, err, DIR_ENV)
        self._clock = clock or (time.time if self.path is not None else time.monotonic)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_free = float("-inf")

    def acquire(self) -> float:
        """Block until this caller may send; return the seconds waited (0.0 when no wait was needed)."""
        if self.interval <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            if self.path is None:
                slot = max(now, self._next_free)
                self._next_free = slot + self.interval
            else:
                slot = self._reserve_shared(now)
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)

    def _reserve_shared(self, now: float) -> float:
        """Take the next free slot from the shared file and move it on by one interval."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                raw = os.pread(fd, 64, 0)
                try:
                    next_free = float(raw) if raw.strip() else float("-inf")
                except ValueError:
                    next_free = float("-inf")
                slot = max(now, next_free)
                if slot - now > MAX_BACKLOG_S:
                    slot = now
                data = repr(slot + self.interval).encode("ascii")
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return slot
