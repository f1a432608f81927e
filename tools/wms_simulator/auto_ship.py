"""Automatic shipping: the warehouse packs every accepted order a while after accepting it and posts
its ``deliveryorder.confirm`` by itself, as a real warehouse does (``--auto-ship-after``).

Without it, orders ship only when a test or a demo asks (``POST /__admin/ship``). With it, a local
Airflow sees confirmations and tracking numbers arrive on their own. Which orders go out in two
parcels depends only on the seed and the order code, so a run is reproducible whatever the timing.
A delivery that failed (no answer, an HTTP error) is posted again, a few times, as Juxing retries.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime, timedelta, timezone

from qimen.timeutil import format_datetime, now_beijing

from .codes import SimulatedRefusal
from .config import SimulatorConfig
from .faults import FaultDice
from .shipping import RENDERERS, deliver
from .store import WarehouseStore

log = logging.getLogger(__name__)

MAX_DELIVERIES = 5  # posts per confirmation, the first included, before auto-ship gives up on it
IDLE_TICK_S = 1.0


def parcels_for(seed: int | None, order_code: str, lines: int, two_parcel_share: float) -> int:
    """1 or 2: an order of two or more lines goes out in two parcels with ``two_parcel_share``
    probability, decided by a die seeded with the seed and the order code (lines spread over the
    parcels, so a one-line order always fills one)."""
    if lines < 2:
        return 1
    return 2 if random.Random(f"{seed}:{order_code}").random() < two_parcel_share else 1


class AutoShipper:
    """Ships due orders and re-posts failed deliveries from a background thread while the
    simulator runs; idle while ``config.auto_ship_after_s`` is None (it may change at run time)."""

    def __init__(self, config: SimulatorConfig, store: WarehouseStore, dice: FaultDice,
                 stopping: threading.Event) -> None:
        self.config = config
        self.store = store
        self.dice = dice
        self.stopping = stopping
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wms-simulator-auto-ship", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _tick(self) -> float:
        after = self.config.auto_ship_after_s
        return IDLE_TICK_S if after is None else min(IDLE_TICK_S, max(0.1, float(after) / 4))

    def _run(self) -> None:
        while not self.stopping.wait(self._tick()):
            try:
                self.step()
            except Exception:
                if self.stopping.is_set():  # the store closes under a step interrupted by stop()
                    return
                log.exception("auto-ship step failed; trying again")

    def step(self) -> list[dict]:
        """One round: ship what is due, re-post what failed. Returns the deliveries made."""
        after = self.config.auto_ship_after_s
        if after is None:
            return []
        deliveries = []
        accepted_before = format_datetime(now_beijing() - timedelta(seconds=float(after)))
        for due in self.store.due_for_shipping(accepted_before):
            if self.stopping.is_set():
                break
            deliveries += self.ship(due["order_code"], due["lines"])
        tried_before = (datetime.now(timezone.utc) - timedelta(seconds=float(self.config.redeliver_after_s))
                        ).isoformat(timespec="milliseconds")
        retry = self.store.failed_deliveries(tried_before, MAX_DELIVERIES)
        if retry and not self.stopping.is_set():
            deliveries += deliver(self.store, self.config, retry)
        return deliveries

    def ship(self, order_code: str, lines: int) -> list[dict]:
        parcels = parcels_for(self.dice.settings.seed, order_code, lines, float(self.config.two_parcel_share))
        try:
            shipments = self.store.ship(order_codes=[order_code], lines=None, logistics_code=None, express_codes=None,
                                        packages_per_order=parcels, render=RENDERERS[self.config.confirm_shape])
        except SimulatedRefusal as refusal:  # cancelled or shipped by hand since it was found due
            log.info("auto-ship %s skipped: %s", order_code, refusal.message)
            return []
        log.info("auto-ship %s in %d parcel(s): %s", order_code, parcels, shipments[0]["out_biz_code"])
        return deliver(self.store, self.config, self.store.confirmations([s["out_biz_code"] for s in shipments]))
