"""How many times and how long to wait before resending a retryable request.

Exponential backoff with "full jitter" (a uniform draw between 0 and the exponential cap): many
workers that failed together do not come back together, which is what an overloaded gateway needs.
Which errors are retryable is decided by ``qimen.errors`` (``QimenError.retryable``), not here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` resends after the first attempt; delays in seconds."""

    max_retries: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("retry settings must not be negative")

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def backoff(self, retry_number: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Delay before resend number ``retry_number`` (1-based).

        A server's ``Retry-After`` raises the delay to at least that value, still capped by ``backoff_max``.
        """
        cap = min(self.backoff_max, self.backoff_base * (2 ** max(retry_number - 1, 0)))
        delay = (rng or random).uniform(0.0, cap)
        if retry_after is not None and retry_after > delay:
            delay = min(retry_after, self.backoff_max)
        return delay
