"""wms_shipments applies confirmations a group per transaction (pipelines/shipments.py): what a naive
batch would get wrong. A group mixing good rows, a refusal and an alarm; a row the database refuses;
several confirmations of one order in one group, exactly as if applied one after the other; the
same confirmation twice; two bridges with the same order codes; a run that stops between the shop's
commit and the store's; rows another run applied meanwhile, and twin runs at once; rows settling
in different ways in one group. The shop writer's batch on its own. Real shops and stores on SQLite,
PostgreSQL and MariaDB; the confirmations stored as the receiver stores them."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from bridge_helpers import order_sync_rows
from confirm_steps import receive, stored
from databases import BACKENDS, throwaway_database
from order_steps import ship

from wmsbridge.config import BridgeConfig
from wmsbridge.pipelines import shipments
from wmsbridge.pipelines.runtime import Bridge
from wmsbridge.pipelines.shipments import apply_shipments
from wmsbridge.shop.profile import load_profile
from wmsbridge.shop.writer import Shipment, ShopWriter
from wmsbridge.store import IntegrationStore
from wmsbridge.store.confirmations import ConfirmationInbox
from wmsbridge.store.engine import create_store_engine
from wmsbridge.store.migrate import upgrade
from wmsbridge.store.orders import OrderOutcome
from wmsbridge.store.schema import shipment_inbox

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def parcel(tracking: str, carrier: str = "YTO") -> tuple:
    return (carrier, "", tracking, (("S1", "1", 1),))


def paid_orders(shop, n: int) -> list[tuple[str, str]]:
    """(order code, shop id) of ``n`` paid orders of a reference shop."""
    with shop.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT order_no, id FROM shop_order WHERE status = 'paid' ORDER BY id")).all()
    assert len(rows) >= n
    return [(code, str(shop_id)) for code, shop_id in rows[:n]]


def sent(store: IntegrationStore, orders: list[tuple[str, str]]) -> list[str]:
    """Register the orders and record them accepted by the warehouse; their codes."""
    codes = [code for code, _ in orders]
    store.orders.ensure_pending([{"delivery_order_code": c, "shop_order_id": i} for c, i in orders])
    assert all(claim.owned for claim in store.orders.claim_many(codes, "push").values())
    assert store.orders.record_order_outcomes([OrderOutcome(c, "sent") for c in codes], run_id="push") == {}
    return codes


def shop_rows(shop, codes) -> dict[str, tuple]:
    """``{code: (status, tracking_no, carrier_code)}`` as the shop has them."""
    with shop.engine.connect() as conn:
        return {r.order_no: (r.status, r.tracking_no, r.carrier_code) for r in conn.execute(sa.text(
            "SELECT order_no, status, tracking_no, carrier_code FROM shop_order")) if r.order_no in set(codes)}


def inbox_rows(store: IntegrationStore) -> dict[str, dict]:
    """The store's confirmations of this bridge by outBizCode."""
    with store.engine.connect() as conn:
        return {r.out_biz_code: r._asdict() for r in conn.execute(
            sa.select(shipment_inbox).where(shipment_inbox.c.bridge_id == store.bridge_id))}


def bridge_of(shop, store: IntegrationStore, run_id: str) -> Bridge:
    """The Bridge a task builds, from a shop and a store (no warehouse: this flow never calls it)."""
    return Bridge(config=BridgeConfig(bridge_id=store.bridge_id, profile="reference"),
                  profile=load_profile("reference"), shop=shop.engine, store=store, hook=None, run_id=run_id)


@pytest.fixture
def reference(make_shop):
    """``reference(backend)`` -> (shop, store): a reference shop with the store in its database."""

    def make(backend: str):
        shop = make_shop(backend, "reference", orders=30, skus=4, bad_share=0.0)
        upgrade(shop.engine)
        return shop, IntegrationStore(shop.engine)

    return make


def fail_updates_of(shop, shop_id: str) -> None:
    """A trigger that makes the shop's UPDATE of one order fail (a row the database refuses)."""
    statements = {
        "sqlite": [f"CREATE TRIGGER refuse_one BEFORE UPDATE ON shop_order WHEN OLD.id = {shop_id} "
                   "BEGIN SELECT RAISE(ABORT, 'this row is refused'); END"],
        "postgresql": ["CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN "
                       "RAISE EXCEPTION 'this row is refused'; END $$ LANGUAGE plpgsql",
                       f"CREATE TRIGGER refuse_one BEFORE UPDATE ON shop_order FOR EACH ROW "
                       f"WHEN (OLD.id = {shop_id}) EXECUTE FUNCTION refuse_one()"],
        "mysql": [f"CREATE TRIGGER refuse_one BEFORE UPDATE ON shop_order FOR EACH ROW BEGIN IF OLD.id = {shop_id} "
                  "THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'this row is refused'; "
                  "END IF; END"],
    }[shop.engine.dialect.name]
    with shop.engine.begin() as conn:
        for sql in statements:
            conn.execute(sa.text(sql))


