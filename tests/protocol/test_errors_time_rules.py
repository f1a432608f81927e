"""Error classification (retryable or not), Beijing time, and the rules table / generated docs."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from qimen.documents import build_error_response, build_response
from qimen.errors import (
    QimenBusinessError,
    QimenError,
    QimenGatewayError,
    QimenHTTPError,
    QimenProtocolError,
    QimenSignatureError,
    QimenTransportError,
    QimenValidationError,
)
from qimen.parsing import parse_response, raise_for_failure
from qimen.rules import DOCUMENTS, RESPONSES, Field, render_markdown
from qimen.timeutil import BEIJING, format_date, format_datetime, now_beijing, parse_date, parse_datetime
from qimen.transport import METHODS, normalize_method

DOCS = Path(__file__).resolve().parents[2] / "docs" / "qimen-fields.md"

# --- errors ------------------------------------------------------------------------------------


def gateway_error(**kwargs) -> QimenGatewayError:
    with pytest.raises(QimenGatewayError) as exc:
        parse_response(build_error_response(**kwargs))
    return exc.value


@pytest.mark.parametrize(
    "kwargs, retryable",
    [
        ({}, True),  # code 50, "Remote service error"
        ({"sub_code": "isp.remote-service-timeout"}, True),
        ({"code": "27", "msg": "Invalid session", "sub_code": "isp.unknown-error"}, True),
        ({"sub_code": "isv.invalid-parameter", "sub_msg": "非法参数"}, False),  # code 50 but the caller's fault
        ({"code": "TOP60", "msg": "convert error", "sub_code": "qimen.request-convert-error"}, False),
        ({"code": "25", "msg": "Invalid signature"}, False),
    ],
)
def test_gateway_errors(kwargs, retryable):
    assert gateway_error(**kwargs).retryable is retryable


def test_flag_failure_is_not_retryable():
    with pytest.raises(QimenBusinessError) as exc:
        raise_for_failure(parse_response(build_response("failure", "E1", "库存不足")))
    assert exc.value.retryable is False and str(exc.value) == "[E1] 库存不足"


@pytest.mark.parametrize("status, retryable", [(502, True), (503, True), (429, True), (400, False), (404, False)])
def test_http_status(status, retryable):
    err = QimenHTTPError("bad status", http_status=status)
    assert err.retryable is retryable and err.code == f"HTTP{status}"


def test_transport_errors_are_retryable_and_all_are_qimen_errors():
    assert QimenTransportError("reset").retryable is True
    for cls in (QimenBusinessError, QimenGatewayError, QimenHTTPError, QimenProtocolError, QimenSignatureError,
                QimenTransportError, QimenValidationError):
        assert issubclass(cls, QimenError)


def test_package_exports():
    # In a fresh interpreter, away from pytest's sys.path: a test folder named like a package
    # (this one was tests/qimen) would shadow the editable install with a namespace package.
    code = (
        "import qimen, qimen.errors as e; "
        "missing = [n for n in qimen.__all__ if getattr(qimen, n, None) is None]; "
        "assert not missing, missing; "
        "assert qimen.QimenError is e.QimenError; "
        "print(len(qimen.__all__))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=DOCS.parents[1])
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 49


# --- Beijing time ------------------------------------------------------------------------------


def test_utc_to_beijing():
    assert format_datetime(datetime(2024, 1, 10, 16, 30, tzinfo=timezone.utc)) == "2024-01-11 00:30:00"
    assert format_date(datetime(2024, 1, 10, 16, 30, tzinfo=timezone.utc)) == "2024-01-11"  # next day there
    assert format_date(date(2024, 1, 10)) == "2024-01-10"
    assert format_datetime(datetime(2024, 1, 11, 0, 30, tzinfo=BEIJING)) == "2024-01-11 00:30:00"
    assert format_datetime(datetime(2024, 1, 10, 11, 30, tzinfo=timezone(timedelta(hours=-5)))) == "2024-01-11 00:30:00"


def test_naive_refused():
    with pytest.raises(ValueError, match="naive"):
        format_datetime(datetime(2024, 1, 11, 0, 30))
    with pytest.raises(ValueError, match="naive"):
        format_date(datetime(2024, 1, 11, 0, 30))


def test_parse_is_aware_beijing():
    parsed = parse_datetime("2024-01-11 00:30:00")
    assert parsed.utcoffset() == timedelta(hours=8)
    assert parsed == datetime(2024, 1, 10, 16, 30, tzinfo=timezone.utc)
    assert parse_date("2024-01-11") == date(2024, 1, 11)
    assert now_beijing().utcoffset() == timedelta(hours=8) and now_beijing().microsecond == 0
    with pytest.raises(ValueError):
        parse_datetime("2024-01-11T00:30:00")


# --- rules table -------------------------------------------------------------------------------


def walk(fields: tuple[Field, ...]):
    for f in fields:
        yield f
        yield from walk(f.children)


def test_every_method_has_rules():
    assert set(DOCUMENTS) == set(METHODS) == set(RESPONSES)
    assert normalize_method("taobao.qimen.inventory.query") == "inventory.query"


@pytest.mark.parametrize("method", list(DOCUMENTS))
def test_rule_tables_are_consistent(method):
    for fields in (DOCUMENTS[method], RESPONSES[method]):
        names = [f.name for f in fields]
        assert len(names) == len(set(names)), f"duplicate field in {method}"
        for f in walk(fields):
            siblings = [c.name for c in f.children]
            assert len(siblings) == len(set(siblings)), f"{method} {f.name}"
            if f.kind in ("datetime", "date"):
                assert f.max_len == {"datetime": 19, "date": 10}[f.kind]


def test_juxing_choices():
    order = DOCUMENTS["deliveryorder.create"][0]
    receiver, sender = order.child("receiverInfo"), order.child("senderInfo")
    assert receiver.required and receiver.child("area").required and not sender.child("area").required
    assert receiver.child("name").required and receiver.child("mobile").required
    item = DOCUMENTS["singleitem.synchronize"][5]
    assert item.name == "item" and not item.child("barCode").required and item.child("itemType").required
    lines = DOCUMENTS["deliveryorder.create"][1]
    assert (lines.name, lines.item_tag, lines.min_items) == ("orderLines", "orderLine", 1)


def test_field_definitions_are_checked():
    with pytest.raises(ValueError, match="item_tag"):
        Field("x", "list")
    with pytest.raises(ValueError, match="scale"):
        Field("x", "decimal")
    with pytest.raises(ValueError, match="needs values"):
        Field("x", "enum")
    with pytest.raises(ValueError, match="unknown kind"):
        Field("x", "float")


def test_generated_docs_are_current():
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), "run: python -m qimen > docs/qimen-fields.md"


def test_python_m_qimen_prints_the_docs():
    done = subprocess.run([sys.executable, "-m", "qimen"], capture_output=True, check=True)
    assert done.stdout.decode("utf-8") == DOCS.read_text(encoding="utf-8")
    assert done.stderr == b""
    assert "| deliveryOrder.receiverInfo.area | str | R | 50 |" in done.stdout.decode("utf-8")
