"""The inspection side of the admin API: requests, counters, config."""

from __future__ import annotations

import pytest
from wms_simulator import SimulatorAdminError

from .helpers import call, inventory_document, item_document


def test_received_requests_keep_method_body_answer_and_can_be_filtered(wms_simulator, session):
    call(session, wms_simulator, "singleitem.synchronize", item_document("SKU-1"))
    call(session, wms_simulator, "inventory.query", inventory_document("SKU-1"))
    call(session, wms_simulator, "taobao.qimen.inventory.query", inventory_document("SKU-2"))

    everything = wms_simulator.admin.requests()
    assert [r["method"] for r in everything] == ["singleitem.synchronize", "inventory.query", "inventory.query"]
    queries = wms_simulator.admin.requests(method="inventory.query")
    assert len(queries) == 2 and "SKU-2" in queries[1]["body"]
    assert "<flag>success</flag>" in queries[0]["answer"]
    assert queries[0]["query"]["sign"] == "***", "signatures are not kept in the log"
    assert queries[0]["query"]["customerId"] == wms_simulator.customer_id
    assert all(r["http_status"] == 200 and r["received_at"] for r in queries)
    assert [r["body"] for r in wms_simulator.admin.requests(limit=1)] == [everything[-1]["body"]]

    assert wms_simulator.admin.counters() == {
        "singleitem.synchronize": {"received": 1, "success": 1},
        "inventory.query": {"received": 2, "success": 2},
    }


def test_config_hides_secrets_and_only_runtime_keys_change(wms_simulator):
    config = wms_simulator.admin.config()
    assert config["secret"] == "***" and config["customer_id"] == wms_simulator.customer_id
    assert wms_simulator.admin.set_config(callback_url="http://127.0.0.1:9/cb")["callback_url"].endswith("/cb")
    shown = wms_simulator.admin.set_config(callback_url="http://127.0.0.1:9/cb?token=s3cret&shop=a")["callback_url"]
    assert shown == "http://127.0.0.1:9/cb?token=***&shop=a" and "s3cret" not in str(wms_simulator.admin.config())
    with pytest.raises(SimulatorAdminError) as exc:
        wms_simulator.admin.set_config(secret="new")
    assert exc.value.status == 400


def test_stock_seeding_sets_or_adds(wms_simulator):
    wms_simulator.admin.seed_stock([{"itemCode": "A", "quantity": 5}, {"itemCode": "A", "inventoryType": "CC",
                                                                       "quantity": 1}])
    rows = wms_simulator.admin.seed_stock([{"itemCode": "A", "quantity": 2}], mode="add")
    assert {(r["item_code"], r["inventory_type"], r["quantity"]) for r in rows} == {("A", "ZP", 7), ("A", "CC", 1)}
    with pytest.raises(SimulatorAdminError):
        wms_simulator.admin.seed_stock([{"quantity": 2}])
