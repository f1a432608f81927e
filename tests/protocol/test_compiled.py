"""The compiled renderer (qimen.compiled) against the generic rules walkers, property style.

The claim under test, for every document: when ``render`` gives text, the generic validator finds
no violation and the generic lxml builder writes the same text, byte for byte. When it gives None,
nothing is claimed (the generic path decides), but the valid documents of the corpora must take
the fast path, or the compilation would be pointless.
"""

from __future__ import annotations

import copy
import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from qimen.compiled import render
from qimen.documents import build_document, build_generic
from qimen.parsing import parse_request
from qimen.rules import DOCUMENTS, Field
from qimen.validation import validate

FIXTURES = Path(__file__).parent / "fixtures"
SEEDS = range(40)


def agrees(method: str, document) -> str | None:
    """Assert the claim for one document; returns the compiled text (or None)."""
    body = render(method, document)
    if body is not None:
        assert validate(method, document) == [], document
        assert body == build_generic(method, document), document
        assert build_document(method, document) == body
    return body


# --- value generators: valid, borderline and wrong values of every kind ----------------------------

TEXTS = ["秋冬大衣", "A&B <c> d", "line\rbreak", "tab\there", "🚀 emoji", "x" * 60, " padded ", "   ", "",
         "bad\x01char", "\ufffe", "quote\"'", "]]>", "Y", "N", "ZC", "JYCK", "ZTO", "add", "12", "-3"]
OTHERS = [None, pd.NA, pd.NaT, float("nan"), 1.5, True, False, 0, 1, -1, 7, 10**20, Decimal("1.005"),
          Decimal("12.30"), Decimal("-0.5"), Decimal("NaN"), Decimal("Infinity"), Decimal("1E+3"),
          Decimal("12345678901234567.5"), Decimal("9999999999999999.99"), Decimal("-9999999999999999.99"),
          Decimal("10000000000000000.00"), Decimal("999999999999999.999"), Decimal("-0.00"), Decimal("0E-5"),
          Decimal("0E+2"), Decimal("1.0E-2"), ["list"], {"a": 1}, ("t",), b"bytes"]
TIMES = ["2024-01-11 11:20:00", " 2024-01-11 11:20:00 ", "2024-1-1 1:2:3", "2024-02-30 00:00:00",
         "2024-02-29 23:59:59", "2023-02-29 10:00:00", "2024-01-11T11:20:00", "0000-01-01 00:00:00",
         "2024-01-11 24:00:00", "2024-01-11 23:59:60", "２０２４-01-11 11:20:00", "2024-01-11",
         "2024-13-01", "2024-1-5", " 2024-12-31", datetime(2024, 1, 11, 3, 22, 5, tzinfo=timezone.utc),
         datetime(2024, 1, 11, 3, 22, 5), date(2023, 12, 1), pd.Timestamp("2024-01-11T03:00:00Z")]


def leaf_value(f: Field, rng: random.Random, valid: bool):
    if valid:
        kind = f.kind
        if kind in ("str", "enum"):
            return rng.choice(f.enum) if f.enum else rng.choice(["秋冬大衣", "A&B <c>", "SO-1", "line\rtwo"])
        if kind == "int":
            low = f.min_value if f.min_value is not None else -5
            return int(rng.choice(f.enum)) if f.enum else rng.randint(low, low + 50)
        if kind == "decimal":
            return Decimal(rng.randint(0, 99_999)).scaleb(-rng.randint(0, f.scale or 0))
        if kind == "datetime":
            moment = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randint(0, 10**8))
            return moment if rng.random() < 0.5 else moment.strftime("%Y-%m-%d %H:%M:%S")
        if kind == "date":
            day = date(2023, 1, 1) + timedelta(days=rng.randint(0, 3000))
            return day if rng.random() < 0.5 else day.isoformat()
        if kind == "yn":
            return rng.choice([True, False, "Y", "N"])
    return rng.choice(TEXTS + OTHERS + TIMES)


