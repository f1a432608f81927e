"""Many clients at once: no lost or doubled state, repeats counted exactly."""

from __future__ import annotations

import threading
from collections import Counter

import requests

from .helpers import call, item_document, order_document

CLIENTS = 50


def run_all(targets) -> list:
    """Run the callables in parallel threads released together by a barrier; return their results."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def worker(i, target):
        with requests.Session() as session:
            session.trust_env = False
            barrier.wait()
            try:
                results[i] = target(session)
            except Exception as exc:  # surfaced by the assertions below
                results[i] = exc

    threads = [threading.Thread(target=worker, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_fifty_clients_creating_orders_at_once(sim_with_items):
    sim = sim_with_items
    sim.admin.seed_stock([{"itemCode": "A", "quantity": 1000}])
    # 30 distinct codes; the first 10 are sent 3 times each by different clients
    codes = [f"PS{i:03d}" for i in range(30)] + [f"PS{i:03d}" for i in range(10)] * 2
    assert len(codes) == CLIENTS
    sends = Counter(codes)

    def create(code):
        return lambda session: call(session, sim, "deliveryorder.create", order_document(code, [("A", 2)]))

    results = run_all([create(code) for code in codes])
    assert all(not isinstance(r, Exception) and r.success for r in results), results

    ids_per_code: dict[str, set] = {}
    for code, answer in zip(codes, results):
        ids_per_code.setdefault(code, set()).add(answer.fields["deliveryOrderId"])
    assert all(len(ids) == 1 for ids in ids_per_code.values()), "one id per code, whoever came first"
    assert len({next(iter(ids)) for ids in ids_per_code.values()}) == 30, "no id shared by two codes"

    orders = sim.admin.orders()
    assert sorted(o["order_code"] for o in orders) == sorted(sends)
    assert sim.admin.repeats() == {code: n - 1 for code, n in sends.items()}
    [a_stock] = [r for r in sim.admin.stock() if r["item_code"] == "A"]
    assert (a_stock["quantity"], a_stock["lock_quantity"]) == (1000 - 60, 60)
    assert sim.admin.counters()["deliveryorder.create"] == {"received": CLIENTS, "success": CLIENTS}


def test_concurrent_item_synchronisation_keeps_one_item_id_per_code(wms_simulator):
    codes = [f"SKU-{i % 5}" for i in range(CLIENTS)]

    def sync(code):
        return lambda session: call(session, wms_simulator, "singleitem.synchronize", item_document(code))

    results = run_all([sync(code) for code in codes])
    assert all(not isinstance(r, Exception) and r.success for r in results), results
    ids = {code: {r.fields["itemId"] for c, r in zip(codes, results) if c == code} for code in set(codes)}
    assert all(len(v) == 1 for v in ids.values())
    items = wms_simulator.admin.items()
    assert len(items) == 5 and sum(i["versions"] for i in items) == CLIENTS
