"""Stored ``deliveryorder.confirm`` messages -> the order record and the shop, each exactly once.

The receiver only stores; this flow applies, oldest first:

- a partial confirmation (``confirmType=1``, PARTDELIVERED) is recorded (tracking numbers kept,
  order ``partially_shipped``) without closing the order in the shop;
- a final one closes it: the shop's own ``ship`` statement gets every parcel's tracking number
  (joined the way the profile says), the carrier mapped back to the shop's code, and the ship
  time in the shop's zone. The ``ship`` statement also matches an order already shipped with the
  same numbers, so applying a confirmation twice changes nothing;
- EXCEPTION / REJECT / an unrequested CANCELED, and anything the shop refuses, wait for a person;
- a confirmation for an order we have no (sent) record of is kept ``waiting`` and tried again by
  every run, counted as retry-waiting (and as needing a person once it has waited too long).

A group of ``GROUP`` confirmations is one store transaction (a Double-11 day posts tens of
thousands): its inbox rows claimed (``ConfirmationInbox.claim``: two runs at once never apply the
same row), one read each of their orders (locked), of every confirmation of those orders and of
their packages; then each confirmation is decided in receipt order against those rows as the
earlier ones left them (``_Group``), so several of one order behave as if applied one after the
other; then one write of the orders and one of the inbox per outcome. The shop's shipments go in
one shop transaction per group (``ShopWriter.write_shipments``; one more when an order comes again
after its shipment, ``_Group.flush``), committed before the store's: a crash in between leaves the
confirmations due, and applying them again finds the shop already shipped with the same numbers.
Where the store lives in the shop's database, the shop's writes share the store's transaction.
A group that fails is applied again row by row, so one bad row costs only itself.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wmsbridge.shop.carriers import UnknownCarrierError
from wmsbridge.shop.checks import is_refused_by_trigger
from wmsbridge.shop.profile import ProfileError
from wmsbridge.shop.writer import Shipment, ShopWriter
from wmsbridge.store import StoreError
from wmsbridge.store.confirmations import Settlement
from wmsbridge.store.dialect_sql import batches
from wmsbridge.store.orders import cancel_changes, ship_changes, shop_written_changes
from wmsbridge.store.states import SHIPMENT_ALARM_STATUSES

from .report import RunReport
from .runtime import Bridge

log = logging.getLogger(__name__)

WHERE_TO_LOOK = ("the WMS bridge page (Airflow menu), or wms_v_needs_person WHERE flow = 'shipments'; "
                 "every confirmation: wms_shipment_inbox (state, process_error, raw_body)")
SHIPPED = ("DELIVERED", "PARTDELIVERED")
NOT_YET = ("NEW", "ACCEPT")  # the warehouse reports progress, nothing has left yet
BATCH = 500
GROUP = 100  # confirmations per store transaction (and per shop transaction)
_EARLIEST_SHIPMENT = datetime(2000, 1, 1, tzinfo=timezone.utc)  # before: an unset clock, not a ship time
# Errors that say a database cannot be used right now (down, a lock, a profile's SQL mistake), not
# that one row is bad: they fail the run and leave every confirmation not yet applied due.
_PASSING = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError, sa.exc.TimeoutError,
            ProfileError)


class _Outcome(Exception):
    """How one confirmation ended: inbox state, report bucket, reason."""

    def __init__(self, state: str, bucket: str, reason: str | None = None, *, overdue: bool = False) -> None:
        super().__init__(reason)
        self.state, self.bucket, self.reason, self.overdue = state, bucket, reason, overdue


APPLIED = _Outcome("applied", "sent")
TAKEN_BY_ANOTHER_RUN = _Outcome("received", "held", "another wms_shipments run took it meanwhile")


def apply_shipments(bridge: Bridge, *, limit: int | None = None) -> RunReport:
    """Apply every due confirmation (``received`` and ``waiting``), at most ``limit``. The run fails
    for the confirmations it newly found for a person (an alarm, a refusal, one waiting past
    ``shipment_waiting_alert_hours``), never again for those earlier runs found."""
    started = time.monotonic()
    report = RunReport(flow="shipments", where_to_look=WHERE_TO_LOOK)
    inbox = bridge.store.confirmations
    writer = ShopWriter(bridge.profile)
    due = inbox.due(min(limit or BATCH, BATCH))
    report.extracted = report.valid = len(due)
    for group in batches(due, GROUP):
        for row, outcome in _apply_group_or_each(bridge, writer, list(group)):
            report.add(outcome.bucket, f"{row['delivery_order_code']} ({row['out_biz_code']})", outcome.reason)
    report.set_verdict(*bridge.store.needs_person_by_run("shipments", bridge.run_id))
    counts = inbox.counts()
    report.notes.append(f"inbox now: {counts['waiting']} waiting, {counts['needs_person']} for a person")
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _apply_group_or_each(bridge: Bridge, writer: ShopWriter, rows: list[dict]) -> list[tuple[dict, _Outcome]]:
    """A group in one transaction; should it fail, each of its rows in a transaction of its own, so
    the good rows are applied and only a row that fails alone waits for a person, with the error."""
    if len(rows) > 1:
        try:
            return _apply_group(bridge, writer, rows)
        except Exception as err:  # noqa: BLE001 - whatever it was, the rows one by one tell which
            log.warning("a group of %d confirmations failed (%s: %s); applying them one by one",
                        len(rows), type(err).__name__, err)
    return [result for row in rows for result in _apply_alone(bridge, writer, row)]


def _apply_alone(bridge: Bridge, writer: ShopWriter, row: dict) -> list[tuple[dict, _Outcome]]:
    try:
        return _apply_group(bridge, writer, [row])
    except _PASSING as err:
        if not is_refused_by_trigger(err):
            raise
        failed = _Outcome("needs_person", "needs_person", f"could not be applied: the database refused it: {err.orig}")
        return _settle_alone(bridge, row, failed)
    except Exception as err:  # noqa: BLE001 - this row alone fails: a person looks at it
        log.exception("confirmation %s (%s) could not be applied", row["out_biz_code"], row["delivery_order_code"])
        failed = _Outcome("needs_person", "needs_person", f"could not be applied: {type(err).__name__}: {err}")
        return _settle_alone(bridge, row, failed)


def _settle_alone(bridge: Bridge, row: dict, failed: _Outcome) -> list[tuple[dict, _Outcome]]:
    """A row that fails alone: settled for a person, unless another run applied it meanwhile."""
    inbox = bridge.store.confirmations
    with bridge.store.engine.begin() as conn:
        claimed = inbox.claim(conn, [row])  # still ours: no other run applied it meanwhile
        inbox.settle_many(conn, {r["id"]: r for r in claimed},
                          [Settlement(r["id"], failed.state, failed.reason) for r in claimed], run_id=bridge.run_id)
    return [(row, failed if claimed else TAKEN_BY_ANOTHER_RUN)]


def _apply_group(bridge: Bridge, writer: ShopWriter, rows: list[dict]) -> list[tuple[dict, _Outcome]]:
    """Apply ``rows`` (as ``due`` read them) in one store transaction; each row with its outcome.
    Rows another run claimed meanwhile are left to it (``held``)."""
    store, inbox = bridge.store, bridge.store.confirmations
    with store.engine.begin() as conn:
        claimed = inbox.claim(conn, rows)
        codes = {row["delivery_order_code"] for row in claimed}
        group = _Group(bridge, writer, conn, store.clock(),
                       orders=store.orders.lock(conn, codes),
                       confirmations=inbox.confirmations_of_orders(conn, codes),
                       packages=inbox.packages_of_orders(conn, codes))
        for row in claimed:
            group.apply(row)
        group.flush()
        store.orders.write(conn, group.order_changes)
        inbox.settle_many(conn, {row["id"]: row for row in claimed},
                          [Settlement(i, o.state, o.reason, o.overdue) for i, o in group.outcomes.items()],
                          run_id=bridge.run_id)
    return [(row, group.outcomes.get(row["id"], TAKEN_BY_ANOTHER_RUN)) for row in rows]


@dataclass
class _Pending:
    """A final confirmation whose shipment waits for the group's next shop write."""

    row: dict
    order: dict
    shipment: Shipment
    tracking: list[str]


