"""The item watermark lives in the store (wms_cursor) and only real, complete runs move it.

Airflow's ``prev_start_date_success`` moved with a successful dry run too, so a SKU changed
between the last real sync and a dry run was never read again. Through real DAG runs: sync, the
shop changes a SKU, a dry run, a real sync: the change reaches the warehouse.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, run_dag

from wmsbridge.shop.profile import load_profile
from wmsbridge.shop.reader import local_naive


@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_dry_run_between_two_item_syncs_does_not_lose_a_changed_sku(
        backend, make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop(backend, "reference", orders=10, skus=8, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    # No overlap: the dry run starts after the change, so only a watermark it did not move finds it.
    store = bridge_env(shop, sim, watermark_overlap_minutes=0)
    assert store.cursors.get("items") is None

    assert run_dag("wms_item_sync").state == "success"
    after_first = store.cursors.get("items")
    assert after_first is not None and after_first <= datetime.now(timezone.utc)
    synced = {i["item_code"]: i["document"] for i in sim.admin.items()}

    with shop.engine.begin() as conn:
        sku_id, code = conn.execute(sa.text("SELECT id, sku_code FROM shop_sku ORDER BY id")).first()
        changed_at = local_naive(load_profile("reference"), datetime.now(timezone.utc))
        conn.execute(sa.text("UPDATE shop_sku SET price = price + 1, updated_at = :at WHERE id = :id"),
                     {"at": changed_at, "id": sku_id})
    old_price = synced[code]["retailPrice"]

    assert run_dag("wms_item_sync_manual", dry_run=True).state == "success"
    assert store.cursors.get("items") == after_first, "a dry run moved the item cursor"
    received = sim.admin.counters()["singleitem.synchronize"]["received"]

    assert run_dag("wms_item_sync").state == "success"
    now_held = {i["item_code"]: i["document"] for i in sim.admin.items()}
    assert float(now_held[code]["retailPrice"]) == float(old_price) + 1
    assert sim.admin.counters()["singleitem.synchronize"]["received"] == received + 1  # only that SKU
    assert store.cursors.get("items") > after_first
