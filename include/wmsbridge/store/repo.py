"""Every state change the pipelines make in the integration store, one transaction each.

``IntegrationStore`` is assembled from one mixin per table group, so each flow's store code lives in
its own module and callers keep one object with every method:

- ``repo_items.ItemRecords``          wms_item_sync
- ``repo_orders.OrderRecords``        wms_order_sync: registration and the state machine
- ``order_claims.OrderClaims``        wms_order_sync: claims, leases, retry backoff, run verdicts
- ``order_outcomes.OrderOutcomes``    wms_order_sync + wms_exchange_log: what a request left, batched
- ``repo_exchange.ExchangeLog``       wms_exchange_log
- ``repo_shipments.ShipmentInbox``    wms_shipment_inbox / wms_shipment_package
- ``repo_stock.InventoryAndStock``    wms_inventory_snapshot / wms_stock_writeback
- ``cursors.Cursors``                 wms_cursor
- ``repo_unkeyed.UnkeyedRecords``     wms_unkeyed_record: refused records whose code cannot key them
- ``base.StoreBase``                  bulk inserts, lookups by key, conflict retries

Concurrency: a state change is a single conditional ``UPDATE ... WHERE state IN (allowed)``, so
the database decides atomically which caller wins; two runs can never both claim an order.
Refused changes raise ``InvalidTransition`` (or ``UnknownOrder``); losing a claim is normal and
returns ``False``. All timestamps come from ``clock`` (aware UTC).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from .base import (  # noqa: F401 - re-exported: callers import the refusals and limits from here
    CONFLICT_RETRIES,
    DEFAULT_STALE_SENDING,
    INSERT_CHUNK,
    LOOKUP_CHUNK,
    MESSAGE_MAX,
    REASON_MAX,
    InvalidTransition,
    StoreBase,
    StoreError,
    UnknownOrder,
)
from .cursors import Cursors
from .order_claims import (
    DEFAULT_LEASE,
    DEFAULT_RETRY_BACKOFF,
    DEFAULT_RETRY_BACKOFF_MAX,
    OrderClaims,
)
from .order_outcomes import OrderOutcomes
from .repo_exchange import ExchangeLog
from .repo_items import ItemRecords
from .repo_orders import OrderRecords
from .repo_shipments import InboxInsert, ShipmentInbox
from .repo_stock import InventoryAndStock
from .repo_unkeyed import UnkeyedRecords
from .types import utc_now

__all__ = ["InboxInsert", "IntegrationStore", "InvalidTransition", "StoreError", "UnknownOrder"]


class IntegrationStore(
    ItemRecords, OrderRecords, OrderClaims, OrderOutcomes, ExchangeLog, ShipmentInbox, InventoryAndStock, Cursors,
    UnkeyedRecords, StoreBase
):
    """The repository over one Engine. Cheap to create; holds no connection between calls."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utc_now,
        stale_sending_after: timedelta = DEFAULT_STALE_SENDING,
        lease: timedelta = DEFAULT_LEASE,
        retry_backoff: timedelta = DEFAULT_RETRY_BACKOFF,
        retry_backoff_max: timedelta = DEFAULT_RETRY_BACKOFF_MAX,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.stale_sending_after = stale_sending_after
        self.lease, self.retry_backoff, self.retry_backoff_max = lease, retry_backoff, retry_backoff_max