class _Group:
    """One transaction's confirmations, decided in receipt order against the rows read for them:
    every decision changes these rows in memory (``order_changes`` collects what to write), so the
    next confirmation of the same order sees what the earlier one left, as if applied one by one."""

    def __init__(self, bridge: Bridge, writer: ShopWriter, conn: Connection, now: datetime, *, orders: dict,
                 confirmations: dict, packages: dict) -> None:
        self.bridge, self.writer, self.conn, self.now = bridge, writer, conn, now
        self.alert_after = timedelta(hours=bridge.config.shipment_waiting_alert_hours)
        self.orders = orders                # code -> wms_order_sync row, locked
        self.confirmations = confirmations  # code -> every inbox row of the order, oldest first
        self.packages = packages            # inbox id -> its package rows
        self.order_changes: dict[str, dict] = {}
        self.outcomes: dict[int, _Outcome] = {}  # inbox id -> how it ended
        self.pending: dict[str, _Pending] = {}   # code -> its shipment for the shop

    def apply(self, row: dict) -> None:
        """Decide one confirmation; a final one's shipment waits for the next ``flush``."""
        if row["delivery_order_code"] in self.pending:
            self.flush()  # what the shop said about the earlier one decides this one
        try:
            pending = _apply(self, row)
        except _Outcome as done:
            self.outcomes[row["id"]] = done
            return
        if pending is None:
            self.outcomes[row["id"]] = APPLIED
        else:
            self.pending[row["delivery_order_code"]] = pending

    def flush(self) -> None:
        """Write the waiting shipments to the shop in one transaction and settle their rows."""
        if not self.pending:
            return
        pending, self.pending = list(self.pending.values()), {}
        with self._shop() as shop:
            taken = self.writer.write_shipments(shop, [p.shipment for p in pending], now_utc=self.now)
        for p, ok in zip(pending, taken):
            if not ok:
                self.outcomes[p.row["id"]] = _Outcome(
                    "needs_person", "needs_person",
                    f"the shop refused the shipment of order {p.order['shop_order_id']} (not paid and unshipped, "
                    "deleted, or shipped with other tracking numbers)")
                continue
            self.change(p.order, shop_written_changes(p.order, now=self.now, run_id=self.bridge.run_id))
            self.outcomes[p.row["id"]] = APPLIED
            s = p.shipment
            log.info("%s shipped in the shop: %s %s%s", p.order["delivery_order_code"], s.carrier_shop_code,
                     s.tracking_no, f" (parcels {', '.join(p.tracking)})" if len(p.tracking) > 1 else "")

    def change(self, order: dict, values: dict) -> None:
        """Change an order (in memory now, written with the group)."""
        order.update(values)
        self.order_changes.setdefault(order["delivery_order_code"], {}).update(values)

    def state_of(self, confirmation: dict) -> str:
        """A confirmation's state as this group left it so far."""
        done = self.outcomes.get(confirmation["id"])
        return done.state if done is not None else confirmation["state"]

    def packages_of(self, inbox_ids) -> list[dict]:
        return [p for i in sorted(inbox_ids) for p in self.packages.get(i, ())]

    def _shop(self):
        """The shop's transaction: the store's own where both are one database (SQLite allows one
        writer; it is us), else one of the shop's, committed at once."""
        if _same_database(self.bridge.shop, self.bridge.store.engine):
            return nullcontext(self.conn)
        return self.bridge.shop.begin()


