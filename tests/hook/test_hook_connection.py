"""The ``qimen`` connection: lazy lookup, env-var JSON and URI forms, settings, test_connection()."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hook_test_values import APP_KEY, APP_SECRET, CUSTOMER_ID, OWNER_CODE, WAREHOUSE_CODE
from scripted_server import BASE_PATH, failure, gateway_error, isv_error, success

from qimen.answers import DEFAULT_RULES
from qimen.parsing import parse_request
from qimen.signing import verify_sign
from qimen_provider.connection import QimenSettings, base_url_from_parts
from qimen_provider.hooks.qimen import PROBE_ITEM_CODE, QimenHook

XML = "<request><criteriaList><criteria><itemCode>SKU-1</itemCode></criteria></criteriaList></request>"


def test_hook_reads_no_connection_until_first_use(server):
    hook = QimenHook(qimen_conn_id="qimen_does_not_exist")  # must not fail: DAG files build hooks at parse time

    with pytest.raises(Exception, match="qimen_does_not_exist"):
        hook.call("inventory.query", XML)
    assert server.request_count == 0
    ok, message = hook.test_connection()
    assert not ok and "qimen_does_not_exist" in message


def test_connection_from_env_json(server, monkeypatch):
    conn = {
        "conn_type": "qimen",
        "host": server.base_url,
        "login": APP_KEY,
        "password": APP_SECRET,
        "extra": {
            "customer_id": CUSTOMER_ID,
            "owner_code": OWNER_CODE,
            "warehouse_code": WAREHOUSE_CODE,
            "sign_method": "hmac",
            "read_timeout": 7,
            "max_requests_per_second": "2.5",
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_QIMEN_DEFAULT", json.dumps(conn))
    hook = QimenHook()

    hook.call("inventory.query", XML)

    s = hook.settings
    assert (s.base_url, s.app_key, s.app_secret) == (server.base_url, APP_KEY, APP_SECRET)
    assert (hook.customer_id, hook.owner_code, hook.warehouse_code) == (CUSTOMER_ID, OWNER_CODE, WAREHOUSE_CODE)
    assert (s.api_version, s.connect_timeout, s.read_timeout, s.max_requests_per_second) == ("2.0", 15.0, 7.0, 2.5)
    arrival = server.arrivals[0]
    assert arrival.path == BASE_PATH
    assert arrival.query["sign_method"] == "hmac" and arrival.query["customerId"] == CUSTOMER_ID
    assert verify_sign(arrival.query, arrival.body, APP_SECRET)


@pytest.mark.parametrize("with_scheme", [False, True], ids=["host-path", "scheme-in-host"])
def test_connection_from_env_uri(server, monkeypatch, with_scheme):
    secret = "se/cr@t:+ 密钥"  # characters that must be percent-encoded in a URI
    query = f"customer_id={CUSTOMER_ID}&warehouse_code={WAREHOUSE_CODE}&owner_code={OWNER_CODE}&sign_method=hmac-sha256"
    scheme = "http://" if with_scheme else ""
    uri = f"qimen://{scheme}{APP_KEY}:{quote(secret, safe='')}@127.0.0.1:{server.port}{BASE_PATH}?{query}"
    monkeypatch.setenv("AIRFLOW_CONN_QIMEN_URI", uri)
    hook = QimenHook("qimen_uri")

    hook.call("inventory.query", XML)

    assert hook.settings.base_url == server.base_url
    assert hook.warehouse_code == WAREHOUSE_CODE
    arrival = server.arrivals[0]
    assert arrival.path == BASE_PATH
    assert arrival.query["sign_method"] == "hmac-sha256"
    assert verify_sign(arrival.query, arrival.body, secret)


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        (
            "http://www.jxwms.net/api/v2/openapi/wms/wmsnotify/9",
            None,
            None,
            "http://www.jxwms.net/api/v2/openapi/wms/wmsnotify/9",
        ),
        ("www.jxwms.net", "api/v1/openapi/wms/wmsnotify/9", None, "http://www.jxwms.net/api/v1/openapi/wms/wmsnotify/9"),
        ("https://wms.example.com", "/gw", 8443, "https://wms.example.com:8443/gw"),
        ("http://127.0.0.1:8080/x", None, 9999, "http://127.0.0.1:8080/x"),
    ],
)
def test_base_url_from_connection_parts(host, schema, port, expected):
    assert base_url_from_parts(host, schema, port) == expected


@pytest.mark.parametrize(
    ("host", "schema", "message"),
    [
        ("", None, "no host"),
        ("ftp://example.com/x", None, "not an http"),
        ("http://example.com/a", "b", "both in host and in schema"),
    ],
)
def test_bad_base_urls_are_refused(host, schema, message):
    with pytest.raises(ValueError, match=message):
        base_url_from_parts(host, schema)


def test_bad_extras_are_refused(qimen_conn, server):
    for extra, message in [({"sign_method": "sha1"}, "sign_method"), ({"read_timeout": "soon"}, "must be a number")]:
        with pytest.raises(ValueError, match=message):
            QimenHook(qimen_conn(server.base_url, **extra)).call("inventory.query", XML)
    assert server.request_count == 0


def test_an_empty_customer_id_is_refused_before_anything_is_sent(qimen_conn, server):
    """Juxing routes every message by customerId (its 货主ID): none means nothing can arrive."""
    from qimen_provider.connection import QimenConnectionError

    conn_id = qimen_conn(server.base_url, customer_id="  ")
    with pytest.raises(QimenConnectionError, match=rf"connection '{conn_id}': extra 'customer_id'.*empty"):
        QimenHook(conn_id).call("inventory.query", XML)
    assert server.request_count == 0


def test_owner_code_defaults_to_the_customer_id(qimen_conn, server):
    """Juxing: "customerId此字段和货主ID内容相同"."""
    hook = QimenHook(qimen_conn(server.base_url, owner_code=""))
    assert hook.owner_code == hook.customer_id == CUSTOMER_ID


def test_connection_from_the_uri_airflow_itself_exports(server, monkeypatch):
    """``airflow connections export --serialization-format uri`` encodes the path into the host."""
    from airflow.sdk.definitions.connection import Connection

    made_in_ui = Connection(
        conn_id="qimen_ui",
        conn_type="qimen",
        host=server.base_url,
        login=APP_KEY,
        password=APP_SECRET,
        extra=json.dumps({"customer_id": CUSTOMER_ID}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_QIMEN_EXPORTED", made_in_ui.get_uri())
    hook = QimenHook("qimen_exported")

    hook.call("inventory.query", XML)

    assert hook.settings.base_url == server.base_url
    assert server.arrivals[0].path == BASE_PATH
    assert verify_sign(server.arrivals[0].query, server.arrivals[0].body, APP_SECRET)


def test_settings_repr_hides_the_secret(qimen_conn, server):
    settings = QimenHook(qimen_conn(server.base_url)).settings
    assert isinstance(settings, QimenSettings)
    assert APP_SECRET not in repr(settings) and APP_SECRET not in str(settings)


def test_test_connection_sends_an_incomplete_cancel_by_default(server, make_hook):
    """The cheap probe: order.cancel with no order code, which the warehouse refuses; no inventory.query."""
    server.script(failure("invalid-parameter", "orderCode: required"))
    ok, message = make_hook().test_connection()

    assert ok, message
    assert "flag=failure" in message and "no order code" in message and CUSTOMER_ID in message
    arrival = server.arrivals[0]
    assert arrival.query["method"] == "order.cancel"
    assert arrival.query["customerId"] == CUSTOMER_ID
    assert "<orderCode>" not in arrival.body and f"<warehouseCode>{WAREHOUSE_CODE}</warehouseCode>" in arrival.body
    assert len(server.arrivals) == 1  # one request, no retry


def test_test_connection_inventory_probe_sends_a_read_only_inventory_query(server, make_hook):
    server.script(failure("ITEM_NOT_FOUND", "货品不存在"))
    ok, message = make_hook().test_connection(probe="inventory")

    assert ok, message
    assert "flag=failure" in message
    arrival = server.arrivals[0]
    assert arrival.query["method"] == "inventory.query"
    criteria = parse_request("inventory.query", arrival.body)["criteriaList"][0]
    assert criteria == {"warehouseCode": WAREHOUSE_CODE, "ownerCode": OWNER_CODE, "itemCode": PROBE_ITEM_CODE}


@pytest.mark.parametrize(
    ("answer", "expected_ok", "fragment"),
    [
        (success(), True, "flag=success"),
        (failure("sign-check-failure", "签名错误"), False, "signature"),
        (failure("invalid-customer", "customerId is not a known owner"), False, "customerId"),
        (failure("ERROR", "货主不存在"), False, "ownerCode"),
        (failure("ERROR", "仓库编码不存在: WH-1038"), False, "warehouseCode"),
        (failure("invalid-owner", "owner unknown"), False, "ownerCode"),
        (failure("SYSTEM_BUSY", "系统繁忙，请稍后重试"), False, "busy, try again"),
        (failure("isp.call-limited", "调用频率超限"), False, "busy, try again"),
        (failure("invalid-parameter", "orderCode: required"), True, "as expected"),
        (failure("ERROR", "订单编码不能为空"), True, "as expected"),
        (failure("order-not-found", "订单不存在"), True, "as expected"),
        (isv_error(), False, "isv.invalid-parameter"),
        (gateway_error("25", "isv.invalid-signature", "签名无效"), False, "signature"),
        (gateway_error("7", "isp.call-limited", "调用频率超限"), False, "busy, try again"),
    ],
    ids=["success", "sign-check-failure", "unknown-customer", "unknown-owner-zh", "unknown-warehouse-zh",
         "invalid-owner-code", "busy", "rate-limited", "probe-refused", "probe-refused-zh", "order-not-found",
         "isv-error", "gateway-invalid-signature", "gateway-call-limited"],
)
def test_test_connection_verdicts(server, make_hook, answer, expected_ok, fragment):
    """The probe's answer is judged by qimen.answers: settings refusals fail, busy is no pass."""
    server.script(answer)
    ok, message = make_hook().test_connection()
    assert (ok, fragment in message) == (expected_ok, True), message
    assert APP_SECRET not in message
    assert len(server.arrivals) == 1  # one request, no retry, busy or not


