"""Several bridges behind one receiver address: the token in the URL says whose callback it is. Two
shops sharing order codes each store their own confirmation; a callback about another shop's order
is refused and stored nowhere; a token no bridge has is refused and logged as nobody's."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from qimen.parsing import parse_response
from receivers import ThreadedReceiver, store_url  # noqa: F401 (fixture)

from confirm_steps import confirm_xml
from wmsbridge.config import Deployment
from wmsbridge.errors import ConfigError
from wmsbridge.receiver.app import create_app
from wmsbridge.receiver.composition import build_receiver
from wmsbridge.store import IntegrationStore
from wmsbridge.store.engine import create_store_engine
from wmsbridge.store.schema import exchange_log, shipment_inbox, warehouse_report

TOKEN_A, TOKEN_B = "token-of-shop-a-0123456789", "token-of-shop-b-0123456789"
LACK = (Path(__file__).parents[1] / "protocol" / "fixtures" / "itemlack_report_request.xml").read_bytes()
XML = {"Content-Type": "text/xml; charset=utf-8"}


def deployment(**shared) -> Deployment:
    return Deployment.from_mapping({**shared, "bridges": {
        "shop-a": {"callback_token": TOKEN_A, "callback_customer_id": "CUST-A", "qimen_conn_id": "qimen_a"},
        "shop-b": {"callback_token": TOKEN_B, "callback_customer_id": "CUST-B", "qimen_conn_id": "qimen_b"},
    }})


@pytest.fixture
def both(store_url):
    engine = create_store_engine(store_url)
    with ThreadedReceiver(create_app(receiver=build_receiver(
            deployment(enabled_methods=["itemlack.report", "orderprocess.report"])))) as running:
        yield running, engine
    engine.dispose()


def post(running, body, token, customer):
    response = httpx.post(running.url(token, method="deliveryorder.confirm", customerId=customer), content=body,
                          headers=XML, timeout=30)
    return response.status_code, parse_response(response.content)


def rows(engine, table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.id))]


def test_the_same_confirmation_from_two_warehouse_accounts_is_stored_once_per_shop(both):
    running, engine = both
    body = confirm_xml("1001", key="OB-1").encode()
    assert post(running, body, TOKEN_A, "CUST-A")[1].message == "stored"
    assert post(running, body, TOKEN_B, "CUST-B")[1].message == "stored"  # b's own key space, not a repeat
    assert post(running, body, TOKEN_A, "CUST-A")[1].message == "duplicate: already stored"
    assert [(r["bridge_id"], r["delivery_order_code"]) for r in rows(engine, shipment_inbox)] == [
        ("shop-a", "1001"), ("shop-b", "1001")]
    assert [(r["bridge_id"], r["outcome"]) for r in rows(engine, exchange_log)] == [
        ("shop-a", "success"), ("shop-b", "success"), ("shop-a", "duplicate")]


def test_a_callback_about_another_shops_order_is_refused_and_stored_nowhere(both):
    running, engine = both
    IntegrationStore(engine, bridge_id="shop-b").orders.ensure_pending(
        [{"delivery_order_code": "B-ONLY", "shop_order_id": "1"}])
    status, answer = post(running, confirm_xml("B-ONLY", key="OB-9").encode(), TOKEN_A, "CUST-A")
    assert (status, answer.success, answer.code) == (409, False, "not-this-shops-order")
    assert rows(engine, shipment_inbox) == []
    [logged] = rows(engine, exchange_log)
    assert (logged["bridge_id"], logged["outcome"], logged["error_code"]) == ("shop-a", "refused",
                                                                             "not-this-shops-order")
    # an order both shops have is each one's own: accepted
    IntegrationStore(engine, bridge_id="shop-a").orders.ensure_pending(
        [{"delivery_order_code": "1001", "shop_order_id": "7"}])
    IntegrationStore(engine, bridge_id="shop-b").orders.ensure_pending(
        [{"delivery_order_code": "1001", "shop_order_id": "8"}])
    assert post(running, confirm_xml("1001", key="OB-2").encode(), TOKEN_A, "CUST-A")[0] == 200
    # a shortage report about b's order, posted with a's token: refused the same way
    IntegrationStore(engine, bridge_id="shop-b").orders.ensure_pending(
        [{"delivery_order_code": "ps2009260130", "shop_order_id": "2"}])
    response = httpx.post(running.url(TOKEN_A, method="itemlack.report", customerId="CUST-A"), content=LACK,
                          headers=XML, timeout=30)
    assert response.status_code == 409 and rows(engine, warehouse_report) == []


def test_tokens_and_customer_ids_are_each_bridges_own(both):
    running, engine = both
    body = confirm_xml("1001", key="OB-3").encode()
    assert post(running, body, "no-such-token-000000000", "CUST-A")[0] == 401
    assert post(running, body, TOKEN_A, "CUST-B")[1].code == "invalid-customer"  # b's account, a's token
    assert rows(engine, shipment_inbox) == []
    assert [(r["bridge_id"], r["error_code"]) for r in rows(engine, exchange_log)] == [
        ("*", "invalid-token"), ("shop-a", "invalid-customer")]


def test_a_bridge_without_a_token_hears_nothing_and_none_at_all_is_refused(store_url):
    only_a = Deployment.from_mapping({"bridges": {"shop-a": {"callback_token": TOKEN_A, "qimen_conn_id": "qa"},
                                                  "shop-b": {"qimen_conn_id": "qb"}}})
    receivers = build_receiver(only_a)
    assert list(receivers.by_bridge) == ["shop-a"]
    with pytest.raises(ConfigError, match="callback_token is not set"):
        build_receiver(Deployment.from_mapping({"bridges": {
            "shop-a": {"qimen_conn_id": "qa"}, "shop-b": {"qimen_conn_id": "qb", "enabled": False,
                                                          "callback_token": TOKEN_B}}}))