def _same_database(shop: Engine, store: Engine) -> bool:
    """One database: the same engine (one per URL), or two URLs of one SQLite file."""
    if shop is store:
        return True
    a, b = shop.url, store.url
    return (a.get_backend_name() == b.get_backend_name() == "sqlite" and bool(a.database) and bool(b.database)
            and os.path.realpath(a.database) == os.path.realpath(b.database))


def _apply(group: _Group, row: dict) -> _Pending | None:
    """Decide one confirmation; raises ``_Outcome`` for anything but a plain success, returns the
    shipment a final one still has to write to the shop."""
    code, now = row["delivery_order_code"], group.now
    status = (row["status"] or "").upper()
    order = group.orders.get(code)
    if order is None:
        waited = now - row["received_at"]
        overdue = waited > group.alert_after
        raise _Outcome("waiting", "needs_person" if overdue else "retry_waiting",
                       f"no order {code} in wms_order_sync (not sent by us, or not recorded yet); "
                       f"kept and tried again (waiting {_hours(waited)})", overdue=overdue)
    state = order["state"]
    if status in SHIPMENT_ALARM_STATUSES:
        if status == "CANCELED" and state in ("cancel_requested", "cancelled"):
            if state == "cancel_requested":
                group.change(order, cancel_changes(order, now=now, run_id=group.bridge.run_id))
            return None  # the cancellation we asked for
        raise _Outcome("needs_person", "needs_person", f"the warehouse reports {status} (our order is {state})")
    if status in NOT_YET:
        raise _Outcome("applied", "unchanged", f"status {status}: nothing has shipped yet")
    if status and status not in SHIPPED:
        raise _Outcome("needs_person", "needs_person", f"status {status} is not a shipment (our order is {state})")
    if state in ("pending", "rejected"):
        raise _Outcome("waiting", "retry_waiting",
                       f"our order {code} is {state}, not sent yet: kept and tried again")
    if state == "cancelled":
        raise _Outcome("needs_person", "needs_person", "shipped although the order was cancelled")

    if not (row["confirm_type"] == 1 or status == "PARTDELIVERED"):
        return _close(group, row, order)
    packages = group.packages_of([row["id"]])
    tracking = _tracking(packages)
    carrier = _carrier(packages, order)
    # a partial confirmation: recorded, the order stays open in the shop
    if state == "shipped":
        known = set((order["tracking_numbers"] or "").split(","))
        extra = [n for n in tracking if n not in known]
        if extra:
            raise _Outcome("needs_person", "needs_person",
                           f"a partial confirmation with parcels {', '.join(extra)} arrived after the order "
                           "was closed; add them in the shop by hand")
        raise _Outcome("applied", "unchanged", "partial confirmation after the final one")
    try:
        group.change(order, ship_changes(order, carrier_code=carrier, tracking_numbers=tracking,
                                         shipped_at=ship_time(row), now=now, partial=True))
    except StoreError as err:
        raise _Outcome("needs_person", "needs_person", str(err)) from None
    return None


