"""Every fault mode, driven over HTTP, with seeded dice so the runs are reproducible."""

from __future__ import annotations

import time

import pytest
import requests
from qimen.documents import build_document
from qimen.errors import QimenGatewayError
from qimen.parsing import parse_response
from wms_simulator import SimulatorAdminError

from .helpers import call, inventory_document, item_document, order_document, post

ITEM_BODY = build_document("singleitem.synchronize", item_document("SKU-1"))


def statuses(session, sim, count: int) -> list[int]:
    return [post(session, sim, "singleitem.synchronize", ITEM_BODY).status_code for _ in range(count)]


def test_latency_delays_the_answer_past_a_short_client_timeout(wms_simulator_factory, session):
    sim = wms_simulator_factory(faults={"latency_ms": 600, "jitter_ms": 100})
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(session, sim, "singleitem.synchronize", ITEM_BODY, timeout=(5, 0.1))
    sim.admin.set_faults(latency_ms=0, jitter_ms=0)
    assert post(session, sim, "singleitem.synchronize", ITEM_BODY, timeout=(5, 5)).status_code == 200


def test_latency_is_the_response_time_counted_from_arrival(wms_simulator_factory, session):
    """The answer leaves no sooner than latency after the request arrived, processing within it
    (a lower bound: the simulator's time is never added on top, never cut short)."""
    sim = wms_simulator_factory(faults={"latency_ms": 300})
    started = time.monotonic()
    assert post(session, sim, "singleitem.synchronize", ITEM_BODY, timeout=(5, 5)).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert sim.admin.requests("singleitem.synchronize")[-1]["duration_ms"] >= 300


def test_a_seeded_fraction_of_http_5xx_is_reproducible(wms_simulator_factory, session):
    first = wms_simulator_factory(faults={"fail_5xx": 0.5, "seed": 42})
    second = wms_simulator_factory(faults={"fail_5xx": 0.5, "seed": 42})
    run = statuses(session, first, 16)
    assert set(run) == {200, 503}
    assert statuses(session, second, 16) == run
    counters = first.admin.counters()["singleitem.synchronize"]
    assert counters == {"received": 16, "http_5xx": run.count(503), "success": run.count(200)}
    logged_5xx = [r for r in first.admin.requests() if r["http_status"] == 503]
    assert all(r["fault"] == "http_5xx" and "<" not in r["answer"] for r in logged_5xx)


def test_reseeding_through_the_admin_api_replays_the_same_faults(wms_simulator, session):
    wms_simulator.admin.set_faults(fail_5xx=0.3, seed=3)
    run = statuses(session, wms_simulator, 10)
    wms_simulator.admin.set_faults(seed=3)
    assert statuses(session, wms_simulator, 10) == run


def test_a_hanging_request_times_the_client_out_and_is_not_processed(wms_simulator_factory, session):
    sim = wms_simulator_factory(faults={"hang": 1.0, "hang_seconds": 30})
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(session, sim, "singleitem.synchronize", ITEM_BODY, timeout=(5, 0.3))
    assert sim.admin.items() == []
    [logged] = sim.admin.requests()
    assert (logged["outcome"], logged["http_status"], logged["answer"]) == ("hang", None, None)


def test_error_response_is_a_retryable_gateway_fault_and_nothing_is_stored(wms_simulator_factory, session):
    sim = wms_simulator_factory(faults={"error_response": 1.0})
    with pytest.raises(QimenGatewayError) as exc:
        call(session, sim, "singleitem.synchronize", item_document("SKU-1"))
    assert (exc.value.code, exc.value.sub_code) == ("50", "isp.remote-service-error")
    assert exc.value.retryable
    assert sim.admin.items() == []


def test_failure_codes_are_answered_with_flag_failure(wms_simulator_factory, session):
    codes = ["SYSTEM_BUSY", "WMS_LOCKED"]
    sim = wms_simulator_factory(faults={"failure": 1.0, "failure_codes": codes, "seed": 1})
    seen = {call(session, sim, "singleitem.synchronize", item_document(f"SKU-{i}")).code for i in range(12)}
    assert seen == set(codes)
    assert sim.admin.items() == []
    assert sim.admin.counters()["singleitem.synchronize"]["failure"] == 12