def make(fields: tuple[Field, ...], rng: random.Random, bad: float) -> dict:
    """A document over ``fields``: required ones mostly present, optional ones sometimes; ``bad``
    is the chance that any one value is drawn from the borderline/wrong pool."""
    doc: dict = {}
    for f in fields:
        if not f.required and rng.random() < 0.5:
            continue
        if rng.random() < bad / 4:
            doc[f.name] = rng.choice(TEXTS + OTHERS)
            continue
        if f.kind == "struct":
            doc[f.name] = make(f.children, rng, bad)
        elif f.kind == "list":
            count = rng.randint(f.min_items, f.min_items + 3)
            if f.children:
                doc[f.name] = [make(f.children, rng, bad) for _ in range(count)]
            else:
                doc[f.name] = [leaf_value(Field(f.item_tag), rng, rng.random() >= bad) for _ in range(count)]
            if rng.random() < 0.1:
                doc[f.name] = tuple(doc[f.name])
        elif f.kind == "map":
            doc[f.name] = rng.choice([{}, {"k": "v"}, {"a b": "x"}, None])
        else:
            doc[f.name] = leaf_value(f, rng, rng.random() >= bad)
    if rng.random() < bad / 5:
        doc["unknownField"] = "x"
    return doc


def test_key_order_and_shapes_beyond_the_cache_agree(documents, monkeypatch):
    """Each key tuple gets its own compiled function: the same keys in another order, with a
    required one dropped, and more shapes than are remembered (the any-shape function) agree."""
    import qimen.compiled as compiled

    order = documents["deliveryorder.create"]
    head = order["deliveryOrder"]
    reordered = copy.deepcopy(order)
    reordered["deliveryOrder"] = dict(reversed(list(head.items())))
    assert agrees("deliveryorder.create", reordered) == render("deliveryorder.create", order) is not None
    no_code = copy.deepcopy(order)
    del no_code["deliveryOrder"]["deliveryOrderCode"]
    assert agrees("deliveryorder.create", no_code) is None

    monkeypatch.setattr(compiled, "MAX_SHAPES", 2)
    compiled.compile_method.cache_clear()
    try:
        optional = [k for k in head if k not in ("deliveryOrderCode", "orderType", "warehouseCode", "createTime",
                                                  "placeOrderTime", "senderInfo", "receiverInfo")]
        for n in range(len(optional)):  # a new shape each time
            doc = copy.deepcopy(order)
            for key in optional[:n]:
                del doc["deliveryOrder"][key]
            assert agrees("deliveryorder.create", doc) is not None or validate("deliveryorder.create", doc)
        assert agrees("deliveryorder.create", order) is not None  # a shape seen first, now past the limit
    finally:
        compiled.compile_method.cache_clear()


@pytest.mark.parametrize("method", list(DOCUMENTS))
def test_generated_valid_documents_take_the_fast_path_and_agree(method):
    fast = 0
    for seed in SEEDS:
        doc = make(DOCUMENTS[method], random.Random(seed), bad=0.0)
        if agrees(method, doc) is not None:
            fast += 1
    # extendProps with content and a few generic-only spellings fall back; most must not.
    assert fast >= len(SEEDS) // 2


@pytest.mark.parametrize("method", list(DOCUMENTS))
@pytest.mark.parametrize("bad", [0.02, 0.1, 0.4])
def test_generated_borderline_documents_agree(method, bad):
    for seed in range(150):
        agrees(method, make(DOCUMENTS[method], random.Random(seed * 7 + int(bad * 100)), bad=bad))


def test_every_leaf_value_of_the_pools_agrees_in_every_field(documents):
    """Each pool value put into each leaf of the valid test documents, one at a time."""
    for method, base in documents.items():
        assert agrees(method, base) is not None, method
        for path in _leaf_paths(base):
            for value in TEXTS + OTHERS + TIMES:
                doc = copy.deepcopy(base)
                _set(doc, path, value)
                agrees(method, doc)


def test_structural_oddities_agree(documents):
    order = documents["deliveryorder.create"]
    variants = []
    for change in (
        lambda d: d["deliveryOrder"].update(unknown="x"),
        lambda d: d.update(orderLines=[]),
        lambda d: d.update(orderLines=tuple(d["orderLines"])),
        lambda d: d.update(orderLines=[{}]),
        lambda d: d.update(orderLines="not a list"),
        lambda d: d["deliveryOrder"].update(senderInfo={}),
        lambda d: d["deliveryOrder"].update(senderInfo=""),
        lambda d: d["deliveryOrder"].update(receiverInfo=None),
        lambda d: d["deliveryOrder"].update(invoices=[{}]),
        lambda d: d["deliveryOrder"].update(deliveryRequirements={"scheduleType": None}),
        lambda d: d.update(extendProps={"k": "v"}),
        lambda d: d.update(extendProps={}),
        lambda d: d.update(deliveryOrder="x"),
    ):
        doc = copy.deepcopy(order)
        change(doc)
        variants.append(doc)
    variants += [{}, [], "text", None]
    for doc in variants:
        agrees("deliveryorder.create", doc)
    assert render("deliveryorder.create", {}) is None  # required parts missing
    assert render("inventory.query", {"criteriaList": [{"itemCode": "A"}]}) is not None