def test_a_group_mixing_good_refused_and_alarmed_rows_puts_each_where_it_belongs(backend, reference):
    shop, store = reference(backend)
    good1, refused, alarm, good2 = codes = sent(store, paid_orders(shop, 4))
    with shop.engine.begin() as conn:  # the shop cancelled it meanwhile: its ship statement refuses it
        conn.execute(sa.text("UPDATE shop_order SET status = 'cancelled' WHERE order_no = :c"), {"c": refused})
    for n, code in enumerate(codes):
        receive(store.confirmations, code, key=f"OB-{code}", packages=(parcel(f"YT{n}"),),
                status="EXCEPTION" if code == alarm else "DELIVERED")

    report = apply_shipments(bridge_of(shop, store, "run-1"))

    assert (report.sent, report.needs_person, report.extracted) == (2, 2, 4), report.samples
    assert shop_rows(shop, codes) == {good1: ("shipped", "YT0", "YTO"), refused: ("cancelled", None, None),
                                      alarm: ("paid", None, None), good2: ("shipped", "YT3", "YTO")}
    inbox = inbox_rows(store)
    assert [inbox[f"OB-{code}"]["state"] for code in codes] == ["applied", "needs_person", "needs_person", "applied"]
    assert "the shop refused the shipment" in inbox[f"OB-{refused}"]["process_error"]
    assert "the warehouse reports EXCEPTION" in inbox[f"OB-{alarm}"]["process_error"]
    assert {r["attempts"] for r in inbox.values()} == {1}
    orders = order_sync_rows(store)  # the refused one is recorded shipped, not written to the shop
    assert [orders[c]["state"] for c in codes] == ["shipped", "shipped", "sent", "shipped"]
    assert [orders[c]["shop_written_at"] is not None for c in codes] == [True, False, False, True]
    assert store.needs_person_by_run("shipments", "run-1")[0] == 2  # the run fails for them

    again = apply_shipments(bridge_of(shop, store, "run-2"))
    assert again.extracted == 0 and store.needs_person_by_run("shipments", "run-2")[0] == 0


def test_a_row_the_database_refuses_costs_only_itself(backend, reference):
    """The shop's UPDATE of one order fails: its group is applied again row by row; the others are
    applied, that one waits for a person with the error (a broken database would fail the run)."""
    shop, store = reference(backend)
    orders = paid_orders(shop, 3)
    good1, failing, good2 = codes = sent(store, orders)
    fail_updates_of(shop, dict(orders)[failing])
    for n, code in enumerate(codes):
        receive(store.confirmations, code, key=f"OB-{code}", packages=(parcel(f"YT{n}"),))

    report = apply_shipments(bridge_of(shop, store, "run-1"))

    assert (report.sent, report.needs_person) == (2, 1), report.samples
    assert shop_rows(shop, codes) == {good1: ("shipped", "YT0", "YTO"), failing: ("paid", None, None),
                                      good2: ("shipped", "YT2", "YTO")}
    inbox = inbox_rows(store)
    assert [inbox[f"OB-{code}"]["state"] for code in codes] == ["applied", "needs_person", "applied"]
    assert "could not be applied" in inbox[f"OB-{failing}"]["process_error"]
    assert "this row is refused" in inbox[f"OB-{failing}"]["process_error"]
    assert {r["attempts"] for r in inbox.values()} == {1}  # the group's undone try is not counted
    assert order_sync_rows(store)[failing]["state"] == "sent"
    assert store.needs_person_by_run("shipments", "run-1")[0] == 1