def test_drop_after_processing_stores_the_order_although_the_client_got_no_answer(sim_with_items, session):
    sim = sim_with_items
    sim.admin.set_faults(drop_after=1.0)
    document = order_document("PS-DROP", [("A", 2)])
    with pytest.raises(requests.exceptions.ConnectionError):
        call(session, sim, "deliveryorder.create", document)
    order = sim.admin.order("PS-DROP")  # it went through
    assert order["status"] == "ACCEPT"
    assert sim.admin.requests(method="deliveryorder.create")[-1]["outcome"] == "dropped"

    sim.admin.set_faults(drop_after=0.0)
    again = call(session, sim, "deliveryorder.create", document)  # the safe retry
    assert again.success and again.fields["deliveryOrderId"] == order["order_id"]
    assert sim.admin.repeats()["PS-DROP"] == 1


def test_rate_limit_refuses_callers_over_the_limit_with_app_call_limited(wms_simulator_factory, session):
    sim = wms_simulator_factory(faults={"rate_limit": 2, "rate_limit_window_s": 120})
    document = inventory_document("SKU-1")
    assert call(session, sim, "inventory.query", document).success
    assert call(session, sim, "inventory.query", document).success
    with pytest.raises(QimenGatewayError) as exc:
        call(session, sim, "inventory.query", document)
    assert (exc.value.code, exc.value.message, exc.value.sub_code) == ("7", "App Call Limited", "isp.call-limited")
    assert exc.value.retryable
    assert sim.admin.counters()["inventory.query"] == {"received": 3, "success": 2, "error_response": 1}

    sim.admin.set_faults(rate_limit=0)  # changing faults also resets the limiter's window
    assert call(session, sim, "inventory.query", document).success


def test_faults_can_target_some_methods_only(wms_simulator_factory, session):
    sim = wms_simulator_factory(faults={"error_response": 1.0, "methods": ["inventory.query"]})
    assert call(session, sim, "singleitem.synchronize", item_document("SKU-1")).success
    with pytest.raises(QimenGatewayError):
        call(session, sim, "inventory.query", inventory_document("SKU-1"))


def test_fault_settings_through_the_admin_api(wms_simulator):
    admin = wms_simulator.admin
    assert admin.set_faults(latency_ms=5, fail_5xx=0.1)["fail_5xx"] == 0.1
    merged = admin.set_faults(hang=0.2)
    assert (merged["latency_ms"], merged["fail_5xx"], merged["hang"]) == (5, 0.1, 0.2)
    replaced = admin.replace_faults(error_response=0.5)
    assert (replaced["latency_ms"], replaced["fail_5xx"], replaced["error_response"]) == (0, 0.0, 0.5)
    assert admin.faults() == replaced
    with pytest.raises(SimulatorAdminError) as unknown:
        admin.set_faults(fail_500=0.5)
    assert unknown.value.status == 400 and "fail_500" in unknown.value.answer["error"]
    with pytest.raises(SimulatorAdminError):
        admin.set_faults(hang=1.5)


def test_reset_restores_the_start_faults_and_forgets_state(wms_simulator_factory, session):
    sim = wms_simulator_factory(faults={"latency_ms": 1})
    call(session, sim, "singleitem.synchronize", item_document("SKU-1"))
    sim.admin.seed_stock([{"itemCode": "SKU-1", "quantity": 5}])
    sim.admin.set_faults(error_response=1.0)
    sim.admin.reset()
    assert sim.admin.faults()["error_response"] == 0.0 and sim.admin.faults()["latency_ms"] == 1
    assert (sim.admin.items(), sim.admin.stock(), sim.admin.orders(), sim.admin.requests()) == ([], [], [], [])
    assert sim.admin.counters() == {}
    answer = call(session, sim, "singleitem.synchronize", item_document("SKU-1"))
    assert answer.success and answer.fields["itemId"]

    sim.admin.set_faults(error_response=1.0)
    sim.admin.reset(keep_faults=True)
    assert sim.admin.faults()["error_response"] == 1.0


def test_the_answer_to_an_unexpected_body_is_xml_even_under_faults(wms_simulator_factory, session):
    sim = wms_simulator_factory(faults={"failure": 1.0})
    answer = parse_response(post(session, sim, "deliveryorder.create", "not xml at all").text)
    assert answer.flag == "failure"
