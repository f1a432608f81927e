"""QimenHook.call against a real loopback server: what is retried, how often, and what is returned."""

from __future__ import annotations

import inspect
from urllib.parse import parse_qsl, urlsplit

import pytest
from hook_test_values import APP_SECRET, CUSTOMER_ID
from scripted_server import BASE_PATH, bad_gateway, failure, gateway_error, hang, isv_error, reply, reset, success

from qimen.answers import Verdict
from qimen.client import QimenClient
from qimen.signing import verify_sign
from qimen_provider.hooks.qimen import QimenHook
from qimen.errors import (
    QimenBusinessError,
    QimenGatewayError,
    QimenHTTPError,
    QimenProtocolError,
    QimenTransportError,
)

ITEM_XML = (
    '<?xml version="1.0" encoding="utf-8"?><request><actionType>add</actionType>'
    "<warehouseCode>WH-1038</warehouseCode><ownerCode>OWNER-404781084</ownerCode>"
    "<item><itemCode>SKU-001</itemCode><itemName>秋冬大衣 黑色XL</itemName><itemType>ZC</itemType></item></request>"
)


@pytest.mark.parametrize(
    "fault",
    [bad_gateway, lambda: hang(5.0), reset, lambda: gateway_error("50")],
    ids=["http-502", "read-timeout", "connection-reset", "gateway-code-50"],
)
def test_retryable_faults_are_retried_until_success(server, make_hook, fault):
    server.script(fault(), fault(), success(itemId="CH123"))
    hook = make_hook(max_retries=3, read_timeout=0.4)

    result = hook.call("singleitem.synchronize", ITEM_XML)

    assert result.success
    assert result.attempts == 3
    assert server.request_count == 3
    assert result.response.fields["itemId"] == "CH123"
    assert result.http_status == 200
    assert result.request_body == ITEM_XML
    assert "<flag>success</flag>" in result.response_body


def test_mixed_faults_then_success(server, make_hook):
    server.script(bad_gateway(), hang(5.0), reset(), gateway_error("50", "isp.service-unavailable"), success())
    hook = make_hook(max_retries=4, read_timeout=0.4)

    result = hook.call("singleitem.synchronize", ITEM_XML)

    assert (result.attempts, server.request_count) == (5, 5)


def test_every_attempt_is_a_signed_utf8_xml_post_that_verifies(server, make_hook):
    server.script(bad_gateway(), success())
    hook = make_hook()

    hook.call("taobao.qimen.singleitem.synchronize", ITEM_XML)

    assert server.request_count == 2
    for arrival in server.arrivals:
        assert arrival.path == BASE_PATH
        assert arrival.content_type == "text/xml;charset=utf-8"
        assert arrival.body == ITEM_XML  # Chinese text arrived intact as UTF-8
        assert arrival.query["method"] == "singleitem.synchronize"  # the short name Juxing expects
        assert arrival.query["customerId"] == CUSTOMER_ID
        assert arrival.query["format"] == "xml" and arrival.query["v"] == "2.0"
        assert verify_sign(arrival.query, arrival.body, APP_SECRET)
        assert not verify_sign(arrival.query, arrival.body, APP_SECRET + "x")


def test_each_attempt_gets_a_fresh_timestamp_and_sign(server, make_hook):
    # 0.9 requests/s spaces the two attempts more than a second apart, so the timestamps must differ.
    server.script(bad_gateway(), success())
    hook = make_hook(max_requests_per_second=0.9)

    hook.call("singleitem.synchronize", ITEM_XML)

    first, second = server.arrivals
    assert first.query["timestamp"] != second.query["timestamp"]
    assert first.query["sign"] != second.query["sign"]
    assert verify_sign(first.query, first.body, APP_SECRET) and verify_sign(second.query, second.body, APP_SECRET)


def test_flag_failure_is_never_retried_and_raises_with_bodies(server, make_hook):
    server.script(failure("ITEM_EXISTS", "货品已存在"))
    hook = make_hook(max_retries=3)

    with pytest.raises(QimenBusinessError) as caught:
        hook.call("singleitem.synchronize", ITEM_XML)

    err = caught.value
    assert server.request_count == 1
    assert err.attempts == 1
    assert err.code == "ITEM_EXISTS"
    assert err.request_body == ITEM_XML
    assert "货品已存在" in err.response_body
    assert err.http_status == 200


