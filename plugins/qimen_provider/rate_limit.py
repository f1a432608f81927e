"""Client-side rate limit: Juxing refuses callers that send too much at once.

An even spacing of ``1 / max_per_second`` between request starts, so no one-second window ever holds
more than ``max_per_second`` requests. Slots are reserved under a lock and slept outside it: threads
sharing one hook queue up in order instead of waking together and stampeding.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Thread-safe minimum interval between request starts; ``max_per_second <= 0`` means no limit."""

    def __init__(
        self,
        max_per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_per_second = float(max_per_second or 0)
        self.interval = 1.0 / self.max_per_second if self.max_per_second > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_free = float("-inf")

    def acquire(self) -> float:
        """Block until this caller may send; return the seconds waited (0.0 when no wait was needed)."""
        if self.interval <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_free)
            self._next_free = slot + self.interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)
