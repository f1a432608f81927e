"""Items arrive with their starting stock: what ``singleitem.synchronize`` creates is on the shelves
at once (``--starting-stock``, ``--starting-stock-file``), over real HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import call, inventory_document, item_document, order_document

ROOT = Path(__file__).resolve().parents[2]


def stock(sim) -> dict[str, tuple[int, int]]:
    return {r["item_code"]: (r["quantity"], r["lock_quantity"]) for r in sim.admin.stock() if r["inventory_type"] == "ZP"}


def add_items(session, sim, *codes: str) -> None:
    for code in codes:
        assert call(session, sim, "singleitem.synchronize", item_document(code)).success


def test_items_arrive_with_their_starting_stock(wms_simulator_factory, session):
    sim = wms_simulator_factory(starting_stock=5, starting_stock_by_item={"A": 40, "Z": 0})
    sim.admin.seed_stock([{"itemCode": "C", "quantity": 3}])  # counted before the item was announced
    add_items(session, sim, "A", "B", "C", "Z")
    add_items(session, sim, "A")  # synchronised again: no second delivery of goods
    answer = call(session, sim, "inventory.query", inventory_document("A", "B", "C", "Z"))
    assert answer.success
    assert {r["itemCode"]: int(r["quantity"]) for r in answer.fields["items"]} == {"A": 40, "B": 5, "C": 3, "Z": 0}
    assert call(session, sim, "deliveryorder.create", order_document("SS1", [("A", 2)])).success
    assert stock(sim)["A"] == (38, 2)
    assert sim.admin.config()["starting_stock_by_item"] == 2, "the list is counted, not echoed"


@pytest.mark.parametrize(("content", "said"), [("[1, 2]", "expected a JSON object"),
                                              ('{"A": -1, "B": 2.5}', "whole number >= 0: A, B"),
                                              ("{", "--starting-stock-file")])
def test_a_stock_file_that_means_nothing_is_refused_at_start(tmp_path, content, said):
    stock_file = tmp_path / "stock.json"
    stock_file.write_text(content, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "wms_simulator", "--port", "0", "--starting-stock-file",
                             str(stock_file)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and said in result.stderr, result.stderr

