"""The simulator is as strict as a Qimen gateway (issue 9): public parameters, sign case, and the
address each method must go to. What the simulator accepts, a real gateway must accept too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from qimen.documents import build_document
from qimen.errors import QimenGatewayError
from qimen.parsing import parse_response
from qimen.timeutil import now_beijing
from qimen.transport import CONTENT_TYPE, build_request_url, public_params, signed_params
from wms_simulator.config import JUXING_PATH_V1, JUXING_PATH_V2, JUXING_METHOD_PATHS

from .helpers import call, item_document

METHOD = "singleitem.synchronize"


def send(session, sim, *, path: str | None = None, method: str = METHOD, change=None, drop=(), lower_sign=False):
    """POST an item document with public parameters changed (``change``) or left out (``drop``)."""
    body = build_document(method, item_document("STRICT-1"))
    params = public_params(method, app_key="k", customer_id=sim.customer_id)
    params.update(change or {})
    for key in drop:
        params.pop(key)
    params = signed_params(params, body, sim.secret)
    if lower_sign:
        params["sign"] = params["sign"].lower()
    url = build_request_url(sim.url(path) if path else sim.base_url, params)
    answer = session.post(url, data=body.encode("utf-8"), headers={"Content-Type": CONTENT_TYPE}, timeout=10)
    assert answer.status_code == 200
    return answer.text


def refusal(text: str) -> QimenGatewayError:
    with pytest.raises(QimenGatewayError) as caught:
        parse_response(text)
    return caught.value


@pytest.mark.parametrize(("change", "drop", "sub_code", "words"), [
    ({}, ("timestamp",), "isv.missing-parameter:timestamp", "缺少timestamp"),
    ({"timestamp": "2020-09-29 13:38:26"}, (), "isv.invalid-timestamp", "minutes off"),
    ({"timestamp": "2020-09-29T13:38:26"}, (), "isv.invalid-timestamp", "yyyy-MM-dd HH:mm:ss"),
    ({"format": "json"}, (), "isv.invalid-format", "format只支持xml"),
    ({"v": "1.0"}, (), "isv.invalid-version", "v只支持2.0"),
    ({}, ("v",), "isv.invalid-version", "v只支持2.0"),
])
def test_public_parameters_are_checked_like_a_gateway(wms_simulator, session, change, drop, sub_code, words):
    fault = refusal(send(session, wms_simulator, change=change, drop=drop))
    assert fault.sub_code == sub_code and words in fault.sub_msg
    assert not fault.retryable  # the caller's mistake: resending the same request cannot help
    assert wms_simulator.admin.items() == []


def test_a_timestamp_off_by_more_than_ten_minutes_either_way_is_refused(wms_simulator, session):
    fmt = "%Y-%m-%d %H:%M:%S"
    for minutes in (11, -11):
        stamp = (now_beijing() + timedelta(minutes=minutes)).strftime(fmt)
        assert refusal(send(session, wms_simulator, change={"timestamp": stamp})).sub_code == "isv.invalid-timestamp"
    for minutes in (9, -9):
        stamp = (now_beijing() + timedelta(minutes=minutes)).strftime(fmt)
        assert parse_response(send(session, wms_simulator, change={"timestamp": stamp}), METHOD).success


def test_a_utc_timestamp_is_eight_hours_off(wms_simulator, session):
    """The classic mistake: Airflow's UTC clock sent as if it were Beijing time."""
    stamp = (now_beijing() - timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
    assert "480 minutes off" in refusal(send(session, wms_simulator, change={"timestamp": stamp})).sub_msg


def test_a_lower_case_sign_is_refused(wms_simulator, session):
    answer = parse_response(send(session, wms_simulator, lower_sign=True), METHOD)
    assert (answer.flag, answer.code) == ("failure", "sign-check-failure")
    assert "upper-case" in answer.message
    assert parse_response(send(session, wms_simulator), METHOD).success


def test_lenient_mode_accepts_what_juxing_says_it_does_not_check(wms_simulator_factory, session):
    sim = wms_simulator_factory(strict_public_params=False)
    text = send(session, sim, change={"format": "json", "v": "1.0"}, drop=("timestamp",))
    assert parse_response(text, METHOD).success


def test_methods_can_be_restricted_to_their_path(wms_simulator_factory, session):
    """Juxing's note: items at /api/v2/..., orders at /api/v1/...: a wrong address is caught."""
    sim = wms_simulator_factory(method_paths=JUXING_METHOD_PATHS)
    fault = refusal(send(session, sim, path=JUXING_PATH_V1))
    assert fault.sub_code == "isv.method-not-at-path"
    assert JUXING_PATH_V2 in fault.sub_msg and JUXING_PATH_V1 in fault.sub_msg
    assert sim.admin.items() == []
    assert parse_response(send(session, sim, path=JUXING_PATH_V2), METHOD).success
    # a method that is not restricted goes anywhere
    assert call(session, sim, "inventory.query", {"criteriaList": [{"itemCode": "STRICT-1"}]},
                path=JUXING_PATH_V1).flag in ("success", "failure")


def test_method_paths_are_checked_at_start():
    from wms_simulator.config import SimulatorConfig

    with pytest.raises(ValueError, match="unknown Qimen method"):
        SimulatorConfig(method_paths={"deliveryorder.creat": [JUXING_PATH_V1]})
    with pytest.raises(ValueError, match="no Qimen paths"):
        SimulatorConfig(method_paths={"deliveryorder.create": ["/api/v3/x"]})
