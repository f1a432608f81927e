"""``IntegrationStore``: the store's repositories over one Engine, composed explicitly.

One repository per aggregate, each in the module named after what it holds:

- ``orders``         ``OrderRepository``      wms_order_sync: registration, claims, what a request
                                               left, cancels, shipments (``states.py``: its machine)
- ``items``          ``ItemRepository``       wms_item_sync
- ``confirmations``  ``ConfirmationInbox``    wms_shipment_inbox, wms_shipment_package
- ``reports``        ``WarehouseReports``     wms_warehouse_report: the warehouse's own reports
- ``returns``        ``ReturnRepository``     wms_return: approved returns, announced and received
- ``adjustments``    ``StockAdjustments``     wms_stock_adjustment: stock changes between daily syncs
- ``inventory``      ``InventoryRepository``  wms_inventory_run, _snapshot, wms_stock_writeback
- ``exchanges``      ``ExchangeLog``          wms_exchange_log: every request and callback
- ``cursors``        ``Cursors``              wms_cursor
- ``unkeyed``        ``UnkeyedRecords``       wms_unkeyed_record
- ``actions``        ``PersonActions``        wms_person_action (what people did on the page)

``attention.py`` is the one definition of what waits for a person; ``needs_person_by_run`` is a
run's verdict read from it. All repositories share the engine, the clock (aware UTC) and the bridge:
a store is one bridge's view of the tables (``bridge_id``), several bridges may share the tables.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from . import attention
from .actions import PersonActions
from .adjustments import StockAdjustments
from .base import DEFAULT_STALE_SENDING, dag_of
from .confirmations import ConfirmationInbox
from .cursors import Cursors
from .exchange_log import ExchangeLog
from .inventory import InventoryRepository
from .items import ItemRepository
from .reports import WarehouseReports
from .returns import ReturnRepository
from .orders import DEFAULT_LEASE, DEFAULT_RETRY_BACKOFF, DEFAULT_RETRY_BACKOFF_MAX, OrderRepository
from .schema import DEFAULT_BRIDGE
from .types import utc_now
from .unkeyed import UnkeyedRecords


class IntegrationStore:
    """Every repository of one bridge's store over one Engine. Cheap to create; holds no connection."""

    def __init__(
        self,
        engine: Engine,
        *,
        bridge_id: str = DEFAULT_BRIDGE,
        clock: Callable[[], datetime] = utc_now,
        stale_sending_after: timedelta = DEFAULT_STALE_SENDING,
        lease: timedelta = DEFAULT_LEASE,
        retry_backoff: timedelta = DEFAULT_RETRY_BACKOFF,
        retry_backoff_max: timedelta = DEFAULT_RETRY_BACKOFF_MAX,
    ) -> None:
        self.engine, self.clock, self.bridge_id = engine, clock, bridge_id
        self.exchanges = ExchangeLog(engine, clock, bridge_id)
        self.orders = OrderRepository(engine, clock, self.exchanges, bridge_id=bridge_id, lease=lease,
                                      stale_sending_after=stale_sending_after, retry_backoff=retry_backoff,
                                      retry_backoff_max=retry_backoff_max)
        self.items = ItemRepository(engine, clock, bridge_id)
        self.confirmations = ConfirmationInbox(engine, clock, self.exchanges, bridge_id)
        self.reports = WarehouseReports(engine, clock, self.exchanges, bridge_id)
        self.returns = ReturnRepository(engine, clock, bridge_id, stale_sending_after=stale_sending_after)
        self.adjustments = StockAdjustments(engine, clock, bridge_id)
        self.inventory = InventoryRepository(engine, clock, bridge_id)
        self.cursors = Cursors(engine, clock, bridge_id)
        self.unkeyed = UnkeyedRecords(engine, clock, bridge_id)
        self.actions = PersonActions(engine, clock, bridge_id)

    def needs_person_by_run(self, flow: str, run_id: str, *, failing: bool = True,
                            sample: int = 20) -> tuple[int, list[str]]:
        """What ``run_id`` newly left waiting for a person in ``flow`` (attention.new_for_run): with
        ``failing``, the run's verdict (the same on every try), else the records the shop must fix."""
        return attention.new_for_run(self.engine, flow, run_id, dag_of(run_id), failing=failing, sample=sample,
                                     bridge_id=self.bridge_id)
