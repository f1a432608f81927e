"""Client-side rate limit: Juxing refuses callers that send too much at once.

An even spacing of ``(1 + SPACING_HEADROOM_S) / max_per_second`` between request starts, so no
one-second window ever holds more than ``max_per_second`` requests, even as the warehouse sees them:
each arrives a few milliseconds early or late (network, scheduling, a server clock logged to the
millisecond), and at exactly ``1 / max_per_second`` a sliding window of the warehouse's would then
count one request too many about every other second. The headroom costs 2.5 % of the rate.

A slot is reserved atomically (the schedule's next free start moves on by one interval) and slept
outside any lock: callers queue up in order instead of waking together and stampeding. A slot more
than ``MAX_BACKLOG_S`` ahead is a clock that stepped back, not a queue: the schedule starts again
from now.

The limit is the warehouse's, not one hook's. With ``shared_key`` (the hook passes the warehouse's
host and the app key) the schedule lives where everyone that must share it reaches it:

* ``WMS_RATE_LIMIT_URL`` set (deployment-wide: every worker gets the same value): on that server, so
  every thread, process and worker MACHINE shares one limit per key.

  - ``redis://`` / ``rediss://`` / ``unix://``: one Redis key per shared key, reserved by one Lua
    script per request (atomic), expiring once idle.
  - a SQLAlchemy URL (``postgresql://``, ``mysql+pymysql://``, ``sqlite:///file``), e.g. the store's
    database: one row of ``wms_rate_limit_slot`` (created if missing), reserved in one short
    transaction under a row lock (``SELECT ... FOR UPDATE``; SQLite: ``BEGIN IMMEDIATE``).

  Slots are on the SERVER's clock (Redis ``TIME``, the database's own now) and the caller sleeps
  ``slot - server_now``: clock skew between worker machines cannot break the spacing. A URL that
  cannot be used as written is a configuration error at once (``RateLimitConfigError``, naming
  ``WMS_RATE_LIMIT_URL``). A server that cannot be reached at request time: a warning once per
  outage (never the URL's password) and the machine-local file below for that request; the server is
  tried again after ``RETRY_SHARED_AFTER_S``. The warehouse stays protected meanwhile, at worst at the
  number of machines times the rate.
* otherwise: a small file under ``WMS_RATE_LIMIT_DIR`` (default ``<tmp>/qimen-rate-limit``), under an
  exclusive ``flock``: every process on the MACHINE shares one limit, so N machines send N times it.

Without ``shared_key`` (or when the directory cannot be used): this process only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from .schedules import (
    DIR_ENV,
    MAX_BACKLOG_S,
    FileSchedule,
    ProcessSchedule,
    Reservation,
    key_digest,
    shared_directory,
    slot_after,
)
from .servers import (
    REDIS_IDLE_TTL_MS,
    SLOT_TABLE,
    URL_ENV,
    RateLimitConfigError,
    RedisSlots,
    SharedSchedule,
    SqlSlots,
    redact_url,
    shared_slots,
)

__all__ = [
    "DIR_ENV", "MAX_BACKLOG_S", "REDIS_IDLE_TTL_MS", "SLOT_TABLE", "SPACING_HEADROOM_S", "URL_ENV", "FileSchedule",
    "ProcessSchedule", "RateLimitConfigError", "RateLimiter", "RedisSlots", "Reservation", "SharedSchedule",
    "SqlSlots", "key_digest", "redact_url", "shared_directory", "shared_slots", "slot_after",
]

# max_per_second consecutive request starts span 1 s plus this: room for arrival jitter (see above).
SPACING_HEADROOM_S = 0.025


class RateLimiter:
    """Minimum interval between request starts; ``max_per_second <= 0`` means no limit.

    Thread-safe; with ``shared_key``, shared as the module says: across machines through ``url``
    (default: ``$WMS_RATE_LIMIT_URL``; ``""`` = none), else across this machine's processes through
    a file under ``directory`` (default ``$WMS_RATE_LIMIT_DIR``). ``clock`` is the local schedules'
    clock (a shared server uses its own); ``sleep`` waits for the slot."""

    def __init__(
        self,
        max_per_second: float,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        shared_key: str | None = None,
        directory: Path | str | None = None,
        url: str | None = None,
    ) -> None:
        self.max_per_second = float(max_per_second or 0)
        self.interval = (1.0 + SPACING_HEADROOM_S) / self.max_per_second if self.max_per_second > 0 else 0.0
        self._sleep = sleep
        self.shared: SharedSchedule | None = None
        file_schedule: FileSchedule | None = None
        if shared_key is not None and self.interval > 0:
            url = (os.environ.get(URL_ENV, "") if url is None else url).strip()
            if url:
                self.shared = SharedSchedule(shared_slots(url), shared_key)
            folder = Path(directory) if directory is not None else None
            file_schedule = FileSchedule.open(shared_key, folder, clock or time.time)
        # This machine's schedule: the whole limit without a server, the fallback while it is away.
        self.local: FileSchedule | ProcessSchedule = file_schedule or ProcessSchedule(clock or time.monotonic)

    @property
    def path(self) -> Path | None:
        """The machine-local slot file, if any."""
        return self.local.path if isinstance(self.local, FileSchedule) else None

    def reserve(self) -> Reservation:
        """Take the next slot: on the shared server when there is one and it answers, else locally."""
        if self.shared is not None:
            reservation = self.shared.reserve(self.interval)
            if reservation is not None:
                return reservation
        return self.local.reserve(self.interval)

    def acquire(self) -> float:
        """Block until this caller may send; return the seconds waited (0.0 when no wait was needed)."""
        if self.interval <= 0:
            return 0.0
        wait = self.reserve().wait
        if wait > 0:
            self._sleep(wait)
        return wait