@pytest.mark.parametrize("group", [1, shipments.GROUP])
def test_several_confirmations_of_one_order_in_one_group_apply_as_one_after_the_other(
        backend, reference, monkeypatch, group):
    """Partial then final; final then a late partial (the final takes its parcel too); two finals
    (the first takes both parcels, the second finds them written). A group of 1 is the one-by-one
    reference the whole group must equal."""
    monkeypatch.setattr(shipments, "GROUP", group)
    shop, store = reference(backend)
    partial_first, final_first, two_finals = codes = sent(store, paid_orders(shop, 3))
    inbox = store.confirmations
    receive(inbox, partial_first, key="P1", status="PARTDELIVERED", confirm_type=1, packages=(parcel("YD1", "YUNDA"),))
    receive(inbox, final_first, key="F2", packages=(parcel("SF2", "SF"),))
    receive(inbox, two_finals, key="F3a", packages=(parcel("ZT3"),))
    receive(inbox, partial_first, key="F1", packages=(parcel("YD1b", "YUNDA"),))
    receive(inbox, final_first, key="P2", status="PARTDELIVERED", confirm_type=1, packages=(parcel("SF2b", "SF"),))
    receive(inbox, two_finals, key="F3b", packages=(parcel("ZT3b"),))

    report = apply_shipments(bridge_of(shop, store, "run-1"))

    assert (report.sent, report.unchanged, report.needs_person) == (4, 2, 0), report.samples
    rows = inbox_rows(store)
    assert {k: rows[k]["state"] for k in rows} == dict.fromkeys(("P1", "F2", "F3a", "F1", "P2", "F3b"), "applied")
    assert rows["P2"]["process_error"] == "partial confirmation after the final one"
    assert rows["F3b"]["process_error"] == "already written to the shop"
    # reference joins every parcel; a final takes the parcels of the order's confirmations stored so far
    assert shop_rows(shop, codes) == {partial_first: ("shipped", "YD1,YD1b", "YUNDA"),
                                      final_first: ("shipped", "SF2,SF2b", "SF"),
                                      two_finals: ("shipped", "ZT3,ZT3b", "YTO")}
    orders = order_sync_rows(store)
    assert [orders[c]["tracking_numbers"] for c in codes] == ["YD1,YD1b", "SF2,SF2b", "ZT3,ZT3b"]
    assert [orders[c]["carrier_code"] for c in codes] == ["YUNDA", "SF", "YTO"]
    assert all(orders[c]["state"] == "shipped" and orders[c]["shop_written_at"] for c in codes)


def test_the_same_confirmation_twice_in_one_group_is_applied_once(backend, reference):
    shop, store = reference(backend)
    code, other = sent(store, paid_orders(shop, 2))
    inbox = store.confirmations
    first = receive(inbox, code, key="OB-1", packages=(parcel("YT1"),))
    assert receive(inbox, code, key="OB-1", packages=(parcel("YT1"),)).already_seen  # a resend stores nothing
    receive(inbox, code, key="OB-1-resent", packages=(parcel("YT1"),))  # the same under a new key
    receive(inbox, other, key="OB-2", packages=(parcel("YT2"),))

    report = apply_shipments(bridge_of(shop, store, "run-1"))

    assert (report.extracted, report.sent, report.unchanged, report.needs_person) == (3, 2, 1, 0)
    assert inbox_rows(store)["OB-1-resent"]["process_error"] == "already written to the shop"
    assert shop_rows(shop, [code, other]) == {code: ("shipped", "YT1", "YTO"), other: ("shipped", "YT2", "YTO")}
    assert order_sync_rows(store)[code]["tracking_numbers"] == "YT1"
    assert [p["express_code"] for p in stored(inbox, code)[1] if p["inbox_id"] == first.inbox_id] == ["YT1"]


def test_two_bridges_with_the_same_order_code_apply_only_their_own(backend, make_shop):
    """One store for two shops whose orders have the same codes (the same generator seed)."""
    shops = [make_shop(backend, "reference", orders=30, skus=4, bad_share=0.0, seed=11) for _ in range(2)]
    upgrade(shops[0].engine)
    a, b = (IntegrationStore(shops[0].engine, bridge_id=name) for name in ("shop-a", "shop-b"))
    orders = paid_orders(shops[0], 3)
    assert orders == paid_orders(shops[1], 3)
    shared, only_b, both = [code for code, _ in orders]
    sent(a, [orders[0], orders[2]])
    sent(b, orders)
    receive(a.confirmations, shared, key="OB-1", packages=(parcel("A-1"),))
    receive(b.confirmations, shared, key="OB-1", packages=(parcel("B-1"),))  # the same key, b's own
    receive(a.confirmations, only_b, key="OB-2", packages=(parcel("A-2"),))  # a never sent this one
    receive(b.confirmations, both, key="OB-3", packages=(parcel("B-3"),))
    b_inbox_before = inbox_rows(b)

    report = apply_shipments(bridge_of(shops[0], a, "run-a"))

    assert (report.sent, report.retry_waiting) == (1, 1), report.samples
    assert shop_rows(shops[0], [shared, only_b, both]) == {shared: ("shipped", "A-1", "YTO"),
                                                          only_b: ("paid", None, None), both: ("paid", None, None)}
    assert shop_rows(shops[1], [shared, only_b, both]) == {c: ("paid", None, None) for c in (shared, only_b, both)}
    assert a.orders.order(shared)["tracking_numbers"] == "A-1"  # not b's parcel of the same order code
    assert {c: r["state"] for c, r in b.orders.rows([shared, only_b, both]).items()} == dict.fromkeys(
        (shared, only_b, both), "sent")
    assert inbox_rows(b) == b_inbox_before
    assert {k: r["state"] for k, r in inbox_rows(a).items()} == {"OB-1": "applied", "OB-2": "waiting"}