def test_flag_failure_can_be_returned_instead_of_raised(server, make_hook):
    server.script(failure("ITEM_EXISTS", "货品已存在"))
    result = make_hook().call("singleitem.synchronize", ITEM_XML, raise_on_failure=False)

    assert not result.success
    assert (result.response.code, result.response.message) == ("ITEM_EXISTS", "货品已存在")
    assert result.attempts == 1 and server.request_count == 1


def test_isv_gateway_error_is_never_retried(server, make_hook):
    server.script(isv_error())
    hook = make_hook(max_retries=3)

    with pytest.raises(QimenGatewayError) as caught:
        hook.call("singleitem.synchronize", ITEM_XML)

    assert server.request_count == 1
    assert caught.value.attempts == 1
    assert caught.value.sub_code == "isv.invalid-parameter"
    assert "非法参数" in caught.value.response_body


def test_exhausted_retries_raise_the_last_error_with_attempts(server, make_hook):
    server.script(*(bad_gateway() for _ in range(10)))
    hook = make_hook(max_retries=3)

    with pytest.raises(QimenHTTPError) as caught:
        hook.call("singleitem.synchronize", ITEM_XML)

    err = caught.value
    assert server.request_count == 4
    assert err.attempts == 4
    assert err.http_status == 502 and err.retryable
    assert err.request_body == ITEM_XML
    assert "502 Bad Gateway" in err.response_body
    assert dict(parse_qsl(urlsplit(err.url).query))["sign"] == "***"
    assert err.verdict is Verdict.PASSING and err.duration_ms is not None  # declared, set by the hook


def test_the_hook_is_the_client_the_pipelines_are_written_against():
    """Pipelines are typed against qimen.client.QimenClient; the hook must keep its shape."""
    for name in ("warehouse_code", "owner_code"):
        assert isinstance(getattr(QimenHook, name), property), name
    assert inspect.signature(QimenHook.call).parameters.keys() == inspect.signature(QimenClient.call).parameters.keys()
    for name, parameter in inspect.signature(QimenClient.call).parameters.items():
        assert inspect.signature(QimenHook.call).parameters[name].default == parameter.default, name


def test_an_error_declares_what_a_caller_reads_before_any_client_set_it():
    err = QimenTransportError("ReadTimeout: read timed out", code="TIMEOUT")
    assert (err.url, err.attempts, err.verdict, err.retry_after, err.duration_ms) == (None,) * 5


def test_timeouts_exhaust_retries_as_transport_errors(server, make_hook):
    server.script(*(hang(5.0) for _ in range(3)))
    hook = make_hook(max_retries=2, read_timeout=0.3)

    with pytest.raises(QimenTransportError) as caught:
        hook.call("singleitem.synchronize", ITEM_XML)

    assert caught.value.attempts == 3 and server.request_count == 3
    assert "Timeout" in str(caught.value)


def test_per_call_max_retries_zero_sends_once(server, make_hook):
    server.script(bad_gateway(), success())

    with pytest.raises(QimenHTTPError):
        make_hook(max_retries=3).call("singleitem.synchronize", ITEM_XML, max_retries=0)

    assert server.request_count == 1


def test_document_data_is_built_into_xml(server, make_hook):
    hook = make_hook()
    document = {
        "actionType": "add",
        "warehouseCode": hook.warehouse_code,
        "ownerCode": hook.owner_code,
        "item": {"itemCode": "SKU-002", "itemName": "加湿器", "itemType": "ZC"},
    }

    result = hook.call("singleitem.synchronize", document)

    body = server.arrivals[0].body
    assert body == result.request_body
    assert "<itemName>加湿器</itemName>" in body and "<warehouseCode>WH-1038</warehouseCode>" in body


def test_unknown_method_is_refused_before_sending(server, make_hook):
    with pytest.raises(ValueError, match="unknown Qimen method"):
        make_hook().call("deliveryorder.creat", ITEM_XML)
    assert server.request_count == 0


def test_oversized_answer_is_refused_not_buffered_and_not_retried(server, make_hook):
    server.script(reply(200, "<response>" + "x" * (6 * 1024 * 1024) + "</response>"))

    with pytest.raises(QimenProtocolError, match="larger than"):
        make_hook(max_retries=3).call("singleitem.synchronize", ITEM_XML)
    assert server.request_count == 1
