"""Paid orders the warehouse has not accepted yet -> ``deliveryorder.create``, exactly once.

Per group of orders (``_Pusher``): ``sending`` is committed before the requests, the outcomes
after, each in one transaction. A run that dies between the two leaves ``sending`` behind, under a
lease its heartbeat (``LeaseKeeper``) no longer renews; the next run re-sends the SAME
deliveryOrderCode, which the warehouse answers idempotently (same code, same deliveryOrderId), so
an order is never created twice and never lost.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from contextlib import nullcontext
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pandas as pd

from qimen.answers import Verdict
from qimen.timeutil import now_beijing
from wmsbridge.shop.frames import collated
from wmsbridge.store.base import InvalidTransition, UnknownOrder
from wmsbridge.store.orders import IN_FLIGHT, NOT_DUE, RECOVERED, WAITS_FOR_PERSON, OrderOutcome
from wmsbridge.store.schema import CODE
from wmsbridge.transforms import OrderBatch, OrderSettings, build_delivery_orders
from wmsbridge.transforms.text import clean_text

from .cancels import cancelled_in_shop
from .exchange import send
from .items import plan_items, sync_items
from .leases import LeaseKeeper
from .report import RunReport
from .runtime import Bridge

log = logging.getLogger(__name__)
METHOD = "deliveryorder.create"

# The warehouse already holds these orders: only a forced resend sends them again (same code).
ACCEPTED = frozenset({"sent", "shipped", "partially_shipped"})
# Cancelled in the shop meanwhile, or being cancelled: never (re)create them.
CANCELLING = frozenset({"cancel_requested", "cancelled", "cancel_failed"})
# Where a person sees every order that waits for them (docs/data-dictionary.md).
NOT_IN_SHOP = "no SKU of the shop (deleted, or outside the profile's changed_skus query)"
WHERE_TO_LOOK = ("the WMS bridge page (Airflow menu), or wms_v_needs_person WHERE flow = 'orders'; every order: "
                 "wms_order_sync (last_error_message, violations; next_attempt_at for retryable failures)")


def order_settings(bridge: Bridge) -> OrderSettings:
    cfg, hook = bridge.config, bridge.hook_for(METHOD)
    sender = cfg.require_sender()  # ConfigError naming the missing keys: the run stops before any send
    return OrderSettings(
        warehouse_code=hook.warehouse_code,
        owner_code=hook.owner_code,
        shop_nick=cfg.shop_nick,
        sender_name=sender.name,
        sender_mobile=sender.mobile,
        sender_province=sender.province,
        sender_city=sender.city,
        sender_area=sender.area,
        sender_detail=sender.detail,
        carrier_map=dict(bridge.profile.carriers.shop_to_qimen),
        # Paid orders rarely name a carrier yet; the warehouse contract does (config), else the profile.
        default_logistics_code=cfg.default_logistics_code or bridge.profile.carriers.unknown_to_qimen,
    )


def push_orders(
    bridge: Bridge,
    *,
    paid_from_utc: datetime | None = None,
    paid_to_utc: datetime | None = None,
    order_codes: Iterable[str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    limit: int | None = None,
) -> RunReport:
    """Extract paid orders (by payment window, or by codes), transform, validate, push, record."""
    started = time.monotonic()
    report = RunReport(flow="orders", dry_run=dry_run, where_to_look=WHERE_TO_LOOK)
    settings = order_settings(bridge)
    requested = list(dict.fromkeys(order_codes)) if order_codes else None
    chunks = bridge.reader.iter_paid_orders(
        bridge.shop, paid_from_utc=paid_from_utc, paid_to_utc=paid_to_utc,
        order_codes=requested, chunk_size=bridge.config.chunk_size,
    )
    seen: set[str] = set()
    planned: dict[str, object] = {}  # dry runs: what the item sync would decide, per item code
    complete = True
    unkeyed = set() if dry_run else bridge.store.unkeyed.open_ids("orders")  # to resolve as they come back
    concurrency = bridge.config.push_concurrency
    with (nullcontext() if dry_run else LeaseKeeper(bridge.store.orders, bridge.run_id)), \
            ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="orders") as pool:
        pusher = _Pusher(bridge, pool, concurrency=concurrency)
        try:
            for orders, lines in chunks:
                seen.update(collated(c) for c in orders["order_code"].dropna())
                if limit is not None:
                    if report.extracted >= limit:
                        complete = False
                        break
                    orders = orders.head(limit - report.extracted)
                    lines = lines[lines["order_id"].isin(orders["order_id"])]
                _push_chunk(bridge, settings, orders, lines, pusher, report, force=force, planned=planned,
                            unkeyed=unkeyed)
        except Exception:
            pusher.settle()  # the answers already in are recorded before the run fails
            raise
        pusher.finish(report)
    if requested and complete:
        report.unknown_codes = [c for c in requested if collated(c) not in seen]
    if not dry_run:
        # The verdict: orders waiting for a person because of THIS run, read back from the store,
        # so a retried or cleared try (whose claims of them now fail) gives the same verdict.
        decided, sample = bridge.store.needs_person_by_run("orders", bridge.run_id)
        report.set_verdict(decided + report.refused_resends, sample)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _push_chunk(bridge: Bridge, settings: OrderSettings, orders: pd.DataFrame, lines: pd.DataFrame,
                pusher: _Pusher, report: RunReport, *, force: bool, planned: dict, unkeyed: set[str]) -> None:
    store = bridge.store
    report.extracted += len(orders)
    known = store.orders.keys(orders["order_code"].dropna().tolist())
    states = {code: row["state"] for code, row in known.items()}
    owners = {code: row["shop_order_id"] for code, row in known.items()}
    done = ACCEPTED - ({"sent"} if force else set())
    # nothing to do for an order the warehouse holds or that is being cancelled, unless its code is
    # recorded for ANOTHER shop order (the shop reused a number): that one is refused below, by name
    skip = pd.Series([states.get(code) in done | CANCELLING and owners.get(code) == str(order_id)
                      for code, order_id in zip(orders["order_code"], orders["order_id"])],
                     index=orders.index, dtype=bool)
    report.add("unchanged", n=int(skip.sum()))
    orders = orders[~skip]
    lines = lines[lines["order_id"].isin(orders["order_id"])]
    if orders.empty:
        return

    known, unsyncable, item_ids = _item_codes(bridge, lines, dry_run=report.dry_run, planned=planned)
    batch = _reject_unsyncable(
        build_delivery_orders(orders, lines, settings=settings, now=now_beijing(), known_item_codes=known,
                              item_ids=item_ids),
        unsyncable,
    )
    batch, keyless = _codes_of_other_orders(batch, owners)
    keyless += [{"shop_id": r.order_id, "shop_code": r.shop_code, "violations": list(r.violations)}
                for r in batch.rejects.itertuples() if not _recordable(r.order_code)]
    report.valid += len(batch.documents)
    for r in keyless:
        report.add("rejected", f"order id {r['shop_id']}", "; ".join(r["violations"]))
    for r in batch.rejects.itertuples():
        if _recordable(r.order_code):
            report.add("rejected", r.order_code, "; ".join(r.violations))
    for h in batch.held.itertuples():
        report.add("held", h.order_code, f"items not in the warehouse yet: {', '.join(h.missing_item_codes)}")
    if report.dry_run:
        report.would_send.extend(batch.documents["order_code"])
        report.add("sent", n=len(batch.documents))
        return

    paid = orders.set_index("order_code")["paid_at"].to_dict()
    register = pd.concat(
        [batch.documents[["order_code", "order_id"]], batch.rejects[["order_code", "order_id"]],
         batch.held[["order_code", "order_id"]]],
        ignore_index=True,
    )
    register = register[register["order_code"].map(_recordable).astype(bool)]
    # The code cannot key them (or belongs to another order): kept by shop order id; those seen
    # with a usable code again are resolved.
    store.unkeyed.record("orders", keyless, run_id=bridge.run_id)
    back = unkeyed & set(register["order_id"].map(str))
    if back:
        store.unkeyed.resolve("orders", back, run_id=bridge.run_id)
        unkeyed -= back
    store.orders.ensure_pending(
        {"delivery_order_code": r.order_code, "shop_order_id": r.order_id, "paid_at": _py(paid.get(r.order_code))}
        for r in register.itertuples()
    )
    violations: dict[str, list[str]] = {}  # per code: two shop orders sharing one are one record
    for r in batch.rejects.itertuples():
        if _recordable(r.order_code):
            violations.setdefault(r.order_code, []).extend(v for v in r.violations
                                                             if v not in violations.get(r.order_code, ()))
    moved = store.orders.mark_rejected_many({code: found for code, found in violations.items()
                                      if states.get(code) != "rejected"}, run_id=bridge.run_id)
    for code, state in moved.items():
        if state is None:
            raise UnknownOrder(code)  # registered just above: never, unless the store lost it
        _left_as_it_is(code, state)
    for code in batch.documents["order_code"]:
        # Rejected: the shop fixed the data, valid now. Failed for good (the warehouse refused it):
        # only a forced run sends it again, once a person has dealt with the reason.
        if states.get(code) == "rejected" or (force and states.get(code) in ("failed", "exists_different")):
            _unless_moved(store.orders.requeue, code, run_id=bridge.run_id)
            if states.get(code) == "rejected":
                report.fixed.append(code)

    pusher.push(batch.documents, states)


def group_size(concurrency: int) -> int:
    """Orders per claim and per recorded batch: enough to keep ``concurrency`` threads busy for
    eight round trips, so two transactions per group cost little beside the requests."""
    return max(8 * concurrency, 16)


class _Pusher:
    """Claims, sends and records the valid orders of a run, group by group.

    Per group of ``group`` orders: the shop is asked once whether any was cancelled meanwhile, the
    rest is claimed in ONE transaction, committed before any of them is sent; the pool sends them
    (the hook's limiter spaces the requests); their answers and exchange-log rows are recorded in
    ONE transaction. Up to ``DEPTH`` groups are handed to the pool before the oldest one's answers
    are awaited and recorded, so the pool does not wait on the database, nor on the extraction and
    transform of the next chunk. A run killed mid-way leaves at most ``DEPTH + 1`` groups in
    ``sending``, recovered one lease later.
    """

    DEPTH = 4

    def __init__(self, bridge: Bridge, pool: ThreadPoolExecutor, *, concurrency: int):
        self.bridge, self.store, self.pool = bridge, bridge.store, pool
        self.group = group_size(concurrency)
        self.outcomes: list[tuple[str, str, str | None]] = []  # (code, bucket, reason)
        self.refused_resends = 0
        self._in_flight: deque[list[tuple]] = deque()  # per group being sent: (document, claim, future)

    def push(self, documents: pd.DataFrame, states: dict[str, str]) -> None:
        """Send a chunk's valid documents; its last groups may still be in flight on return."""
        docs = list(documents.itertuples(index=False))
        for start in range(0, len(docs), self.group):
            self._in_flight.append(self._claim_and_send(docs[start:start + self.group], states))
            while len(self._in_flight) > self.DEPTH:
                self._record(self._in_flight.popleft())

    def _claim_and_send(self, group: list, states: dict[str, str]) -> list[tuple]:
        withdrawn = cancelled_in_shop(self.bridge, [d.order_code for d in group])  # refunded since extraction
        resends = {d.order_code for d in group if states.get(d.order_code) == "sent"}  # forced: same code
        claims = self.store.orders.claim_many(
            [d.order_code for d in group if d.order_code not in withdrawn | resends], self.bridge.run_id)
        sending = []
        for doc in group:
            code = doc.order_code
            if code in withdrawn:
                self.outcomes.append((code, "unchanged", None))
            elif code in resends or claims[code].owned:
                sending.append((doc, claims.get(code), self.pool.submit(self._send, doc)))
            else:
                self.outcomes.append((code, *_unclaimed(claims[code])))
        return sending

    def _send(self, doc) -> tuple:
        """One order in a pool thread: the exchange and its exchange-log row, recorded later."""
        logged: list[dict] = []
        exchange = send(self.bridge, METHOD, doc.order_code, doc.body,
                        log=lambda **row: logged.append({**row, "logged_at": self.store.clock()}))
        return exchange, logged[0]

    def settle(self) -> None:
        """Wait for every group in flight and record its answers."""
        while self._in_flight:
            self._record(self._in_flight.popleft())

    def _record(self, in_flight: list[tuple]) -> None:
        """Wait for one group's answers and record them in one transaction."""
        if not in_flight:
            return
        # a send that raised (not a warehouse answer: a bug) fails the run here; its group stays
        # in ``sending`` and is recovered one lease later
        answered = [_decide(doc, claim, *future.result()) for doc, claim, future in in_flight]
        refused = self.store.orders.record_order_outcomes([o for o, _, _ in answered], run_id=self.bridge.run_id)
        for (doc, claim, _), (outcome, bucket, reason) in zip(in_flight, answered):
            if claim is None and bucket == "needs_person" and outcome.state is None:  # a resend refused for good
                self.refused_resends += 1
            if outcome.code in refused:
                # This run lost the order while its request was out (it stalled past its lease and
                # another run took over, or the shop cancelled it): the other side records the outcome.
                current = refused[outcome.code]
                log.warning("%s: the order is %s now; left to the run that holds it", outcome.code, current)
                bucket, reason = "unchanged", f"taken over meanwhile ({current})"
            self.outcomes.append((outcome.code, bucket, reason))

    def finish(self, report: RunReport) -> None:
        self.settle()
        for code, bucket, reason in self.outcomes:
            report.add(bucket, code, reason)
        report.refused_resends += self.refused_resends


def _decide(doc, claim, exchange, logged: dict) -> tuple[OrderOutcome, str, str | None]:
    """What an answer means for the order: (what to record with its exchange-log row ``logged``,
    report bucket, reason)."""
    code, verdict = doc.order_code, exchange.verdict
    resend = claim is None  # a forced resend of an accepted order: it stays accepted whatever the answer
    reason = f"{verdict.value}: {exchange.error_message}"
    if verdict.done:
        if verdict is Verdict.EXISTS_SAME:
            log.info("%s: the warehouse already had this order (%s)", code, exchange.error_message)
        wms_id = exchange.response.fields.get("deliveryOrderId") if exchange.response else None
        recovered = claim is not None and claim.outcome == RECOVERED
        return (OrderOutcome(code, None if resend else "sent", logged, wms_order_id=wms_id,
                             content_hash=doc.content_hash), "recovered" if recovered else "sent", None)
    if verdict is Verdict.EXISTS_DIFFERENT:
        # First send or forced resend: the warehouse keeps another version. Never "sent".
        return (OrderOutcome(code, "exists_different", logged, error_code=exchange.error_code,
                             error_message=exchange.error_message), "needs_person", reason)
    if resend:
        # The warehouse still holds the order it accepted; only this resend was refused.
        return OrderOutcome(code, None, logged), _bucket(verdict), f"forced resend: {reason}"
    return (OrderOutcome(code, "failed", logged, error_code=exchange.error_code, error_message=exchange.error_message,
                         retryable=verdict is Verdict.PASSING, attempts=(claim.row or {}).get("attempts", 1)),
            _bucket(verdict), reason)


def _unless_moved(change, code: str, *args, **kwargs) -> None:
    """Record a decision read from this run's snapshot of the states, unless another run (a second
    push at the same time) has moved the order since: it decided the same, or holds it now."""
    try:
        change(code, *args, **kwargs)
    except InvalidTransition as err:
        _left_as_it_is(code, err.current)


def _left_as_it_is(code: str, state: str) -> None:
    log.info("%s: %s meanwhile, by another run; left as it is", code, state)


def _unclaimed(claim) -> tuple[str, str | None]:
    """Why this run does not send an order, as (bucket, reason): nothing is folded into "unchanged"
    that waits for a retry or a person."""
    row = claim.row or {}
    if claim.outcome == NOT_DUE:
        due = row.get("next_attempt_at")
        return "retry_waiting", (f"{row.get('last_error_code')}: next attempt after "
                                 f"{due:%Y-%m-%d %H:%M:%S} UTC (attempts so far {row.get('attempts')})"
                                 if due else str(row.get("last_error_code")))
    if claim.outcome == IN_FLIGHT:
        return "held", f"being sent by run {row.get('run_id')} (lease until {row.get('lease_expires_at')})"
    if claim.outcome == WAITS_FOR_PERSON:
        return "needs_person", (f"{row.get('state')} since run {row.get('run_id')}: "
                                f"{row.get('last_error_message')}")
    return "unchanged", None


def _recordable(code) -> bool:
    """A code wms_order_sync can key: present and within its column (a longer one is rejected by
    the rules anyway; the report names it by shop order id)."""
    return isinstance(code, str) and len(code) <= CODE


def _bucket(verdict: Verdict) -> str:
    return "retry_waiting" if verdict is Verdict.PASSING else "needs_person"


def _item_codes(bridge: Bridge, lines: pd.DataFrame, *, dry_run: bool, planned: dict
                ) -> tuple[set[str], dict[str, str], dict[str, str]]:
    """Item codes the warehouse knows (or, in a dry run, would know), why the others can never be
    sent, and the warehouse's itemId per known code (order lines carry it).

    Codes never tried, or failed, are synchronized first, so the warehouse never sees an unknown
    itemCode. A code that then failed for a passing reason holds its orders. One our rules rejected,
    or that is no SKU of the shop (a deleted product an old order still names), rejects them:
    waiting would not help. The latter is recorded as rejected in wms_item_sync, so the next run
    does not scan the shop for it again; the item flow picks it up if the shop restores it. A dry
    run makes the same decisions from what the item sync would do (``plan_items``), sending and
    writing nothing.
    """
    # as the transforms send them (and the item flow keys them): cleaned of stray spaces and controls
    lines = lines.assign(item_code=clean_text(lines["item_code"]).astype(object))
    codes = set(lines["item_code"].dropna())
    rows = bridge.store.items.rows(codes)
    missing = {c for c in codes if rows.get(c, {}).get("state") not in ("synced", "rejected")}
    if missing and dry_run:
        unplanned = missing - planned.keys()
        if unplanned:
            planned.update(dict.fromkeys(unplanned, _NO_SKU))
            planned.update(plan_items(bridge, unplanned))
    elif missing:
        log.info("synchronizing %d SKUs the warehouse does not know yet", len(missing))
        sync_items(bridge, item_codes=missing)
        rows = bridge.store.items.rows(codes)
        sku_ids = lines.drop_duplicates("item_code").set_index("item_code")["sku_id"]
        for code in sorted(missing - set(rows)):
            bridge.store.items.record_rejected(
                code, [f"itemCode: {NOT_IN_SHOP}"], sku_id=sku_ids.get(code), run_id=bridge.run_id)
        rows = bridge.store.items.rows(codes) if missing - set(rows) else rows
    synced = {c for c, row in rows.items() if row.get("state") == "synced"}
    item_ids = {c: row["wms_item_id"] for c, row in rows.items() if c in synced and row.get("wms_item_id")}
    unsyncable, would_sync = {}, set()
    for code in codes - synced:
        if dry_run and code in missing:
            reason = planned[code]
            if reason is _NO_SKU:
                unsyncable[code] = f"item {code} was rejected: itemCode: {NOT_IN_SHOP}"
            elif reason is not None:
                unsyncable[code] = f"item {code} was rejected: {_clip(reason)}"
            else:
                would_sync.add(code)
            continue
        row = rows.get(code)
        if row is None:
            unsyncable[code] = f"item {code} is no SKU of the shop"
        elif row.get("state") == "rejected":
            unsyncable[code] = f"item {code} was rejected: {row.get('last_error_message')}"
    return synced | would_sync, unsyncable, item_ids


# planned outcome of a code the shop has no SKU for
_NO_SKU = object()


def _clip(message: str, limit: int = 4000) -> str:
    """As the store clips an item's last_error_message (store.base.MESSAGE_MAX): a dry run names
    the same reason as the real run."""
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _reject_unsyncable(batch: OrderBatch, unsyncable: dict[str, str]) -> OrderBatch:
    """Held orders waiting for an item that will never reach the warehouse become rejects."""
    if not unsyncable or batch.held.empty:
        return batch
    doomed = batch.held["missing_item_codes"].map(lambda codes: any(c in unsyncable for c in codes))
    rejects = batch.held[doomed].assign(violations=batch.held[doomed]["missing_item_codes"].map(
        lambda codes: [f"orderLines.itemCode: {unsyncable[c]}" for c in codes if c in unsyncable]))
    return OrderBatch(
        documents=batch.documents,
        rejects=pd.concat([batch.rejects, rejects.assign(shop_code=rejects["order_code"])[
            ["order_code", "order_id", "violations", "shop_code"]]], ignore_index=True),
        held=batch.held[~doomed].reset_index(drop=True),
    )


def _codes_of_other_orders(batch: OrderBatch, owners: dict[str, str]) -> tuple[OrderBatch, list[dict]]:
    """The batch without the orders whose code the store already holds for ANOTHER shop order (a
    whitespace twin in an earlier chunk or run, or a number the shop reused), and those orders as
    unkeyed records. Sent, the warehouse would answer "already exists" and the claim would count it
    as accepted; rejected, the other order's row would be marked: this order would be lost without
    a word. Twins within one chunk are rejected by the transform (both of them)."""
    def taken(frame: pd.DataFrame) -> pd.Series:
        return pd.Series([code in owners and owners[code] != str(order_id)
                          for code, order_id in zip(frame["order_code"], frame["order_id"])],
                         index=frame.index, dtype=bool)

    if not owners:
        return batch, []
    masks = {name: taken(getattr(batch, name)) for name in ("documents", "rejects", "held")}
    lost = []
    for name, mask in masks.items():
        for r in getattr(batch, name)[mask].itertuples():
            lost.append({"shop_id": r.order_id, "shop_code": r.order_code, "violations": [
                f"deliveryOrder.deliveryOrderCode: {r.order_code!r} is already recorded for another shop order "
                f"(id {owners[r.order_code]}: a twin code, or the shop reused the number)",
                *(r.violations if name == "rejects" else ())]})
    if not lost:
        return batch, []
    return OrderBatch(**{name: getattr(batch, name)[~mask].reset_index(drop=True)
                         for name, mask in masks.items()}), lost


def _py(value):
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()
