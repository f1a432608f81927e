"""The Test button of Airflow 3.3.2's connection list, as the real UI sends it, against Airflow's real
FastAPI app built in-process (``create_app``, the project's plugins loaded from their entry points).

The list builds its request from the row it shows (airflow/ui/dist/assets/index-*.js):
``{conn_type, connection_id, description: d ?? "", extra: "{}" when empty, host: h ?? "", login: l ?? "",
password: p ?? "", port: Number(n.port), schema: s ?? ""}``, and ``Number(null)`` is 0. Without
``wmsbridge.ops.ui_fixes`` Airflow answers 400 for every connection without a port.
"""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from wmsbridge.ops.ui_fixes import ConnectionTestPortZeroFix, without_port_zero

TEST_URL = "/api/v2/connections/test"


def ui_list_test_body(row: dict) -> dict:
    """What the connection list's Test button posts for ``row`` (a GET /api/v2/connections entry)."""
    return {
        "conn_type": row["conn_type"],
        "connection_id": row["connection_id"],
        "description": row["description"] or "",
        "extra": "{}" if row["extra"] in ("", None) else row["extra"],
        "host": row["host"] or "",
        "login": row["login"] or "",
        "password": row["password"] or "",
        "port": int(row["port"] or 0),  # Number(null) === 0
        "schema": row["schema"] or "",
    }


@pytest.fixture(scope="module")
def airflow_api():
    """Airflow's API app with connection testing enabled and an admin's bearer token."""
    from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
        app = create_app(apps="core")
        token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(app, headers=headers) as client:
            client.airflow_app = app
            yield client


@pytest.fixture
def stored(airflow_api):
    """Create connections through the API as the UI's form does (an empty port is left out); deleted after."""
    made: list[str] = []

    def create(conn_type: str, **fields) -> dict:
        conn_id = f"wms_ui_test_{conn_type}_{uuid.uuid4().hex[:8]}"
        answer = airflow_api.post("/api/v2/connections",
                                  json={"connection_id": conn_id, "conn_type": conn_type, **fields})
        assert answer.status_code == 201, answer.text
        made.append(conn_id)
        rows = airflow_api.get("/api/v2/connections", params={"connection_id_pattern": conn_id}).json()["connections"]
        return next(row for row in rows if row["connection_id"] == conn_id)

    yield create
    for conn_id in made:
        airflow_api.delete(f"/api/v2/connections/{conn_id}")


def qimen_fields(simulator, customer_id: str | None = None) -> dict:
    extra = {"customer_id": customer_id or simulator.customer_id, "max_requests_per_second": 0}
    return {"host": simulator.base_url, "login": simulator.app_key, "password": simulator.secret,
            "extra": json.dumps(extra)}


def test_the_plugin_puts_the_fix_into_airflows_app(airflow_api):
    assert ConnectionTestPortZeroFix in [m.cls for m in airflow_api.airflow_app.user_middleware]


def test_qimen_test_button_as_the_ui_sends_it(airflow_api, stored, wms_simulator):
    from airflow.api_fastapi.core_api.routes.public.connections import _MASKED_CREDENTIAL_SENTINEL

    row = stored("qimen", **qimen_fields(wms_simulator))
    body = ui_list_test_body(row)
    assert body["port"] == 0 and body["password"] == _MASKED_CREDENTIAL_SENTINEL  # the UI's exact shape

    answer = airflow_api.post(TEST_URL, json=body)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] is True, answer.json()
    assert "as expected" in answer.json()["message"]
    assert [r["method"] for r in wms_simulator.admin.requests()][-1:] == ["order.cancel"]


def test_a_settings_refusal_reaches_the_ui_as_a_failed_test(airflow_api, stored, wms_simulator):
    row = stored("qimen", **qimen_fields(wms_simulator, customer_id="NOT-THIS-OWNER"))

    answer = airflow_api.post(TEST_URL, json=ui_list_test_body(row))

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] is False and "customerId" in answer.json()["message"], answer.json()


def test_shop_test_button_as_the_ui_sends_it(airflow_api, stored, tmp_path):
    """``make airflow``'s shop_db: a standard sqlite connection, the file in host, no port."""
    row = stored("sqlite", host=str(tmp_path / "shop.sqlite"))

    answer = airflow_api.post(TEST_URL, json=ui_list_test_body(row))

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] is True, answer.json()


def test_without_the_fix_airflow_refuses_the_uis_request(airflow_api, stored, wms_simulator):
    """Why the fix exists: should this start failing, Airflow answers port 0 itself and the fix can go."""
    app = copy.copy(airflow_api.airflow_app)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not ConnectionTestPortZeroFix]
    app.middleware_stack = None
    from fastapi.testclient import TestClient

    row = stored("qimen", **qimen_fields(wms_simulator))
    with TestClient(app, headers=dict(airflow_api.headers)) as bare:
        answer = bare.post(TEST_URL, json=ui_list_test_body(row))
    assert answer.status_code == 400 and "differs from the stored connection" in answer.text


def test_a_real_port_a_different_host_and_other_routes_pass_untouched(airflow_api, stored, wms_simulator):
    row = stored("qimen", **qimen_fields(wms_simulator))
    elsewhere = {**ui_list_test_body(row), "host": "http://127.0.0.1:9/elsewhere", "port": 0}
    with_port = {**ui_list_test_body(row), "port": 8080}

    for body in (elsewhere, with_port):  # another destination still needs its own credentials
        answer = airflow_api.post(TEST_URL, json=body)
        assert answer.status_code == 400 and "differs from the stored connection" in answer.text, body
    assert without_port_zero(json.dumps(with_port).encode()) is None
    assert without_port_zero(b"not json") is None and without_port_zero(b"[0]") is None
    assert without_port_zero(b'{"port": false}') is None
    assert json.loads(without_port_zero(b'{"port": 0, "host": "h"}')) == {"host": "h"}


async def _echo(scope, receive, send):
    """An ASGI app answering with the body it received and its Content-Length header."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    length = dict(scope["headers"]).get(b"content-length", b"-")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-length", length)]})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize(
    ("method", "path", "body", "changed"),
    [
        ("POST", TEST_URL, {"connection_id": "c", "port": 0}, True),
        ("POST", TEST_URL, {"connection_id": "c", "port": 5432}, False),
        ("POST", TEST_URL, {"connection_id": "c"}, False),
        ("POST", "/api/v2/connections", {"connection_id": "c", "port": 0}, False),
        ("PUT", TEST_URL, {"connection_id": "c", "port": 0}, False),
    ],
    ids=["test-port-0", "test-real-port", "test-no-port", "create", "other-method"],
)
def test_the_middleware_changes_only_port_0_of_a_connection_test(method, path, body, changed):
    from fastapi.testclient import TestClient

    sent = json.dumps(body).encode()
    client = TestClient(ConnectionTestPortZeroFix(_echo))  # no `with`: _echo speaks no lifespan
    answer = client.request(method, path, content=sent, headers={"content-type": "application/json"})
    expected = {k: v for k, v in body.items() if k != "port"} if changed else body
    assert json.loads(answer.content) == expected
    assert answer.headers["x-length"] == str(len(answer.content))
    assert (answer.content != sent) == changed
