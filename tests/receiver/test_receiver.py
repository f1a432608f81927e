"""The receiver over HTTP: what it stores, what it refuses, and that it never stores a refusal."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from receivers import CUSTOMER, SAMPLE, TOKEN, receiver, store_url, tables  # noqa: F401 (fixtures)

from qimen.parsing import parse_response
from qimen.signing import sign
from qimen.transport import public_params
from wmsbridge_tools.chaos.attacks import LAUGHS, XXE, oversized, truncated
from wmsbridge.receiver.app import create_app
from wmsbridge.errors import ConfigError


XML = {"Content-Type": "text/xml;charset=utf-8"}


def post(receiver, body: bytes, *, headers=XML, **params) -> tuple[int, object]:
    token = params.pop("token", TOKEN)
    response = httpx.post(receiver.url(token, **params), content=body, headers=headers, timeout=30)
    return response.status_code, parse_response(response.content)


def test_juxing_sample_is_stored_raw_before_success(receiver, tables):
    r = receiver()
    status, answer = post(r, SAMPLE, method="deliveryorder.confirm", customerId=CUSTOMER)
    assert status == 200 and answer.success and answer.code == "0"
    (row,) = tables.inbox()
    assert row["raw_body"] == SAMPLE.decode("utf-8")  # byte for byte
    assert (row["out_biz_code"], row["delivery_order_code"], row["delivery_order_id"]) == (
        "1601100137", "JY2009260440", "JY202009260122419")
    assert (row["status"], row["confirm_type"], row["state"], row["order_confirm_at"]) == ("DELIVERED", 0, "received", None)
    packages = tables.packages()
    assert {p["express_code"] for p in packages} == {"YT4815765342047"}
    assert [(p["item_code"], p["quantity"]) for p in packages][:2] == [("S190013", 2), ("6971278390527", 1)]
    assert len(packages) == 7 and {p["logistics_code"] for p in packages} == {"YTO"}
    (logged,) = tables.exchanges()
    assert (logged["direction"], logged["outcome"], logged["business_key"]) == ("inbound", "success", "JY2009260440")
    assert TOKEN not in str(logged) and "token" not in logged["request_url"]


def test_duplicates_answer_success_and_store_nothing_new(receiver, tables):
    r = receiver()
    for _ in range(3):
        status, answer = post(r, SAMPLE)
        assert status == 200 and answer.success
    assert len(tables.inbox()) == 1 and len(tables.packages()) == 7
    logged = tables.exchanges()
    assert [e["outcome"] for e in logged] == ["success", "duplicate", "duplicate"]
    assert "<message>duplicate: already stored</message>" in logged[1]["response_body"]  # what was answered
    # same outBizCode, another body (a resend with a fixed field): still the same confirmation
    status, answer = post(r, SAMPLE.replace(b"<weight></weight>", b"<weight>1.5</weight>"))
    assert answer.success and answer.message.startswith("duplicate") and len(tables.inbox()) == 1


def test_without_outbizcode_the_body_hash_is_the_key(receiver, tables):
    r = receiver()
    body = SAMPLE.replace(b"<outBizCode>1601100137</outBizCode>", b"<outBizCode></outBizCode>")
    assert post(r, body)[1].success and post(r, body)[1].success
    (row,) = tables.inbox()
    assert row["out_biz_code"] == "sha256:" + hashlib.sha256(body).hexdigest()
    assert post(r, body.replace(b"JY2009260440", b"JY2009260441"))[1].success
    assert len(tables.inbox()) == 2


def test_lenient_about_odd_optional_fields_and_unknown_elements(receiver, tables):
    r = receiver()
    body = (SAMPLE
            .replace(b"<orderConfirmTime></orderConfirmTime>", b"<orderConfirmTime>2020-09-26 13:53:08.0</orderConfirmTime>")
            .replace(b"<weight></weight>", b"<weight>1.2kg</weight>")
            .replace(b"<planQty>2</planQty>", b"<planQty>2.0000</planQty>")
            .replace(b"<operateTime></operateTime>", b"<operateTime>yesterday</operateTime>")
            .replace(b"<storageFee></storageFee>", b"<storageFee>n/a</storageFee><warehouseMood>sunny</warehouseMood>")
            .replace(b"<packageCode></packageCode>", b"<packageCode/><newThing><deep>1</deep></newThing>"))
    status, answer = post(r, body)
    assert status == 200 and answer.success
    (row,) = tables.inbox()
    assert row["order_confirm_at"].isoformat() == "2020-09-26T05:53:08+00:00"  # Beijing 13:53:08
    (logged,) = tables.exchanges()
    assert "'1.2kg' read as 1.2" in logged["error_message"] and "yesterday" in logged["error_message"]


def test_method_from_the_body_when_the_query_has_none(receiver, tables):
    r = receiver()
    status, answer = post(r, SAMPLE)  # no method parameter at all
    assert status == 200 and answer.success and len(tables.inbox()) == 1
    status, answer = post(r, SAMPLE, method="taobao.qimen.deliveryorder.confirm")
    assert answer.success  # the long name is the same method (a duplicate here)


CREATE = b"<request><deliveryOrder><deliveryOrderCode>X1</deliveryOrderCode><receiverInfo><name>a</name></receiverInfo></deliveryOrder><orderLines/></request>"


@pytest.mark.parametrize(("case", "body", "params", "headers", "status", "code"), [
    ("bad token", SAMPLE, {"token": "wrong-token-0123456789abcdef"}, XML, 401, "invalid-token"),
    ("no token", SAMPLE, {"token": None}, XML, 401, "invalid-token"),
    ("xxe", XXE, {}, XML, 400, "unsafe-xml"),
    ("entity expansion", LAUGHS, {}, XML, 400, "unsafe-xml"),
    ("truncated", truncated(SAMPLE), {}, XML, 400, "malformed-xml"),
    ("not xml", b"deliveryOrderCode=JY1&status=DELIVERED", {}, XML, 400, "malformed-xml"),
    ("wrong content type", SAMPLE, {}, {"Content-Type": "application/json"}, 415, "unsupported-content-type"),
    ("foreign customer", SAMPLE, {"customerId": "SOMEONE-ELSE"}, XML, 403, "invalid-customer"),
    ("unknown method", SAMPLE, {"method": "order.cancel"}, XML, 400, "invalid-method"),
    ("unknown shape", CREATE, {}, XML, 400, "invalid-method"),
    ("no order code", SAMPLE.replace(b"<deliveryOrderCode>JY2009260440</deliveryOrderCode>", b""), {}, XML, 400,
     "missing-field"),
    ("oversized", oversized(), {}, XML, 413, "body-too-large"),
])
def test_refused_with_a_qimen_failure_and_nothing_stored(receiver, tables, case, body, params, headers, status, code):
    r = receiver()
    got_status, answer = post(r, body, headers=headers, **params)
    assert (got_status, answer.flag, answer.code) == (status, "failure", code), answer.message
    assert tables.inbox() == [] and tables.packages() == []
    (logged,) = tables.exchanges()  # every callback is in the exchange log, refusals too
    assert (logged["direction"], logged["outcome"], logged["error_code"]) == ("inbound", "refused", code)
    assert logged["method"] == params.get("method", "deliveryorder.confirm")  # as asked
    assert TOKEN not in str(logged) and "passwd" not in (logged["response_body"] or "")


def test_oversized_by_content_length_is_refused_before_reading(receiver, tables):
    r = receiver(callback_max_bytes=4096)
    status, answer = post(r, SAMPLE)  # the sample is bigger than 4 KB
    assert (status, answer.code) == (413, "body-too-large") and tables.inbox() == []


def test_ip_allow_list(receiver, tables):
    assert post(receiver(callback_allowed_ips=["10.0.0.0/8"]), SAMPLE)[1].code == "ip-not-allowed"
    assert tables.inbox() == []
    assert post(receiver(callback_allowed_ips=["10.0.0.0/8", "127.0.0.1"]), SAMPLE)[1].success


def test_qimen_sign_is_checked_when_configured_and_present(receiver, tables):
    secret = "qimen-secret"
    r = receiver(callback_secret=secret, callback_verify_sign=True)
    text = SAMPLE.decode()
    params = public_params("deliveryorder.confirm", app_key="jx", customer_id=CUSTOMER)
    signed = {**params, "sign": sign(params, text, secret)}
    assert post(r, SAMPLE, **{**params, "sign": "0" * 32})[1].code == "sign-check-failure"
    assert tables.inbox() == []
    assert post(r, SAMPLE, **signed)[1].success
    # the token itself signed along (the warehouse signs the whole URL we gave it): fine too
    with_token = {**params, "token": TOKEN}
    assert post(r, SAMPLE, **{**params, "sign": sign(with_token, text, secret)})[1].success
    # Juxing without Qimen parameters: the token alone decides
    assert post(r, SAMPLE.replace(b"1601100137", b"1601100138"))[1].success
    assert len(tables.inbox()) == 2


def test_store_down_answers_failure_so_the_warehouse_sends_again(receiver, tables, store_url):
    import sqlalchemy as sa

    r = receiver()
    from wmsbridge.store.engine import create_store_engine
    engine = create_store_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE wms_shipment_package"))
    engine.dispose()
    status, answer = post(r, SAMPLE)
    assert (status, answer.flag, answer.code) == (503, "failure", "store-unavailable")


def test_plugin_app_without_a_token_answers_a_clear_error_not_open(tables):
    from receivers import ThreadedReceiver

    def build():
        raise ConfigError("wms_bridge_config.callback_token is not set")

    with ThreadedReceiver(create_app(build=build)) as r:
        status, answer = post(r, SAMPLE)
        assert (status, answer.flag, answer.code) == (503, "failure", "receiver-not-configured")
        assert "callback_token" in answer.message
        assert httpx.get(r.url(None, path="/wms/health")).status_code == 503
    assert tables.inbox() == [] and tables.exchanges() == []


def test_a_body_cut_off_in_transit_is_not_stored(receiver, tables):
    """The client announces more bytes than it sends and hangs up: nothing is stored."""
    import socket

    r = receiver()
    path = httpx.URL(r.url()).raw_path.decode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(SAMPLE)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", r.port), timeout=30) as conn:
        conn.sendall(head + SAMPLE[: len(SAMPLE) // 2])
        conn.shutdown(socket.SHUT_WR)
        conn.recv(4096)  # the server closes (or answers) once it saw the connection end
    whole = SAMPLE.replace(b"1601100137", b"1601100199")
    assert post(r, whole)[1].success
    assert [row["out_biz_code"] for row in tables.inbox()] == ["1601100199"]