def test_test_connection_uses_the_hooks_own_answer_rules(server, qimen_conn):
    """A deployment's configured wording (Variable ``answer_rules``) counts for the test as for the flows."""
    refusal = failure("E1001", "接口账号未开通")
    rules = DEFAULT_RULES.extended({"settings_phrases": ["接口账号未开通"]})
    conn_id = qimen_conn(server.base_url)

    server.script(refusal, refusal)
    configured_ok, configured_message = QimenHook(conn_id, answer_rules=rules).test_connection()
    default_ok, _ = QimenHook(conn_id).test_connection()

    assert not configured_ok and "refused this connection's settings" in configured_message
    assert default_ok  # the default rules do not know this wording: the probe's refusal as expected


def test_the_probe_refusal_names_no_setting():
    """Whatever a warehouse says about an order.cancel without an order code must not read as a settings refusal."""
    for code, message in [("invalid-parameter", "orderCode: required"), ("ERROR", "订单编码不能为空"),
                          ("ERROR", "缺少必填参数orderCode"), ("order-not-found", "订单不存在"),
                          ("0", "invalid appkey")]:
        assert not DEFAULT_RULES.names_settings(code, message), (code, message)


@pytest.mark.parametrize(
    ("connection", "simulator", "expected_ok", "fragment"),
    [
        ({}, {}, True, "as expected"),
        ({"password": "wrong-secret"}, {}, False, "signature"),
        ({"customer_id": "SOMEONE-ELSE"}, {}, False, "customerId"),
        ({}, {"faults": {"failure": 1.0}}, False, "busy, try again"),
    ],
    ids=["right-settings", "wrong-secret", "unknown-customer", "busy"],
)
def test_test_connection_against_the_simulator(wms_simulator_factory, monkeypatch, connection, simulator,
                                               expected_ok, fragment):
    sim = wms_simulator_factory(**simulator)
    conn = {"conn_type": "qimen", "host": sim.base_url, "login": sim.app_key,
            "password": connection.get("password", sim.secret),
            "extra": {"customer_id": connection.get("customer_id", sim.customer_id), "max_requests_per_second": 0}}
    monkeypatch.setenv("AIRFLOW_CONN_QIMEN_SIM", json.dumps(conn))
    with QimenHook("qimen_sim") as hook:
        ok, message = hook.test_connection()
    assert (ok, fragment in message) == (expected_ok, True), message