@pytest.mark.parametrize("method", list(DOCUMENTS))
def test_documents_read_back_from_request_xml_agree(method):
    """What the simulator checks: documents parsed from a request's XML, every value a string."""
    read = 0
    for seed in range(200):
        doc = make(DOCUMENTS[method], random.Random(seed * 13 + 5), bad=0.05)
        try:
            text = build_generic(method, doc)
        except Exception:  # noqa: BLE001 - a value no XML can carry: nothing to read back
            continue
        agrees(method, parse_request(method, text))
        read += 1
    assert read >= 20


@pytest.mark.parametrize("name,method", [("item_request.xml", "singleitem.synchronize"),
                                         ("order_request.xml", "deliveryorder.create"),
                                         ("confirm_request.xml", "deliveryorder.confirm")])
def test_juxing_samples_agree(name, method):
    agrees(method, parse_request(method, (FIXTURES / name).read_bytes()))


def test_transform_corpus_agrees():
    """The documents the order transform builds from its own test frames."""
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "transforms"))
    from transform_frames import frame, line_row, order_row
    from wmsbridge.transforms import OrderSettings, build_delivery_orders

    settings = OrderSettings(warehouse_code="WH15", owner_code="OWNER50", shop_nick="四海", sender_name="四海",
                             sender_mobile="010-56133684", sender_province="北京", sender_city="北京市",
                             sender_area="朝阳区", sender_detail="建国路1号", default_logistics_code="YTO")
    rows = [order_row(order_id=str(i), order_code=f"SO{i}", buyer_message=TEXTS[i % len(TEXTS)])
            for i in range(len(TEXTS))]
    lines = [line_row(order_id=str(i), item_name=TEXTS[(i + 3) % len(TEXTS)]) for i in range(len(TEXTS))]
    batch = build_delivery_orders(frame(rows), frame(lines), settings=settings,
                                  now=datetime(2026, 11, 28, tzinfo=timezone.utc))
    assert len(batch.documents) > len(TEXTS) // 2
    for body in batch.documents["body"]:
        document = parse_request("deliveryorder.create", body)
        assert build_generic("deliveryorder.create", document) == body


# --- helpers ---------------------------------------------------------------------------------------


def _leaf_paths(data, prefix=()):
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaf_paths(value, prefix + (key,))
    elif isinstance(data, list) and data and isinstance(data[0], dict):
        for i, item in enumerate(data):
            yield from _leaf_paths(item, prefix + (i,))
    else:
        yield prefix


def _set(doc, path, value):
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def test_a_fallback_keeps_nothing_of_the_document_alive(documents):
    """The walk gives up by raising; nothing of the abandoned document may stay referenced."""
    import gc
    import weakref

    class Odd:
        pass

    def render_once():
        odd = Odd()
        doc = copy.deepcopy(documents["deliveryorder.create"])
        doc["deliveryOrder"]["buyerNick"] = odd
        assert render("deliveryorder.create", doc) is None
        return weakref.ref(odd)

    refs = [render_once() for _ in range(3)]
    gc.collect()
    assert [r() for r in refs] == [None, None, None]


def test_a_time_text_one_field_accepted_is_still_checked_against_the_next_fields_limits():
    """Time texts are remembered per kind (createTime, then operateTime: one check); each field
    still applies its own length limit to a remembered text."""
    import qimen.compiled as compiled

    wide = compiled._compile_leaf(Field("a", kind="datetime"))
    narrow = compiled._compile_leaf(Field("b", kind="datetime", max_len=10))
    out: list = []
    wide("2026-11-30 12:00:00", out)
    assert out == ["<a>2026-11-30 12:00:00</a>"]
    with pytest.raises(compiled._Fallback):
        narrow("2026-11-30 12:00:00", out)
