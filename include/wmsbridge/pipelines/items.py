"""SKUs new or changed in the shop -> ``singleitem.synchronize``, recorded in wms_item_sync."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pandas as pd

from qimen.answers import Verdict
from wmsbridge.store.schema import CODE
from wmsbridge.transforms import build_item_documents
from wmsbridge.transforms.text import clean_text

from .exchange import send
from .report import RunReport
from .runtime import Bridge

log = logging.getLogger(__name__)
METHOD = "singleitem.synchronize"
CURSOR = "items"  # wms_cursor.flow


def known_items(bridge: Bridge, item_codes: Iterable[str]) -> pd.DataFrame:
    """What the warehouse already has: itemId for every code it accepted once, the hash of the
    content last synced for the ones in ``synced`` state (others must be sent again)."""
    rows = bridge.store.items.rows(item_codes)
    data = [
        {
            "item_code": code,
            "wms_item_id": row.get("wms_item_id"),
            "content_hash": row.get("content_hash") if row.get("state") == "synced" else None,
        }
        for code, row in rows.items()
        if row.get("wms_item_id") or row.get("state") == "synced"
    ]
    return pd.DataFrame(data, columns=["item_code", "wms_item_id", "content_hash"])


def sync_items(
    bridge: Bridge,
    *,
    since_utc: datetime | None = None,
    item_codes: Iterable[str] | None = None,
    dry_run: bool = False,
    use_cursor: bool = False,
    full: bool = False,
) -> RunReport:
    """Synchronize SKUs changed since ``since_utc`` (all when None), or only ``item_codes``.

    ``use_cursor``: start from the store's ``items`` cursor (wms_cursor, less the configured
    overlap for transactions still open then) and, after a complete real run, move it to the
    moment this run started reading; ``full`` reads every SKU but still moves it. Dry runs and runs limited to ``item_codes`` never move it, so
    no SKU changed since the last real sync can be skipped by them.

    SKUs the last runs could not deliver are older than any watermark, so a failed one in the
    store widens the scan to every SKU, and so does a store that never synced one (a new shop);
    the content hash keeps that cheap (unchanged SKUs cost no request).
    """
    started = time.monotonic()
    report = RunReport(flow="items", dry_run=dry_run,
                       where_to_look="the WMS bridge page (Airflow menu), or wms_v_needs_person WHERE flow = 'items'; "
                                     "every SKU: wms_item_sync (state, last_error_message, violations)")
    wanted = set(item_codes) if item_codes is not None else None
    read_from = bridge.store.clock()  # the next run's watermark: everything changed later is read then
    if use_cursor and since_utc is None and not full:
        cursor = bridge.store.cursors.get(CURSOR)
        if cursor is not None:
            since_utc = cursor - timedelta(minutes=bridge.config.watermark_overlap_minutes)
            report.notes.append(f"SKUs changed since {since_utc:%Y-%m-%d %H:%M:%S} UTC (cursor {CURSOR!r})")
    if since_utc is not None and (bridge.store.items.codes_in_state("failed", limit=1)
                                  or not bridge.store.items.codes_in_state("synced", limit=1)):
        # A failed SKU is older than any watermark; an empty store means a shop never synced here.
        log.info("scanning every SKU, not only those changed since %s", since_utc)
        since_utc = None
    chunks = bridge.reader.iter_changed_skus(bridge.shop, since_utc, bridge.config.chunk_size)
    unkeyed = set() if dry_run else bridge.store.unkeyed.open_ids("items")  # to resolve as they come back
    with ThreadPoolExecutor(max_workers=bridge.config.push_concurrency, thread_name_prefix="items") as pool:
        for skus in chunks:
            if wanted is not None:  # codes as the transform keys them (cleaned)
                skus = skus[clean_text(skus["item_code"]).isin(wanted).to_numpy(dtype=bool, na_value=False)]
            if skus.empty:
                continue
            _sync_chunk(bridge, skus, pool, report, unkeyed)
    if use_cursor and not dry_run and wanted is None:
        # Everything read was sent or recorded (failed SKUs widen the next scan by themselves).
        bridge.store.cursors.move(CURSOR, read_from, run_id=bridge.run_id)
    if not dry_run:  # SKUs this run newly found refused for good (store/attention.py): its verdict
        report.set_verdict(*bridge.store.needs_person_by_run("items", bridge.run_id))
    report.seconds = round(time.monotonic() - started, 3)
    return report


def plan_items(bridge: Bridge, item_codes: Iterable[str]) -> dict[str, str | None]:
    """What ``sync_items(item_codes=...)`` would decide, sending and writing nothing (dry runs):
    ``{item_code: None}`` for a SKU that would be in the warehouse afterwards (sent or unchanged),
    ``{item_code: reason}`` for one our rules reject. Codes that are no SKU of the shop are absent."""
    wanted, planned = set(item_codes), {}
    if not wanted:
        return planned
    for skus in bridge.reader.iter_changed_skus(bridge.shop, None, bridge.config.chunk_size):
        skus = skus[clean_text(skus["item_code"]).isin(wanted).to_numpy(dtype=bool, na_value=False)]
        if skus.empty:
            continue
        batch = _transform(bridge, skus)
        planned.update(dict.fromkeys(batch.documents["item_code"]))
        planned.update(dict.fromkeys(batch.unchanged["item_code"]))
        planned.update({r.item_code: "; ".join(r.violations) for r in batch.rejects.itertuples()
                        if _recordable(r.item_code)})
    return planned


def _recordable(code) -> bool:
    """A code wms_item_sync can key: present and within its column (longer ones are rejected by
    the rules anyway; the report names them by SKU id)."""
    return isinstance(code, str) and len(code) <= CODE


def _transform(bridge: Bridge, skus: pd.DataFrame):
    return build_item_documents(
        skus,
        warehouse_code=bridge.hook_for(METHOD).warehouse_code,
        owner_code=bridge.hook_for(METHOD).owner_code,
        known=known_items(bridge, skus["item_code"].dropna().unique().tolist()),
    )


def _sync_chunk(bridge: Bridge, skus: pd.DataFrame, pool: ThreadPoolExecutor, report: RunReport,
                unkeyed: set[str]) -> None:
    report.extracted += len(skus)
    batch = _transform(bridge, skus)
    report.add("unchanged", n=batch.unchanged_count)
    report.valid += len(batch.documents)
    for r in batch.rejects.itertuples():
        report.add("rejected", r.item_code if _recordable(r.item_code) else f"SKU id {r.sku_id}",
                   "; ".join(r.violations))
    if report.dry_run:
        report.would_send.extend(batch.documents["item_code"])
        report.add("sent", n=len(batch.documents))
        return
    for r in batch.rejects.itertuples():
        if _recordable(r.item_code):
            bridge.store.items.record_rejected(r.item_code, list(r.violations), sku_id=r.sku_id, run_id=bridge.run_id)
    # SKUs whose code cannot key them: kept by SKU id; those back with a usable code are resolved
    bridge.store.unkeyed.record("items", [
        {"shop_id": r.sku_id, "shop_code": None if pd.isna(r.item_code) else r.item_code,
         "violations": list(r.violations)}
        for r in batch.rejects.itertuples() if not _recordable(r.item_code) and r.sku_id is not None],
        run_id=bridge.run_id)
    keyed = pd.concat([batch.documents[["item_code", "sku_id"]], batch.unchanged[["item_code", "sku_id"]],
                       batch.rejects[["item_code", "sku_id"]]])
    back = unkeyed & {str(i) for code, i in zip(keyed["item_code"], keyed["sku_id"]) if _recordable(code)}
    if back:
        bridge.store.unkeyed.resolve("items", back, run_id=bridge.run_id)
        unkeyed -= back

    def push(doc) -> tuple[str, str, str | None]:
        exchange = send(bridge, METHOD, doc.item_code, doc.body)
        if exchange.verdict.done:
            bridge.store.items.record_synced(
                doc.item_code, content_hash=doc.content_hash,
                wms_item_id=exchange.response.fields.get("itemId") if exchange.response else None,
                sku_id=doc.sku_id, run_id=bridge.run_id,
            )
            return doc.item_code, "sent", None
        passing = exchange.verdict is Verdict.PASSING
        bridge.store.items.record_failed(
            doc.item_code, error_code=exchange.error_code, message=exchange.error_message, retryable=passing,
            sku_id=doc.sku_id, run_id=bridge.run_id,
        )
        return doc.item_code, "retry_waiting" if passing else "needs_person", \
            f"{exchange.verdict.value}: {exchange.error_message}"

    for code, outcome, reason in pool.map(push, batch.documents.itertuples(index=False)):
        report.add(outcome, code, reason)