def test_a_run_stopped_between_the_shops_commit_and_the_stores_is_applied_again(
        backend, make_shop, tmp_path, monkeypatch):
    """The store in a database of its own: the shop commits a group's shipments before the store
    commits it. A run stopped in between leaves the confirmations due; the next run finds the shop
    already shipped with the same numbers and records them. And the state an older version of this
    flow could leave (the order recorded shipped, the shop not written) is finished the same way."""
    shop = make_shop(backend, "reference", orders=30, skus=4, bad_share=0.0)
    with throwaway_database(backend, tmp_path, prefix="store") as url:
        engine = create_store_engine(url)
        upgrade(engine)
        store = IntegrationStore(engine)
        codes = sent(store, paid_orders(shop, 4))
        for n, code in enumerate(codes[:3]):
            receive(store.confirmations, code, key=f"OB-{n}", packages=(parcel(f"YT{n}"),))

        class Stopped(BaseException):
            """The process killed (not an error a run handles)."""

        def stop(*args, **kwargs):
            raise Stopped

        with monkeypatch.context() as patch:
            patch.setattr(ConfirmationInbox, "settle_many", stop)
            with pytest.raises(Stopped):
                apply_shipments(bridge_of(shop, store, "run-1"))
        assert {c: s[0] for c, s in shop_rows(shop, codes[:3]).items()} == dict.fromkeys(codes[:3], "shipped")
        assert {r["state"] for r in inbox_rows(store).values()} == {"received"}  # the store's part undone
        assert {r["attempts"] for r in inbox_rows(store).values()} == {0}
        assert {order_sync_rows(store)[c]["state"] for c in codes} == {"sent"}

        # an older flow's crash: the order recorded shipped, the shop not written, the confirmation due
        receive(store.confirmations, codes[3], key="OB-3", packages=(parcel("YT3"),))
        ship(store, codes[3], carrier_code="YTO", tracking_numbers=["YT3"])

        report = apply_shipments(bridge_of(shop, store, "run-2"))

        assert (report.sent, report.needs_person) == (4, 0), report.samples
        assert shop_rows(shop, codes) == {c: ("shipped", f"YT{n}", "YTO") for n, c in enumerate(codes)}
        rows = order_sync_rows(store)
        assert all(rows[c]["state"] == "shipped" and rows[c]["shop_written_at"] for c in codes)
        engine.dispose()


def test_rows_another_run_applied_meanwhile_are_left_to_it(backend, reference):
    """Two runs read the same due rows; the one that applies second finds them taken (its claim
    compares each row's attempts with what it read) and applies none of them again."""
    shop, store = reference(backend)
    code, unknown = sent(store, paid_orders(shop, 1))[0], "NOT-OURS-1"
    receive(store.confirmations, code, key="OB-1", packages=(parcel("YT1"),))
    receive(store.confirmations, unknown, key="OB-2", packages=(parcel("YT2"),))  # waits: still due after
    read_by_the_slower_run = store.confirmations.due()

    first = apply_shipments(bridge_of(shop, store, "run-1"))
    assert (first.sent, first.retry_waiting) == (1, 1)
    store.confirmations.due = lambda limit=500: read_by_the_slower_run  # what it read before the other applied
    second = apply_shipments(bridge_of(shop, store, "run-2"))

    assert (second.extracted, second.held, second.sent, second.retry_waiting) == (2, 2, 0, 0), second.samples
    rows = inbox_rows(store)
    assert (rows["OB-1"]["state"], rows["OB-2"]["state"]) == ("applied", "waiting")
    assert {r["attempts"] for r in rows.values()} == {1}  # counted once: by the run that applied them
    assert shop_rows(shop, [code])[code] == ("shipped", "YT1", "YTO")


