"""Warehouse refusals are visible outcomes, and a run's verdict is the same on every try.

- exists-with-different-content (``order-exists-different``) is its own state, never "sent":
  on a first send and on a forced resend of an order already ``sent``;
- a run whose orders the warehouse refused for good fails (AirflowFailException, no retries), and
  clearing/retrying that same run fails again: the verdict is read from the store by run id, not
  from the try's memory (whose claims of those orders now fail).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from bridge_helpers import OWNER, WAREHOUSE, bridge, order_sync_rows, paid_order_codes, run_dag

from wmsbridge.pipelines.items import sync_items
from wmsbridge.pipelines.orders import METHOD, push_orders
from wmsbridge.store.schema import exchange_log, order_sync


def change_receiver(shop, code: str) -> None:
    """The shop edits the order after it reached the warehouse (same code, other content)."""
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE shop_order SET receiver_detail = receiver_detail || ' 3号楼' WHERE order_no = :c")
                     .bindparams(c=code)) if shop.engine.dialect.name != "mysql" else conn.execute(
            sa.text("UPDATE shop_order SET receiver_detail = CONCAT(receiver_detail, ' 3号楼') WHERE order_no = :c")
            .bindparams(c=code))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_exists_different_is_its_own_state_on_a_forced_resend_and_on_a_first_send(
        backend, make_shop, bridge_env, wms_simulator_factory):
    shop = make_shop(backend, "reference", orders=40, skus=8, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)
    good = sorted(paid_order_codes(shop))
    assert sync_items(bridge("items")).undelivered == 0
    assert push_orders(bridge("push-1")).sent == len(good)

    # A forced resend of a sent order whose content changed in the shop meanwhile.
    resent, fresh = good[0], good[1]
    change_receiver(shop, resent)
    forced = push_orders(bridge("push-forced"), order_codes=[resent], force=True)
    assert (forced.sent, forced.needs_person) == (0, 1), forced.summary()
    row = store.orders.order(resent)
    assert (row["state"], row["last_error_code"], row["run_id"]) == (
        "exists_different", "order-exists-different", "push-forced")
    assert forced.verdict_needs_person == 1

    # A first send (our store lost the row, e.g. restored from an old backup) meets another version.
    change_receiver(shop, fresh)
    with store.engine.begin() as conn:
        conn.execute(sa.delete(order_sync).where(order_sync.c.delivery_order_code == fresh))
    first = push_orders(bridge("push-2"))
    assert first.sent == 0 and first.needs_person == 2, first.summary()  # fresh now, resent from before
    assert first.verdict_needs_person == 1  # only its own decision makes this run fail
    assert store.orders.order(fresh)["state"] == "exists_different"
    rows = order_sync_rows(store)
    assert {c for c, r in rows.items() if r["state"] == "sent"} == set(good) - {resent, fresh}

    # A later plain run leaves both alone and names them; a forced one after the fix would resend.
    later = push_orders(bridge("push-3"))
    assert later.needs_person == 2 and later.verdict_needs_person == 0 and later.sent == 0
    assert sum(sim.admin.repeats().values()) == 0  # the warehouse never took a second version
    with store.engine.connect() as conn:
        refusals = conn.execute(sa.select(sa.func.count()).select_from(exchange_log).where(
            exchange_log.c.method == METHOD, exchange_log.c.error_code == "order-exists-different")).scalar_one()
    assert refusals == 2


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_refused_order_fails_its_run_and_every_retry_of_that_run(
        backend, make_shop, bridge_env, wms_simulator_factory, capsys):
    shop = make_shop(backend, "reference", orders=30, skus=6, bad_share=0.0)
    sim = wms_simulator_factory(warehouse_code=WAREHOUSE, owner_code=OWNER)
    store = bridge_env(shop, sim)
    assert run_dag("wms_item_sync").state == "success"

    sim.admin.set_faults(failure=0.25, failure_codes=["ORDER_BLOCKED"], methods=[METHOD], seed=3)
    when = datetime(2026, 11, 29, 1, 0, tzinfo=timezone.utc)
    first = run_dag("wms_order_push", logical_date=when)
    assert first.state == "failed"
    rows = order_sync_rows(store)
    refused = {c for c, r in rows.items() if r["state"] == "failed" and not r["last_error_retryable"]}
    assert refused and {rows[c]["run_id"] for c in refused} == {first.run_id}
    received = sim.admin.counters()[METHOD]["received"]

    # The operator clears the run (or Airflow retries it): same run id, next try, same verdict.
    sim.admin.set_faults(failure=0.0)
    capsys.readouterr()
    second = run_dag("wms_order_push", logical_date=when)
    assert second.run_id == first.run_id
    assert second.state == "failed", "a retry of a run with refused orders must not turn green"
    assert f"{len(refused)} orders records wait for a person after this run" in capsys.readouterr().out
    assert sim.admin.counters()[METHOD]["received"] == received  # nothing re-sent by the retry

    # A new run (another run id) did not decide them: it names them, and succeeds.
    third = run_dag("wms_order_push")
    assert third.state == "success"
    assert {c for c, r in order_sync_rows(store).items() if r["state"] == "failed"} == refused
