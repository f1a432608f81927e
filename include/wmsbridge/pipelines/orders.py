"""Paid orders the warehouse has not accepted yet -> ``deliveryorder.create``, exactly once.

Per order, in its own small transaction: ``sending`` is committed before the request; the outcome
and the exchange row after the answer, batched with other orders' (``store.outcomes``). A run
that dies between the two leaves ``sending`` behind; the next attempt re-sends the
SAME deliveryOrderCode, which the warehouse answers idempotently (same code, same
deliveryOrderId), so an order is never created twice and never lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pandas as pd

from qimen.answers import Verdict
from qimen.timeutil import now_beijing
from wmsbridge.store.outcomes import OutcomeWriter
from wmsbridge.transforms import OrderBatch, OrderSettings, build_delivery_orders

from .exchange import Exchange, send
from .items import sync_items
from .report import RunReport

log = logging.getLogger(__name__)
METHOD = "deliveryorder.create"

# The warehouse already holds these orders: only a forced resend sends them again (same code).
ACCEPTED = frozenset({"sent", "shipped", "partially_shipped"})
# Cancelled in the shop meanwhile, or being cancelled: never (re)create them.
CANCELLING = frozenset({"cancel_requested", "cancelled", "cancel_failed"})
# Where a person sees every order that waits for them (docs/data-dictionary.md).
WHERE_TO_LOOK = "wms_order_sync WHERE state IN ('rejected', 'failed') (last_error_message, violations)"


def order_settings(bridge) -> OrderSettings:
    cfg, hook = bridge.config, bridge.hook_for(METHOD)
    return OrderSettings(
        warehouse_code=hook.warehouse_code,
        owner_code=hook.owner_code,
        shop_nick=cfg.shop_nick,
        sender_name=cfg.sender.name,
        sender_mobile=cfg.sender.mobile,
        sender_province=cfg.sender.province,
        sender_city=cfg.sender.city,
        sender_area=cfg.sender.area,
        sender_detail=cfg.sender.detail,
        carrier_map=dict(bridge.profile.carriers.shop_to_qimen),
        # Paid orders rarely name a carrier yet; the warehouse contract does (config), else the profile.
        default_logistics_code=cfg.default_logistics_code or bridge.profile.carriers.unknown_to_qimen,
    )


def push_orders(
    bridge,
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
    chunks = bridge.reader.iter_paid_orders(
        bridge.shop, paid_from_utc=paid_from_utc, paid_to_utc=paid_to_utc,
        order_codes=list(order_codes) if order_codes else None, chunk_size=bridge.config.chunk_size,
    )
    with ThreadPoolExecutor(max_workers=bridge.config.push_concurrency, thread_name_prefix="orders") as pool:
        for orders, lines in chunks:
            if limit is not None:
                if report.extracted >= limit:
                    break
                orders = orders.head(limit - report.extracted)
                lines = lines[lines["order_id"].isin(orders["order_id"])]
            _push_chunk(bridge, settings, orders, lines, pool, report, force=force)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _push_chunk(bridge, settings, orders: pd.DataFrame, lines: pd.DataFrame, pool, report: RunReport,
                *, force: bool) -> None:
    store = bridge.store
    report.extracted += len(orders)
    states = store.order_states(orders["order_code"].dropna().tolist())
    done = ACCEPTED - ({"sent"} if force else set())
    skip = orders["order_code"].map(lambda c: states.get(c) in done or states.get(c) in CANCELLING)
    report.add("unchanged", n=int(skip.sum()))
    orders = orders[~skip]
    lines = lines[lines["order_id"].isin(orders["order_id"])]
    if orders.empty:
        return

    known, unsyncable = _item_codes(bridge, lines, sync_missing=not report.dry_run)
    batch = _reject_unsyncable(
        build_delivery_orders(orders, lines, settings=settings, now=now_beijing(), known_item_codes=known), unsyncable
    )
    report.valid += len(batch.documents)
    for r in batch.rejects.itertuples():
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
    ).dropna(subset=["order_code"])
    store.ensure_pending(
        {"delivery_order_code": r.order_code, "shop_order_id": r.order_id, "paid_at": _py(paid.get(r.order_code))}
        for r in register.itertuples()
    )
    for r in batch.rejects.itertuples():
        if pd.notna(r.order_code) and states.get(r.order_code) != "rejected":
            store.mark_rejected(r.order_code, list(r.violations), run_id=bridge.run_id)
    for code in batch.documents["order_code"]:
        # Rejected: the shop fixed the data, valid now. Failed for good (the warehouse refused it):
        # only a forced run sends it again, once a person has dealt with the reason.
        if states.get(code) == "rejected" or (force and states.get(code) == "failed"):
            store.requeue(code, run_id=bridge.run_id)

    def push(doc) -> tuple[str, str, str | None]:
        """One order: claim, send, record. Returns (code, outcome bucket, reason)."""
        resend = states.get(doc.order_code) == "sent"  # forced: same code, the warehouse dedups
        if not resend and not store.claim_for_sending(doc.order_code, bridge.run_id):
            return doc.order_code, "unchanged", None  # another run holds it, or it is already accepted
        exchange = send(bridge, METHOD, doc.order_code, doc.body, log=outcomes.log_exchange)
        verdict = exchange.verdict
        if verdict.done:
            if not resend:
                wms_id = exchange.response.fields.get("deliveryOrderId") if exchange.response else None
                outcomes.mark_sent(doc.order_code, wms_id, content_hash=doc.content_hash, run_id=bridge.run_id)
            if verdict is Verdict.EXISTS_SAME:
                log.info("%s: the warehouse already had this order (%s)", doc.order_code, exchange.error_message)
            return doc.order_code, "sent", None
        if resend:
            # The warehouse keeps its own (older) version of an order it accepted: still accepted.
            return doc.order_code, _bucket(verdict), f"{verdict.value}: {exchange.error_message}"
        outcomes.mark_failed(doc.order_code, exchange.error_code, exchange.error_message,
                             verdict is Verdict.PASSING, run_id=bridge.run_id)
        return doc.order_code, _bucket(verdict), f"{verdict.value}: {exchange.error_message}"

    # The claim stays per order and first; the exchange row and the outcome after the answer are
    # written in batches by one thread (store/outcomes.py), all of them before this chunk ends.
    with OutcomeWriter(store) as outcomes:
        for code, outcome, reason in pool.map(push, batch.documents.itertuples(index=False)):
            report.add(outcome, code, reason)


def _bucket(verdict: Verdict) -> str:
    return "retry_waiting" if verdict is Verdict.PASSING else "needs_person"


def _item_codes(bridge, lines: pd.DataFrame, *, sync_missing: bool) -> tuple[set[str], dict[str, str]]:
    """Item codes the warehouse knows, and why the others can never be sent.

    Missing codes are synchronized first, so the warehouse never sees an unknown itemCode. A code
    that then failed for a passing reason holds its orders; one our rules rejected, or that is no
    SKU of the shop at all, rejects them: waiting would not help.
    """
    codes = set(lines["item_code"].dropna())
    rows = bridge.store.items(codes)
    synced = {c for c, row in rows.items() if row.get("state") == "synced"}
    missing = codes - synced
    if missing and sync_missing:
        log.info("synchronizing %d SKUs the warehouse does not know yet", len(missing))
        sync_items(bridge, item_codes=missing)
        rows = bridge.store.items(codes)
        synced = {c for c, row in rows.items() if row.get("state") == "synced"}
    if not sync_missing:
        return synced, {}
    unsyncable = {}
    for code in codes - synced:
        row = rows.get(code)
        if row is None:
            unsyncable[code] = f"item {code} is no SKU of the shop"
        elif row.get("state") == "rejected":
            unsyncable[code] = f"item {code} was rejected: {row.get('last_error_message')}"
    return synced, unsyncable


def _reject_unsyncable(batch: OrderBatch, unsyncable: dict[str, str]) -> OrderBatch:
    """Held orders waiting for an item that will never reach the warehouse become rejects."""
    if not unsyncable or batch.held.empty:
        return batch
    doomed = batch.held["missing_item_codes"].map(lambda codes: any(c in unsyncable for c in codes))
    rejects = batch.held[doomed].assign(violations=batch.held[doomed]["missing_item_codes"].map(
        lambda codes: [f"orderLines.itemCode: {unsyncable[c]}" for c in codes if c in unsyncable]))
    return OrderBatch(
        documents=batch.documents,
        rejects=pd.concat([batch.rejects, rejects[["order_code", "order_id", "violations"]]], ignore_index=True),
        held=batch.held[~doomed].reset_index(drop=True),
    )


def _py(value):
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()
