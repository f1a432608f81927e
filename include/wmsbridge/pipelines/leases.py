"""The heartbeat that keeps a live run's ``sending`` orders its own (store/orders.py: leases).

A daemon thread renews the run's leases every third of the lease, so a lease only runs out when
the process stopped: killed, crashed, or hung for a whole lease. Another run then recovers the
orders at once instead of waiting for a long stale delay.
"""

from __future__ import annotations

import logging
import threading

from wmsbridge.store.orders import OrderRepository

log = logging.getLogger(__name__)


class LeaseKeeper:
    """``with LeaseKeeper(orders, run_id): ...`` renews the run's leases while the block runs."""

    def __init__(self, orders: OrderRepository, run_id: str) -> None:
        self.orders, self.run_id = orders, run_id
        self.every_s = max(orders.lease.total_seconds() / 3, 0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{run_id}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.orders.renew_leases(self.run_id)
            except Exception:  # noqa: BLE001 - a missed beat is retried; the next claim fails loudly if the store is gone
                log.warning("could not renew the leases of run %s", self.run_id, exc_info=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every_s + 5)
