"""A request schedule on this machine: the next free start of one process (a thread lock) or of
every process of the machine (a file under ``flock``). Also what every schedule shares: a
``Reservation`` and the rule for the next slot."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
DIR_ENV = "WMS_RATE_LIMIT_DIR"
# A slot further ahead than this is a wall clock that stepped back, not a queue: start again from now.
MAX_BACKLOG_S = 600.0


@dataclass(frozen=True)
class Reservation:
    """A request's start time and the reserving schedule's clock at that moment (the same clock:
    the caller sleeps ``slot - now`` on its own, whatever its own clock says)."""

    slot: float
    now: float

    @property
    def wait(self) -> float:
        return max(self.slot - self.now, 0.0)


def key_digest(shared_key: str) -> str:
    """The name the shared key is stored under (file, Redis key, table row): it holds an app key."""
    return hashlib.sha256(shared_key.encode("utf-8")).hexdigest()[:32]


def slot_after(next_free: float, now: float) -> float:
    """The slot a request gets: the next free one, or now when that is past or implausibly far ahead."""
    slot = max(now, next_free)
    return now if slot - now > MAX_BACKLOG_S else slot


def shared_directory() -> Path:
    return Path(os.environ.get(DIR_ENV) or Path(tempfile.gettempdir()) / "qimen-rate-limit")


class ProcessSchedule:
    """The next free slot of this process only, under a thread lock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._next_free = float("-inf")

    def reserve(self, interval: float) -> Reservation:
        with self._lock:
            now = self._clock()
            slot = slot_after(self._next_free, now)
            self._next_free = slot + interval
        return Reservation(slot, now)


class FileSchedule:
    """The next free slot of every process on this machine: a file under an exclusive ``flock``, on
    the wall clock (which every process of the machine shares)."""

    def __init__(self, path: Path, clock: Callable[[], float]) -> None:
        self.path = path
        self._clock = clock

    @classmethod
    def open(cls, shared_key: str, directory: Path | None, clock: Callable[[], float]) -> FileSchedule | None:
        """The key's file under ``directory``; None (and a warning) when it cannot be created."""
        folder = directory if directory is not None else shared_directory()
        path = folder / (key_digest(shared_key) + ".slot")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o666))
        except OSError as err:
            # Still a limit, only no longer shared: say so instead of failing every request.
            log.warning("rate limit: cannot use %s (%s); limiting this process only; set %s", path, err, DIR_ENV)
            return None
        return cls(path, clock)

    def reserve(self, interval: float) -> Reservation:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                now = self._clock()  # read under the lock: a caller that waited for it is not stale
                raw = os.pread(fd, 64, 0)
                try:
                    next_free = float(raw) if raw.strip() else float("-inf")
                except ValueError:
                    next_free = float("-inf")
                slot = slot_after(next_free, now)
                os.ftruncate(fd, 0)
                os.pwrite(fd, repr(slot + interval).encode("ascii"), 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return Reservation(slot, now)