def _close(group: _Group, row: dict, order: dict) -> _Pending:
    """A final confirmation: record it, and the shipment for the shop, every parcel included."""
    code, profile = row["delivery_order_code"], group.bridge.profile
    shipped_ids = [r["id"] for r in group.confirmations.get(code, ())
                   if (r["status"] or "").upper() not in SHIPMENT_ALARM_STATUSES and group.state_of(r) != "needs_person"]
    packages = group.packages_of({*shipped_ids, row["id"]})  # this confirmation's among them
    carrier = _carrier([p for p in packages if p["inbox_id"] == row["id"]], order)
    tracking = _tracking(packages)
    carrier_name = next((p["logistics_name"] for p in packages if p["logistics_name"]), None)
    shipped_at = ship_time(row)
    if order["state"] != "shipped":
        try:
            group.change(order, ship_changes(order, carrier_code=carrier, tracking_numbers=tracking,
                                             shipped_at=shipped_at, now=group.now))
        except StoreError as err:
            raise _Outcome("needs_person", "needs_person", str(err)) from None
    elif order["shop_written_at"] is not None and set(tracking) <= set((order["tracking_numbers"] or "").split(",")):
        raise _Outcome("applied", "unchanged", "already written to the shop")
    if not tracking:
        raise _Outcome("needs_person", "needs_person", "a final confirmation without any expressCode")
    # Every parcel is in the store (tracking_numbers, wms_shipment_package); the shop gets them all
    # joined, or the first one where it looks a number up whole (profile shipment.tracking: first).
    text = tracking[0] if profile.tracking == "first" else profile.tracking_separator.join(tracking)
    if profile.tracking_max_length and len(text) > profile.tracking_max_length:
        raise _Outcome("needs_person", "needs_person",
                       f"{len(tracking)} tracking numbers ({text}) do not fit the shop's "
                       f"{profile.tracking_max_length} characters; enter them by hand")
    try:
        shop_carrier = profile.carriers.to_shop(carrier, carrier_name)
    except UnknownCarrierError as err:
        raise _Outcome("needs_person", "needs_person",
                       f"{err} ({profile.source.name}: carriers.codes, aliases or names)") from None
    return _Pending(row, order, Shipment(order["shop_order_id"], text, shop_carrier, shipped_at, carrier_name),
                    tracking)


def ship_time(row: dict) -> datetime:
    """When the parcel left: the confirmation's ``orderConfirmTime`` when it is plausible (not after
    the message arrived, give or take a day of clock skew; not before 2000), else when it arrived."""
    confirmed, received = row["order_confirm_at"], row["received_at"]
    if confirmed is None or not _EARLIEST_SHIPMENT <= confirmed <= received + timedelta(days=1):
        return received
    return confirmed


def _carrier(packages: list[dict], order: dict) -> str | None:
    """The carrier a confirmation names (its first package that has one), else the order's."""
    return next((p["logistics_code"] for p in packages if p["logistics_code"]), None) or order["carrier_code"]


def _tracking(packages: list[dict]) -> list[str]:
    """Tracking numbers of package rows (one row per package and item), in order, once each."""
    return list(dict.fromkeys(p["express_code"] for p in packages if p["express_code"]))


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"
