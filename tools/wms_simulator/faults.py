"""Injected faults: what can go wrong between a pipeline and a real warehouse, on demand.

Every fraction is a probability per request, rolled on one seeded ``random.Random`` so that a run
with the same ``seed`` and the same request sequence sees the same faults (deterministic tests).
All dice are rolled on every request, whether a fault is enabled or not, so switching one fault on
does not shift the sequence of the others.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict, deque
from dataclasses import asdict, dataclass, field, fields

# The order faults are checked in, for documentation and for the request log's ``fault`` column.
RATE_LIMITED = "rate_limited"
HANG = "hang"
HTTP_5XX = "http_5xx"
ERROR_RESPONSE = "error_response"
FAILURE_CODE = "failure_code"
DROP_AFTER = "drop_after"


@dataclass
class FaultSettings:
    """Fault knobs, set from the command line or at run time through ``/__admin/faults``."""

    latency_ms: int = 0
    jitter_ms: int = 0
    fail_5xx: float = 0.0
    status_5xx: int = 503
    hang: float = 0.0
    hang_seconds: float = 30.0
    drop_after: float = 0.0
    error_response: float = 0.0
    failure: float = 0.0
    failure_codes: list[str] = field(default_factory=lambda: ["SYSTEM_BUSY"])
    rate_limit: float = 0.0  # requests per window per app_key; 0 = no limit
    rate_limit_window_s: float = 1.0
    methods: list[str] = field(default_factory=list)  # short method names the faults apply to; empty = all
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("fail_5xx", "hang", "drop_after", "error_response", "failure"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction between 0 and 1, got {value}")
            setattr(self, name, value)
        for name in ("latency_ms", "jitter_ms", "rate_limit", "hang_seconds", "rate_limit_window_s"):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"{name} must not be negative")
        if not 500 <= int(self.status_5xx) <= 599:
            raise ValueError(f"status_5xx must be a 5xx status, got {self.status_5xx}")
        if isinstance(self.failure_codes, str):
            self.failure_codes = [c.strip() for c in self.failure_codes.split(",") if c.strip()]
        if not self.failure_codes:
            self.failure_codes = ["SYSTEM_BUSY"]
        if isinstance(self.methods, str):
            self.methods = [m.strip() for m in self.methods.split(",") if m.strip()]

    def to_dict(self) -> dict:
        return asdict(self)

    def merged(self, changes: dict) -> FaultSettings:
        """A copy with ``changes`` applied; unknown keys are refused so typos do not pass silently."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return FaultSettings(**{**self.to_dict(), **changes})


@dataclass(frozen=True)
class FaultPlan:
    """What this one request will suffer; decided before it is processed."""

    delay_s: float = 0.0
    hang: bool = False
    http_5xx: bool = False
    error_response: bool = False
    failure_code: str | None = None
    drop_after: bool = False

    @property
    def label(self) -> str | None:
        for name, on in (
            (HANG, self.hang),
            (HTTP_5XX, self.http_5xx),
            (ERROR_RESPONSE, self.error_response),
            (FAILURE_CODE, self.failure_code is not None),
            (DROP_AFTER, self.drop_after),
        ):
            if on:
                return name
        return None


class FaultDice:
    """Thread-safe, seeded dice producing one :class:`FaultPlan` per request."""

    def __init__(self, settings: FaultSettings) -> None:
        self._lock = threading.Lock()
        self.configure(settings)

    def configure(self, settings: FaultSettings) -> None:
        with self._lock:
            self.settings = settings
            self._random = random.Random(settings.seed)

    def roll(self, method: str) -> FaultPlan:
        with self._lock:
            s = self.settings
            r = self._random
            jitter, hang, fail, err, failure, code_pick, drop = (r.random() for _ in range(7))
            if s.methods and method not in s.methods:
                return FaultPlan()
            code = s.failure_codes[int(code_pick * len(s.failure_codes)) % len(s.failure_codes)]
            return FaultPlan(
                delay_s=(s.latency_ms + jitter * s.jitter_ms) / 1000.0,
                hang=hang < s.hang,
                http_5xx=fail < s.fail_5xx,
                error_response=err < s.error_response,
                failure_code=code if failure < s.failure else None,
                drop_after=drop < s.drop_after,
            )


class CallLimit:
    """At most ``limit`` admitted requests per caller (app_key) within a sliding window.

    Refused requests do not count, so a caller that backs off gets through again once the window
    has moved on, as with Taobao TOP's "App Call Limited".
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()

    def admit(self, caller: str, limit: float, window_s: float) -> bool:
        if limit <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            seen = self._seen[caller]
            while seen and now - seen[0] >= window_s:
                seen.popleft()
            if len(seen) >= limit:
                return False
            seen.append(now)
            return True
