"""RetryPolicy and RateLimiter on their own, with a seeded RNG and a fake clock (no real waiting).

The machine-local schedules only (in-process, file); shared servers: test_shared_rate_limit.py."""

from __future__ import annotations

import random

import pytest

from qimen_provider.rate_limit import SPACING_HEADROOM_S, RateLimiter
from qimen_provider.retry import RetryPolicy


@pytest.fixture(autouse=True)
def no_shared_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """A WMS_RATE_LIMIT_URL in the caller's environment would take these limiters off the fake clock."""
    monkeypatch.delenv("WMS_RATE_LIMIT_URL", raising=False)


def test_backoff_is_full_jitter_under_an_exponential_cap():
    policy = RetryPolicy(max_retries=5, backoff_base=1.0, backoff_max=6.0)
    rng = random.Random(7)
    for retry_number, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 6.0), (5, 6.0)]:
        delays = [policy.backoff(retry_number, rng=rng) for _ in range(400)]
        assert all(0.0 <= d <= cap for d in delays)
        assert min(delays) < cap * 0.1 and max(delays) > cap * 0.9  # spread over the whole range


def test_retry_after_raises_the_delay_but_not_above_the_cap():
    policy = RetryPolicy(backoff_base=0.01, backoff_max=2.0)
    assert policy.backoff(1, retry_after=1.5, rng=random.Random(1)) == 1.5
    assert policy.backoff(1, retry_after=60, rng=random.Random(1)) == 2.0


def test_negative_retry_settings_are_refused():
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def spacing(rate: float) -> float:
    """The limiter's interval at ``rate``: 1 / rate plus the headroom for arrival jitter."""
    return (1 + SPACING_HEADROOM_S) / rate


def test_limiter_spaces_request_starts_evenly():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(6):
        limiter.acquire()
        starts.append(clock.now)
    assert [round(b - a, 9) for a, b in zip(starts, starts[1:])] == [round(spacing(4), 9)] * 5
    # Four consecutive starts never fit into one second, even with the warehouse's clock a little off.
    assert starts[4] - starts[0] == pytest.approx(1 + SPACING_HEADROOM_S)


def test_limiter_does_not_wait_after_an_idle_period_and_reserves_slots_in_order():
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=lambda s: None)  # callers that do not advance time
    assert limiter.acquire() == 0.0
    waits = [limiter.acquire() for _ in range(3)]  # queued callers get later slots
    assert waits == pytest.approx([spacing(2), 2 * spacing(2), 3 * spacing(2)])
    clock.now += 10
    assert limiter.acquire() == 0.0


def test_limiter_zero_means_no_limit():
    assert RateLimiter(0).acquire() == 0.0


def test_limiters_sharing_a_key_share_one_schedule_through_their_file(tmp_path):
    clock = FakeClock()
    first = RateLimiter(2, clock=clock, sleep=lambda s: None, shared_key="wh|app", directory=tmp_path)
    second = RateLimiter(2, clock=clock, sleep=lambda s: None, shared_key="wh|app", directory=tmp_path)
    other = RateLimiter(2, clock=clock, sleep=lambda s: None, shared_key="wh|other-app", directory=tmp_path)
    waits = [first.acquire(), second.acquire(), first.acquire(), second.acquire()]
    assert waits == pytest.approx([0.0, spacing(2), 2 * spacing(2), 3 * spacing(2)])
    assert other.acquire() == 0.0  # another app key is another limit


def test_a_wall_clock_that_stepped_back_restarts_the_schedule_instead_of_stalling(tmp_path):
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=lambda s: None, shared_key="wh|app", directory=tmp_path)
    limiter.acquire()
    clock.now -= 3600  # NTP stepped the clock back an hour: the stored slot is an hour ahead
    assert limiter.acquire() == 0.0


def test_limiter_without_a_usable_directory_still_limits_this_process(tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=lambda s: None, shared_key="wh|app", directory=blocker)
    assert limiter.path is None and "limiting this process only" in caplog.text
    assert [limiter.acquire() for _ in range(3)] == pytest.approx([0.0, spacing(2), 2 * spacing(2)])
