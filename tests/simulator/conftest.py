from __future__ import annotations

import pytest
import requests

from .helpers import call, item_document


@pytest.fixture
def session():
    """A plain requests session that ignores proxy settings: everything here is loopback."""
    with requests.Session() as s:
        s.trust_env = False
        yield s


@pytest.fixture
def sim_with_items(wms_simulator, session):
    """A simulator knowing items A, B and C, with 10 ZP units of each in stock."""
    for code in ("A", "B", "C"):
        assert call(session, wms_simulator, "singleitem.synchronize", item_document(code)).success
    wms_simulator.admin.seed_stock([{"itemCode": c, "quantity": 10} for c in ("A", "B", "C")])
    return wms_simulator