def test_two_runs_at_once_apply_each_confirmation_once(backend, reference, monkeypatch):
    """Twin runs over the same due rows, small groups so that they interleave: whichever takes a
    group, every confirmation is applied by exactly one of them (the other reports it held)."""
    monkeypatch.setattr(shipments, "GROUP", 3)
    shop, store = reference(backend)
    codes = sent(store, paid_orders(shop, 12))
    for n, code in enumerate(codes):
        receive(store.confirmations, code, key=f"OB-{n}", packages=(parcel(f"YT{n}"),))
    start = threading.Barrier(2)
    reports = {}

    def twin(run_id: str) -> None:
        bridge = bridge_of(shop, IntegrationStore(shop.engine), run_id)
        start.wait()
        reports[run_id] = apply_shipments(bridge)

    threads = [threading.Thread(target=twin, args=(run_id,)) for run_id in ("run-a", "run-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert set(reports) == {"run-a", "run-b"}
    applied = [r.sent for r in reports.values()]
    assert sum(applied) == len(codes), {k: r.counts for k, r in reports.items()}
    assert all(r.sent + r.held == r.extracted and r.problems == 0 for r in reports.values())
    assert {(r["state"], r["attempts"]) for r in inbox_rows(store).values()} == {("applied", 1)}
    assert shop_rows(shop, codes) == {c: ("shipped", f"YT{n}", "YTO") for n, c in enumerate(codes)}


def test_confirmations_waiting_too_long_go_to_a_person_once_each(backend, reference):
    """Rows of one group settling in different ways (received -> waiting, waiting -> newly overdue,
    already overdue): each run's verdict counts only what it newly put in front of a person."""
    shop, _ = reference(backend)
    t0 = datetime(2026, 11, 11, tzinfo=timezone.utc)
    clock = [t0]
    store = IntegrationStore(shop.engine, clock=lambda: clock[0])

    def run(run_id: str, hours: int):
        clock[0] = t0 + timedelta(hours=hours)
        report = apply_shipments(bridge_of(shop, store, run_id))
        return (report.retry_waiting, report.needs_person), store.needs_person_by_run("shipments", run_id)[0]

    receive(store.confirmations, "NOT-OURS-1", key="U1", packages=(parcel("YT1"),))
    assert run("run-1", 1) == ((1, 0), 0)
    clock[0] = t0 + timedelta(hours=20)
    receive(store.confirmations, "NOT-OURS-2", key="U2", packages=(parcel("YT2"),))
    assert run("run-2", 25) == ((1, 1), 1)  # U1 now overdue (24 h), U2 waits
    assert run("run-3", 50) == ((0, 2), 1)  # U1 still overdue (counted by run-2), U2 newly
    rows = inbox_rows(store)
    assert {k: (r["state"], r["attempts"], r["run_id"]) for k, r in rows.items()} == {
        "U1": ("waiting", 3, "run-2"), "U2": ("waiting", 2, "run-3")}
    assert rows["U1"]["overdue_at"] == t0 + timedelta(hours=25)
    assert rows["U2"]["overdue_at"] == t0 + timedelta(hours=50)


@pytest.mark.parametrize("engine_of", ["plain", "store"])
def test_the_shop_writer_tells_taken_from_refused_in_one_transaction(backend, reference, engine_of):
    """``write_shipments``: one executemany where the driver sums rowcounts (the plain engine), one
    statement per order where it cannot (the store's psycopg2 engine batches its executemany); a
    short sum is resolved per order. Writing the same shipments again takes the same ones."""
    shop, _ = reference(backend)
    (a, ida), (refused, idr), (c, idc) = paid_orders(shop, 3)
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE shop_order SET status = 'cancelled' WHERE order_no = :c"), {"c": refused})
    at = datetime(2026, 11, 30, 2, tzinfo=timezone.utc)
    batch = [Shipment(i, f"T-{i}", "YTO", at) for i in (ida, idr, idc)]
    engine = shop.engine if engine_of == "plain" else create_store_engine(shop.url)
    writer = ShopWriter("reference")
    for _ in range(2):
        with engine.begin() as conn:
            assert writer.write_shipments(conn, batch, now_utc=at) == [True, False, True]
    assert shop_rows(shop, [a, refused, c]) == {a: ("shipped", f"T-{ida}", "YTO"), refused: ("cancelled", None, None),
                                                c: ("shipped", f"T-{idc}", "YTO")}
    if engine is not shop.engine:
        engine.dispose()