def test_inventory_probe_fails_on_a_warehouse_code_the_simulator_does_not_know(wms_simulator_factory, monkeypatch):
    sim = wms_simulator_factory(warehouse_code="WH-REAL", owner_code="OWNER-REAL")
    extra = {"customer_id": sim.customer_id, "warehouse_code": "WH-TYPO", "owner_code": "OWNER-REAL",
             "max_requests_per_second": 0}
    conn = {"conn_type": "qimen", "host": sim.base_url, "login": sim.app_key, "password": sim.secret, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_QIMEN_SIM", json.dumps(conn))
    with QimenHook("qimen_sim") as hook:
        ok, message = hook.test_connection(probe="inventory")
        cheap_ok, _ = hook.test_connection()

    assert not ok and "warehouseCode" in message and "invalid-warehouse" in message, message
    assert cheap_ok  # the cheap probe is refused for its missing order code first (docs/connection.md)


def test_test_connection_states_its_cost():
    assert "inventory.query" in QimenHook.test_connection.__doc__ and "Cost" in QimenHook.test_connection.__doc__



@pytest.mark.parametrize("bypass", [False, True], ids=["through-the-proxy", "no-proxy-bypasses-it"])
def test_the_environments_proxy_settings_are_honoured(server, qimen_conn, monkeypatch, bypass):
    """Read once per session (not on every request), but read: a warehouse behind a company proxy."""
    from qimen.errors import QimenTransportError

    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")  # the scripted server as a proxy
    if bypass:
        monkeypatch.setenv("NO_PROXY", "wms.invalid")
    hook = QimenHook(qimen_conn(f"http://wms.invalid{BASE_PATH}"), max_retries=0)
    body = '<?xml version="1.0" encoding="utf-8"?><request><itemCode>SKU-1</itemCode></request>'
    try:
        if bypass:  # straight to a host that does not resolve
            with pytest.raises(QimenTransportError):
                hook.call("singleitem.synchronize", body)
            assert server.request_count == 0
        else:
            assert hook.call("singleitem.synchronize", body).success
            assert hook.call("singleitem.synchronize", body).success  # the same pooled session
            assert [a.path for a in server.arrivals] == [BASE_PATH, BASE_PATH]
    finally:
        hook.close()
