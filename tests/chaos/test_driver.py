"""The chaos driver's own parts, without processes: the deployment it configures and the one place it
moves time forward."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import sqlalchemy as sa

from wmsbridge.config import Deployment
from wmsbridge_tools import demo
from wmsbridge_tools.chaos import deployment
from wmsbridge_tools.chaos.run import QIMEN_EXTRA, SETTINGS, Chaos


def _configured(count: int, tmp_path) -> tuple[list, dict, Deployment]:
    bridges = deployment.make_bridges(count, tmp_path)
    for b in bridges:
        b.shop_url, b.warehouse.base_url = f"sqlite:///{tmp_path / b.id}.sqlite", f"http://127.0.0.1:{8700 + b.index}"
    env = deployment.environment(bridges, f"sqlite:///{tmp_path / 'store.sqlite'}",
                                 demo.ReceiverProcess(log_path=tmp_path / "receiver.log"), SETTINGS, QIMEN_EXTRA)
    return bridges, env, Deployment.from_mapping(json.loads(env["WMS_BRIDGE_CONFIG"]))


def test_two_bridges_are_two_shops_two_warehouse_accounts_one_store(tmp_path):
    bridges, env, configured = _configured(2, tmp_path)
    assert list(configured.bridges) == ["shop-a", "shop-b"]
    a, b = configured.bridge("shop-a"), configured.bridge("shop-b")
    assert a.store_conn_id == b.store_conn_id == deployment.STORE_CONN
    assert a.shop_conn_id != b.shop_conn_id and a.qimen_conn_id != b.qimen_conn_id
    assert a.callback_token != b.callback_token and a.callback_customer_id != b.callback_customer_id
    assert a.sending_lease_seconds == SETTINGS["sending_lease_seconds"] and a.method_enabled("stockchange.report")
    for bridge, cfg in zip(bridges, (a, b)):
        qimen = json.loads(env[f"AIRFLOW_CONN_{cfg.qimen_conn_id.upper()}"])
        assert qimen["host"] == bridge.warehouse.base_url and qimen["extra"]["customer_id"] == cfg.callback_customer_id
        assert json.loads(env[f"AIRFLOW_CONN_{cfg.shop_conn_id.upper()}"])["extra"]["sqlalchemy_url"] == bridge.shop_url
    assert bridges[0].tracking_prefix != bridges[1].tracking_prefix and bridges[0].marker != bridges[1].marker


def test_one_bridge_is_the_flat_config_of_old(tmp_path):
    bridges, env, configured = _configured(1, tmp_path)
    assert "bridges" not in json.loads(env["WMS_BRIDGE_CONFIG"]) and list(configured.bridges) == ["default"]
    cfg = configured.bridge("default")
    assert cfg.store_conn_id is None and (cfg.shop_conn_id, cfg.qimen_conn_id) == ("shop_db", "qimen_default")
    assert cfg.callback_customer_id == demo.CUSTOMER_ID


def test_returns_a_kill_left_sending_are_aged_past_the_takeover_and_nothing_else(tmp_path):
    from wmsbridge.store.migrate import upgrade
    from wmsbridge.store.returns import DEFAULT_STALE_SENDING
    from wmsbridge.store.schema import return_sync

    store = sa.create_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    upgrade(store)
    now = datetime.now(timezone.utc)
    rows = [("shop-a", "TH1", "sending"), ("shop-a", "TH2", "sent"), ("shop-b", "TH1", "sending")]
    with store.begin() as conn:
        conn.execute(sa.insert(return_sync), [
            {"bridge_id": b, "return_code": code, "shop_return_id": code, "delivery_order_code": code[2:], "state": state,
             "lines": "[]", "attempts": 1, "created_at": now, "updated_at": now} for b, code, state in rows])
    chaos = Chaos(SimpleNamespace(seed=1), tmp_path, deployment.make_bridges(2, tmp_path), receiver=None,
                  step=lambda text: None)
    chaos.store = store
    chaos.age_stranded_returns()
    with store.connect() as conn:
        updated = {(r.bridge_id, r.return_code): r.updated_at for r in conn.execute(sa.select(return_sync))}
    assert now - updated[("shop-a", "TH1")] > DEFAULT_STALE_SENDING
    assert now - updated[("shop-b", "TH1")] > DEFAULT_STALE_SENDING
    assert abs(updated[("shop-a", "TH2")] - now) < timedelta(seconds=1)  # sent: untouched
    assert [chaos.tally.of(b).aged_returns for b in ("shop-a", "shop-b")] == [1, 1]
