"""Signed changes to the shop's stock between daily syncs, written once (store/adjustments.py).

Shared by the returns flow (good units taken back, the shop's own add-back taken out again) and the
stock-change flow (stockchange.report). Each change is recorded ``applying`` in the store, then the
shop's stock moves (profile ``adjust_stock``: ``+ delta``, never below zero), then it is ``applied``;
a SKU the shop does not have is ``skipped``. A key already recorded is never written again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from wmsbridge.shop.writer import ShopWriter

from .runtime import Bridge

log = logging.getLogger(__name__)


def sku_ids(bridge: Bridge, items: list[str], known: Mapping[str, str | None] | None = None) -> dict[str, str | None]:
    """The shop's SKU id per item code: ``known`` first (a return's lines), then wms_item_sync."""
    found = {item: sku for item, sku in (known or {}).items() if item in items and sku is not None}
    missing = [item for item in items if item not in found]
    if missing:
        found.update({code: row.get("sku_id") for code, row in bridge.store.items.rows(missing).items()})
    return found


def adjust_shop_stock(bridge: Bridge, source: str, key: str, deltas: Mapping[str, int],
                      skus: Mapping[str, str | None], *, note: str) -> dict[str, str]:
    """Write ``deltas`` (``{item_code: signed units}``) once for ``(source, key)``; returns
    ``{item_code: applied | skipped}`` for what this call wrote (empty: recorded before)."""
    deltas = {item: d for item, d in deltas.items() if d}
    if not deltas:
        return {}
    adjustments = bridge.store.adjustments
    ids = adjustments.begin(source, key, [{"item_code": item, "sku_id": skus.get(item), "delta": d}
                                         for item, d in deltas.items()], note=note, run_id=bridge.run_id)
    if not ids:
        return {}  # recorded by an earlier run: never twice
    by_sku = {str(skus[item]): deltas[item] for item in ids if skus.get(item) is not None}
    moved = ShopWriter(bridge.profile).adjust_stock(bridge.shop, by_sku) if by_sku else set()
    done = {item for item in ids if skus.get(item) is not None and str(skus[item]) in moved}
    adjustments.finish([ids[i] for i in done], run_id=bridge.run_id)
    skipped = [i for i in ids if i not in done]
    if skipped:  # not in the shop: nothing to change there
        adjustments.finish([ids[i] for i in skipped], "skipped", run_id=bridge.run_id)
        log.info("%s %s: not in the shop's stock, nothing changed for %s", source, key, ", ".join(skipped[:20]))
    return {item: "applied" if item in done else "skipped" for item in ids}
