"""Hostile and broken input always gets a Qimen answer, never an HTML page or a bare 500."""

from __future__ import annotations

import socket

import pytest
from qimen.errors import QimenGatewayError
from qimen.parsing import parse_response
from qimen.transport import CONTENT_TYPE

from .helpers import post, signed_url

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<request><actionType>add</actionType><warehouseCode>WH01</warehouseCode><ownerCode>O</ownerCode>
<item><itemCode>&lol3;</itemCode><itemName>x</itemName><itemType>ZC</itemType></item></request>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<request><actionType>add</actionType><warehouseCode>WH01</warehouseCode><ownerCode>O</ownerCode>
<item><itemCode>&xxe;</itemCode><itemName>x</itemName><itemType>ZC</itemType></item></request>"""


def gateway_fault(response) -> QimenGatewayError:
    assert response.headers["Content-Type"].startswith("text/xml")
    with pytest.raises(QimenGatewayError) as exc:
        parse_response(response.text)
    return exc.value


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["entity-bomb", "external-entity"])
def test_dtd_and_entities_are_refused(wms_simulator, session, body):
    fault = gateway_fault(post(session, wms_simulator, "singleitem.synchronize", body))
    assert fault.sub_code == "isv.invalid-parameter" and not fault.retryable
    assert wms_simulator.admin.items() == []


@pytest.mark.parametrize("body", ["", "hello", "<html><body>500</body></html>", "<request><unclosed>",
                                  "<response><flag>success</flag></response>"])
def test_garbage_gets_an_error_response(wms_simulator, session, body):
    answer = post(session, wms_simulator, "deliveryorder.create", body)
    assert answer.status_code == 200
    assert gateway_fault(answer).sub_code == "isv.invalid-parameter"
    assert wms_simulator.admin.orders() == []


def test_a_body_that_is_not_utf8_gets_an_error_response(wms_simulator, session):
    answer = session.post(signed_url(wms_simulator, "singleitem.synchronize", ""),
                          data="<request>商品</request>".encode("gbk"), headers={"Content-Type": CONTENT_TYPE},
                          timeout=10)
    assert "UTF-8" in gateway_fault(answer).sub_msg


def test_an_oversized_body_is_refused_before_parsing(wms_simulator_factory, session):
    sim = wms_simulator_factory(max_body_bytes=10_000)
    body = "<request>" + "x" * 20_000 + "</request>"
    fault = gateway_fault(post(session, sim, "singleitem.synchronize", body))
    assert fault.sub_code == "isv.body-too-large"
    [logged] = sim.admin.requests()
    assert logged["body"] is None, "an oversized body is not kept"
    # the connection is still usable afterwards
    assert post(session, sim, "inventory.query", "<request/>").status_code == 200


def test_the_default_cap_is_five_megabytes(wms_simulator, session):
    body = "<request>" + "x" * (5 * 1024 * 1024) + "</request>"
    assert gateway_fault(post(session, wms_simulator, "singleitem.synchronize", body)).sub_code == "isv.body-too-large"


def test_a_broken_http_request_is_answered_in_xml(wms_simulator):
    host, port = wms_simulator.server.address
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(b"BREW /pot HTTP/1.1\r\nHost: teapot\r\n\r\n")
        chunks = []
        while chunk := raw.recv(65536):  # the server closes the connection after an error
            chunks.append(chunk)
        data = b"".join(chunks).decode("utf-8", "replace")
    head, _, body = data.partition("\r\n\r\n")
    assert head.split(" ")[1] == "501"
    assert "text/xml" in head and "<html" not in body.lower()
    assert body.lstrip().startswith("<?xml") and "<error_response>" in body


def test_admin_api_refuses_bad_json_and_oversized_bodies(wms_simulator, session):
    admin_url = wms_simulator.url("/__admin/stock")
    bad = session.post(admin_url, data=b"{not json", timeout=10)
    assert bad.status_code == 400 and "invalid JSON" in bad.json()["error"]
    huge = session.post(admin_url, data=b"[" + b"1," * 600_000 + b"1]", timeout=10)
    assert huge.status_code == 413
    unknown = session.get(wms_simulator.url("/__admin/nothing-here"), timeout=10)
    assert unknown.status_code == 404 and "stock" in unknown.json()["routes"]
