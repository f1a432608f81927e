"""A return the shop withdraws after approving it (the buyer cancels, the admin refuses after all, the
after-sale is deleted), on the three databases, with litemall's after-sale table:

- withdrawn before the warehouse was told (registered and pending, failed for a passing reason, or
  refused by our checks): ``withdrawn``, never sent, nobody waits;
- withdrawn after the warehouse was told: ``withdrawn`` and waiting for a person (``returns_withdrawn``,
  the one definition of store/attention.py: its counts, the view ``wms_v_needs_person``, the run's
  verdict once), until a person marks it handled; a receipt the warehouse posts for it afterwards
  moves no stock and waits for a person;
- a failed return whose last request got no answer may be at the warehouse: it counts as told;
- a refund after shipment the withdrawn return had taken over is a person's again;
- without the profile's ``withdrawn_returns`` nothing of this happens (docs/profiles.md).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
import yaml
from bridge_helpers import bridge, quick_retry_bridge
from databases import BACKENDS, throwaway_database
from test_returns import (
    RETURNS_ON,
    crmeb_refund,
    crmeb_refund_ddl,
    crmeb_returns_profile,
    litemall_aftersale,
    sent,
    stock,
)

from wmsbridge.config import ENV_KEY
from wmsbridge.pipelines import returns as returns_flow
from wmsbridge.pipelines.returns import sync_returns, withdrawn_in_shop
from wmsbridge.shop.profile import PROFILES_DIR, load_profile
from wmsbridge.shop.reader import ShopReader
from wmsbridge.store import IntegrationStore, attention, migrate
from wmsbridge.store.actions import PersonActions
from wmsbridge.store.schema import return_sync, stock_adjustment, warehouse_report

METHOD = "returnorder.create"
RETURN_CATEGORIES = [c.key for c in attention.categories_of("returns")]


def _now_bj() -> datetime:
    return datetime.now(timezone(timedelta(hours=8))).replace(tzinfo=None, microsecond=0)


def withdraw(shop, sn: str, *, status: int | None = None, deleted: bool = False) -> None:
    """The buyer cancels (status 5), the admin refuses after all (4), or the after-sale is deleted."""
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE litemall_aftersale SET status = COALESCE(:s, status), deleted = :d, "
                             "update_time = :t WHERE aftersale_sn = :sn"),
                     {"s": status, "d": deleted, "t": _now_bj(), "sn": sn})


def states(store) -> dict[str, tuple]:
    with store.engine.connect() as conn:
        return {r.return_code: (r.state, r.last_error_code) for r in conn.execute(sa.select(return_sync))}


def waiting(store) -> dict[str, int]:
    """Returns-flow categories with something waiting."""
    return {k: n for k, n in attention.counts(store.engine, RETURN_CATEGORIES).items() if n}


def in_view(store) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.text(
            f"SELECT category, subject FROM {attention.VIEW} WHERE flow = 'returns'")))


def creates(store, code: str) -> list[str]:
    """Outcomes of the returnorder.create requests logged for ``code``."""
    return [e["outcome"] for e in sent(store, METHOD) if e["business_key"] == code]


def other_orders(shop, order_id: int, n: int) -> list[int]:
    """Paid orders the warehouse accepted (not shipped), other than ``order_id``."""
    with shop.engine.connect() as conn:
        return conn.execute(sa.text("SELECT id FROM litemall_order WHERE order_status = 201 AND id <> :o ORDER BY id"),
                            {"o": order_id}).scalars().all()[:n]


def never_sent_order(shop) -> int:
    with shop.engine.connect() as conn:  # not paid (litemall 101, say): the bridge never sent it
        return conn.execute(sa.text("SELECT id FROM litemall_order WHERE order_status <> 201 AND order_status <> 301 "
                                    "ORDER BY id")).scalars().first()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_return_withdrawn_before_the_warehouse_was_told_is_never_sent_and_nobody_waits(
        backend, shipped_order, monkeypatch):
    shop, sim, store, _receiver, _code, order_id = shipped_order(backend, **RETURNS_ON)
    (other,) = other_orders(shop, order_id, 1)
    # AS-1: the warehouse is busy (a passing refusal): failed, due again; AS-3: its order never
    # reached the warehouse: refused by our checks, waiting for a person
    litemall_aftersale(shop, order_id, sn="AS-1")
    litemall_aftersale(shop, never_sent_order(shop), sn="AS-3")
    sim.admin.replace_faults(failure=1.0, failure_codes=["SYSTEM_BUSY"], methods=[METHOD])
    busy = sync_returns(quick_retry_bridge("busy", max_retries=0))
    assert (busy.retry_waiting, busy.rejected, busy.sent) == (1, 1, 0), busy.summary()
    assert waiting(store) == {"returns_rejected": 1}
    # AS-2: registered by a run that stopped before it sent anything: pending
    litemall_aftersale(shop, other, sn="AS-2")
    with monkeypatch.context() as stopped:
        stopped.setattr(returns_flow._Run, "announce_due", lambda self: None)
        sync_returns(bridge("stopped"))
    assert states(store) == {"AS-1": ("failed", "SYSTEM_BUSY"), "AS-2": ("pending", None),
                             "AS-3": ("rejected", "REJECTED")}
    sim.admin.replace_faults()

    # the buyer cancels AS-1, the admin deletes AS-2 and refuses AS-3 after all
    withdraw(shop, "AS-1", status=5)
    withdraw(shop, "AS-2", deleted=True)
    withdraw(shop, "AS-3", status=4)
    report = sync_returns(bridge("withdrawn"))
    assert (report.sent, report.needs_person, report.retry_waiting, report.needs_person_verdict) == (0, 0, 0, 0), \
        report.summary()
    (said,) = [n for n in report.notes if n.startswith("withdrawn in the shop before the warehouse was told")]
    assert said.startswith("withdrawn in the shop before the warehouse was told (never sent): 3: ")
    assert sorted(said.split(": ")[-1].split(", ")) == ["AS-1", "AS-2", "AS-3"]
    assert {code: state for code, (state, _) in states(store).items()} == dict.fromkeys(("AS-1", "AS-2", "AS-3"),
                                                                                         "withdrawn")
    assert sim.admin.returns() == []
    assert creates(store, "AS-1") == ["business_failure"] and creates(store, "AS-2") == creates(store, "AS-3") == []
    assert waiting(store) == {} and in_view(store) == []  # nobody waits, AS-3 left the refused ones
    with store.engine.connect() as conn:
        why = dict(conn.execute(sa.select(return_sync.c.return_code, return_sync.c.last_error_message)).all())
    assert "用户已取消" in why["AS-1"] and "deleted" in why["AS-2"] and "审核拒绝" in why["AS-3"]
    # later runs: never sent, nothing said again
    again = sync_returns(bridge("later"))
    assert (again.sent, again.needs_person) == (0, 0) and not any("withdrawn" in n for n in again.notes)
    assert sim.admin.returns() == [] and len(sent(store, METHOD)) == 1


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_return_withdrawn_after_the_warehouse_was_told_waits_for_a_person_and_its_parcel_moves_nothing(
        backend, shipped_order):
    shop, sim, store, receiver, code, order_id = shipped_order(backend, **RETURNS_ON)
    aftersale = litemall_aftersale(shop, order_id, sn="AS-1")
    assert sync_returns(bridge("returns-1")).sent == 1
    (announced,) = sim.admin.returns()
    assert announced["return_code"] == "AS-1"
    before = stock(shop, order_id)

    withdraw(shop, "AS-1", status=5)  # the buyer cancels: the warehouse still expects the parcel
    found = sync_returns(bridge("returns-2"))
    assert (found.sent, found.needs_person, found.needs_person_verdict) == (0, 1, 1), found.summary()
    (named,) = found.verdict_samples
    assert named.startswith("AS-1: withdrawn in the shop (用户已取消") and "ask the warehouse to cancel" in named
    assert states(store)["AS-1"] == ("withdrawn", "WITHDRAWN_AFTER_SENT")
    assert waiting(store) == {"returns_withdrawn": 1}
    assert attention.counts(store.engine)["returns_withdrawn"] == 1
    assert in_view(store) == [("returns_withdrawn", "AS-1")]
    (row,) = attention.rows(store.engine, "returns_withdrawn")
    assert (row["detail"], row["state"], row["run_id"]) == (code, "withdrawn", "returns-2")
    # Airflow retries that run: the same verdict; the next run names it no more and sends nothing
    assert sync_returns(bridge("returns-2")).needs_person_verdict == 1
    later = sync_returns(bridge("returns-3"))
    assert (later.sent, later.needs_person, later.needs_person_verdict) == (0, 0, 0), later.summary()
    assert creates(store, "AS-1") == ["success"] and len(sim.admin.returns()) == 1

    # the person asks the warehouse to cancel it, then marks it handled: off every list
    acts = PersonActions(store.engine)
    assert acts.act("handled", "returns_withdrawn", ["AS-1"], actor="operator",
                    note="仓库已取消退货单").done == ["AS-1"]
    assert waiting(store) == {} and in_view(store) == []
    assert acts.act("handled", "returns_withdrawn", ["AS-1"], actor="operator").stale == ["AS-1"]

    # the parcel comes after all: no stock moves, the after-sale stays as it is, a person looks at it
    with shop.engine.connect() as conn:
        comment = conn.execute(sa.text("SELECT comment FROM litemall_aftersale WHERE id = :a"),
                               {"a": aftersale}).scalar_one()
    sim.admin.receive_return("AS-1", callback_url=receiver.url())
    received = sync_returns(bridge("returns-4"))
    assert (received.sent, received.needs_person, received.needs_person_verdict) == (0, 1, 1), received.summary()
    assert "商城已撤销的退货入库: AS-1" in received.verdict_samples[0]
    assert stock(shop, order_id) == before
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(stock_adjustment)).scalar_one() == 0
        (report,) = conn.execute(sa.select(warehouse_report).where(
            warehouse_report.c.method == "returnorder.confirm")).all()
    assert report.state == "needs_person" and "a return the shop withdrew" in report.summary
    with shop.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT comment FROM litemall_aftersale WHERE id = :a"),
                            {"a": aftersale}).scalar_one() == comment
    assert states(store)["AS-1"] == ("withdrawn", "WITHDRAWN_AFTER_SENT")
    # not a refund to pay: the receipt waits on its own, a return receipt to check (not an order's report)
    assert waiting(store) == {"returns_receipts": 1}
    assert in_view(store) == [("returns_receipts", str(report.id))]
    assert {r["detail"] for r in attention.rows(store.engine, "returns_receipts")} == {"AS-1"}
    assert not attention.rows(store.engine, "reports_for_person")
    later = sync_returns(bridge("returns-5"))
    assert (later.needs_person, later.needs_person_verdict) == (0, 0) and stock(shop, order_id) == before


@pytest.mark.timeout(300)
def test_a_refund_after_shipment_whose_return_is_withdrawn_is_a_persons_again(shipped_order):
    from wmsbridge.pipelines.cancels import cancel_orders

    shop, _sim, store, _receiver, code, order_id = shipped_order("sqlite", **RETURNS_ON)
    with shop.engine.begin() as conn:  # the buyer asks for a refund after the parcel left
        conn.execute(sa.text("UPDATE litemall_order SET order_status = 202, update_time = :t WHERE id = :o"),
                     {"o": order_id, "t": _now_bj()})
    cancel_orders(bridge("cancel"), changed_from_utc=datetime.now(timezone.utc) - timedelta(hours=1))
    refunds = {r["subject"] for r in attention.rows(store.engine, "refunds_after_shipment")}
    assert code in refunds
    litemall_aftersale(shop, order_id, sn="AS-1")
    assert sync_returns(bridge("returns-1")).sent == 1
    assert code not in {r["subject"] for r in attention.rows(store.engine, "refunds_after_shipment")}
    withdraw(shop, "AS-1", status=5)
    assert sync_returns(bridge("returns-2")).needs_person_verdict == 1
    assert code in {r["subject"] for r in attention.rows(store.engine, "refunds_after_shipment")}
    assert waiting(store) == {"returns_withdrawn": 1}


def with_read_timeout(monkeypatch, seconds: float) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_QIMEN_DEFAULT"])
    conn["extra"] = {**conn["extra"], "read_timeout": seconds, "connect_timeout": 2}
    monkeypatch.setenv("AIRFLOW_CONN_QIMEN_DEFAULT", json.dumps(conn))


@pytest.mark.timeout(300)
def test_a_failed_return_whose_answer_was_lost_counts_as_told(shipped_order, monkeypatch):
    shop, sim, store, _receiver, _code, order_id = shipped_order("sqlite", **RETURNS_ON)
    with_read_timeout(monkeypatch, 1)
    litemall_aftersale(shop, order_id, sn="AS-1")
    sim.admin.replace_faults(latency_ms=3000, methods=[METHOD])  # stored at once, answered too late
    lost = sync_returns(quick_retry_bridge("lost", max_retries=0))
    assert lost.retry_waiting == 1 and states(store)["AS-1"][0] == "failed"
    sim.admin.replace_faults()
    withdraw(shop, "AS-1", status=4)
    found = sync_returns(bridge("withdrawn"))
    assert (found.sent, found.needs_person_verdict) == (0, 1), found.summary()
    assert "got no answer (transport_error)" in found.verdict_samples[0]
    assert states(store)["AS-1"] == ("withdrawn", "WITHDRAWN_AFTER_SENT") and waiting(store) == {"returns_withdrawn": 1}
    assert creates(store, "AS-1") == ["transport_error"]  # never sent again


@pytest.mark.timeout(300)
def test_a_crmeb_return_refused_after_it_was_announced(shipped_order, tmp_path, monkeypatch):
    shop, sim, store, _receiver, _code, order_id = shipped_order("sqlite", **RETURNS_ON)
    config = json.loads(os.environ[ENV_KEY])
    monkeypatch.setenv(ENV_KEY, json.dumps({**config, "profile": str(crmeb_returns_profile(tmp_path))}))
    (other,) = other_orders(shop, order_id, 1)
    with shop.engine.begin() as conn:
        conn.execute(sa.text(crmeb_refund_ddl(shop.engine.dialect.name)))
    crmeb_refund(shop, 7, "RF-SENT", order_id, express="SF1400000001")
    crmeb_refund(shop, 8, "RF-KEPT", other, refund_type=4)
    assert sync_returns(bridge("returns-1")).sent == 2
    with shop.engine.begin() as conn:  # the admin refuses RF-SENT after all (3 拒绝退款)
        conn.execute(sa.text("UPDATE eb_store_order_refund SET refund_type = 3 WHERE id = 7"))
    found = sync_returns(bridge("returns-2"))
    assert (found.sent, found.needs_person_verdict) == (0, 1), found.summary()
    assert "拒绝退款" in found.verdict_samples[0]
    assert states(store) == {"RF-SENT": ("withdrawn", "WITHDRAWN_AFTER_SENT"), "RF-KEPT": ("sent", None)}
    with shop.engine.begin() as conn:  # the buyer cancels the other (is_cancel 1)
        conn.execute(sa.text("UPDATE eb_store_order_refund SET is_cancel = 1 WHERE id = 8"))
    assert sync_returns(bridge("returns-3")).needs_person_verdict == 1
    assert waiting(store) == {"returns_withdrawn": 2}


@pytest.mark.timeout(300)
def test_without_the_query_a_withdrawal_goes_unseen(shipped_order, tmp_path, monkeypatch):
    """What docs/profiles.md says of a profile without ``withdrawn_returns``: nothing changes."""
    shop, sim, store, _receiver, _code, order_id = shipped_order("sqlite", **RETURNS_ON)
    data = yaml.safe_load((PROFILES_DIR / "litemall.yaml").read_text(encoding="utf-8"))
    data["queries"].pop("withdrawn_returns")
    path = tmp_path / "litemall-without.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = json.loads(os.environ[ENV_KEY])
    monkeypatch.setenv(ENV_KEY, json.dumps({**config, "profile": str(path)}))
    litemall_aftersale(shop, order_id, sn="AS-1")
    with monkeypatch.context() as stopped:
        stopped.setattr(returns_flow._Run, "announce_due", lambda self: None)
        sync_returns(bridge("stopped"))
    withdraw(shop, "AS-1", status=5)
    assert sync_returns(bridge("later")).sent == 1 and states(store)["AS-1"][0] == "sent"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_reference_profile_names_refused_returns(backend, make_shop):
    shop = make_shop(backend, "reference", orders=4, skus=3, bad_share=0.0)
    now = datetime(2026, 12, 5, 10, 0)
    with shop.engine.begin() as conn:
        order = conn.execute(sa.text("SELECT id FROM shop_order ORDER BY id")).scalars().first()
        for number, status in (("R-OK", "approved"), ("R-NO", "refused"), ("R-IN", "received")):
            conn.execute(sa.text(
                "INSERT INTO shop_return (return_no, order_id, status, reason, created_at, updated_at) "
                "VALUES (:n, :o, :s, '质量问题', :t, :t)"), {"n": number, "o": order, "s": status, "t": now})
        ids = dict(conn.execute(sa.text("SELECT return_no, id FROM shop_return")).all())
    reference = SimpleNamespace(reader=ShopReader(load_profile("reference")), shop=shop.engine)
    found = withdrawn_in_shop(reference, [str(i) for i in ids.values()])
    assert found == {str(ids["R-NO"]): "refused in the shop (status refused)"}
    assert withdrawn_in_shop(reference, []) == {}


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_migration_adds_the_state_and_its_downgrade_keeps_who_waits(backend, tmp_path):
    with throwaway_database(backend, tmp_path, prefix="withdrawn") as url:
        engine = sa.create_engine(url)
        try:
            migrate.upgrade(engine)
            store = IntegrationStore(engine)
            store.returns.register([{"return_code": c, "shop_return_id": c, "delivery_order_code": "O1"}
                                    for c in ("TOLD", "QUIET", "KEPT")])
            assert store.returns.claim("TOLD") and store.returns.claim("KEPT")
            store.returns.mark_sent("TOLD", "W1")
            store.returns.mark_sent("KEPT", "W2")
            assert store.returns.mark_withdrawn("TOLD", "sent", "用户已取消", told=True)
            assert store.returns.mark_withdrawn("QUIET", "pending", "用户已取消", told=False)
            assert not store.returns.mark_withdrawn("KEPT", "pending", "moved on", told=False)  # it is sent
            assert attention.counts(engine, ["returns_withdrawn"]) == {"returns_withdrawn": 1}
            migrate.downgrade(engine, "0010_bridges")
            with engine.connect() as conn:
                rows = {r.return_code: (r.state, r.handled_at is not None) for r in conn.execute(sa.text(
                    "SELECT return_code, state, handled_at FROM wms_return"))}
                waiting_now = sorted(tuple(r) for r in conn.execute(sa.text(
                    f"SELECT category, subject FROM {attention.VIEW} WHERE flow = 'returns'")))
            assert rows == {"TOLD": ("rejected", False), "QUIET": ("rejected", True), "KEPT": ("sent", False)}
            assert waiting_now == [("returns_rejected", "TOLD")]
            with pytest.raises(sa.exc.DBAPIError):  # the CHECK of 0010
                with engine.begin() as conn:
                    conn.execute(sa.text("UPDATE wms_return SET state = 'withdrawn' WHERE return_code = 'KEPT'"))
            assert migrate.upgrade(engine) == migrate.head_revision()
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE wms_return SET state = 'withdrawn' WHERE return_code = 'KEPT'"))
        finally:
            engine.dispose()
