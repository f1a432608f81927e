"""Several bridges in one ``wms_bridge_config`` (issue 25): a ``bridges`` object over shared
top-level defaults, the flat form still one bridge ``default``, and every mistake a ConfigError
naming the bridge and the key (never a token). Pure Python: no database, no Airflow run."""

from __future__ import annotations

import dataclasses
import json

import pytest

from wmsbridge.config import (
    ENV_KEY,
    BridgeConfig,
    Deployment,
    SenderInfo,
    load_config,
    load_deployment,
)
from wmsbridge.errors import ConfigError

TOKEN_A = "token-of-shop-a-0123456789"
TOKEN_B = "token-of-shop-b-9876543210"
SENDER = {"name": "仓库", "mobile": "13800000000", "province": "浙江省", "city": "杭州市", "detail": "文一西路 1 号"}
FLAT = {"profile": "litemall", "shop_conn_id": "litemall_db", "qimen_conn_id": "qimen_juxing",
        "default_logistics_code": "YTO", "sender": SENDER, "callback_token": TOKEN_A,
        "callback_customer_id": "OWNER_A", "live": ["orders", "shipments"],
        "alerts": {"dingtalk_conn_id": "wms_dingtalk"}, "inventory_batch_size": 20}


def two_bridges(**shared) -> dict:
    """Shop A on the shared defaults, shop B with its own shop, account and token."""
    return {"profile": "litemall", "qimen_conn_id": "qimen_juxing", "sender": SENDER,
            "live": ["orders"], **shared,
            "bridges": {
                "shop_a": {"shop_conn_id": "shop_a_db", "callback_token": TOKEN_A, "callback_customer_id": "OWNER_A"},
                "shop-b": {"shop_conn_id": "shop_b_db", "qimen_conn_id": "qimen_other", "callback_token": TOKEN_B,
                           "callback_customer_id": "OWNER_B", "profile": "reference", "live": True},
            }}


def refused(data) -> str:
    with pytest.raises(ConfigError) as caught:
        Deployment.from_mapping(data)
    return str(caught.value)


# -- the flat form ----------------------------------------------------------------------------

def test_the_flat_form_is_one_bridge_named_default_as_before():
    deployment = Deployment.from_mapping(FLAT)
    assert list(deployment.bridges) == ["default"] and deployment.single
    assert deployment.bridge("default") == BridgeConfig.from_mapping(FLAT)
    assert deployment.bridge("default").bridge_id == "default" and deployment.bridge("default").enabled
    assert deployment.resolve() is deployment.bridge("default")


def test_no_settings_at_all_are_one_default_bridge_with_the_defaults():
    deployment = Deployment.from_mapping(None)
    assert deployment.bridges == {"default": BridgeConfig()}
    assert deployment.enabled_ids() == ["default"]


def test_a_flat_config_may_switch_its_one_bridge_off():
    assert Deployment.from_mapping({**FLAT, "enabled": False}).enabled_ids() == []


def test_the_flat_parser_refuses_bridges_and_points_at_the_deployment_parser():
    with pytest.raises(ConfigError, match=r"wms_bridge_config\.bridges: .*Deployment\.from_mapping"):
        BridgeConfig.from_mapping(two_bridges())


# -- shared defaults and overrides ------------------------------------------------------------

def test_each_bridge_inherits_the_shared_defaults_unless_it_sets_the_key():
    deployment = Deployment.from_mapping(two_bridges())
    a, b = deployment.bridge("shop_a"), deployment.bridge("shop-b")
    assert list(deployment.bridges) == ["shop_a", "shop-b"] and not deployment.single
    assert (a.bridge_id, b.bridge_id) == ("shop_a", "shop-b")
    assert (a.profile, a.qimen_conn_id, a.live) == ("litemall", "qimen_juxing", ["orders"])  # inherited
    assert (b.profile, b.qimen_conn_id, b.live) == ("reference", "qimen_other", True)  # its own
    assert a.sender == b.sender == SenderInfo(**SENDER)
    assert a.chunk_size == b.chunk_size == BridgeConfig().chunk_size  # neither sets it: the code default


def test_a_bridges_nested_object_replaces_the_default_whole():
    data = two_bridges(alerts={"dingtalk_conn_id": "wms_dingtalk", "at_mobiles": ["13900000000"]})
    data["bridges"]["shop-b"]["alerts"] = {"webhook_conn_id": "wms_wecom"}
    data["bridges"]["shop-b"]["sender"] = {"name": "B 仓"}
    deployment = Deployment.from_mapping(data)
    a, b = deployment.bridge("shop_a").alerts, deployment.bridge("shop-b").alerts
    assert (a.dingtalk_conn_id, a.webhook_conn_id, a.at_mobiles) == ("wms_dingtalk", None, ("13900000000",))
    assert (b.dingtalk_conn_id, b.webhook_conn_id, b.at_mobiles) == (None, "wms_wecom", ())  # no deep merge
    assert deployment.bridge("shop-b").sender == SenderInfo(name="B 仓")
    assert deployment.bridge("shop-b").sender.missing() == ["mobile", "province", "city", "detail"]


def test_as_dict_names_the_bridge_and_still_masks_the_secrets():
    data = two_bridges()
    data["bridges"]["shop_a"]["callback_secret"] = "qimen-secret-value"
    shown = Deployment.from_mapping(data).bridge("shop_a").as_dict()
    assert shown["bridge_id"] == "shop_a" and shown["enabled"] is True
    assert shown["callback_token"] == "***" and shown["callback_secret"] == "***"
    assert TOKEN_A not in json.dumps(shown, ensure_ascii=False)


# -- enabled bridges, lookups -----------------------------------------------------------------

def test_disabled_bridges_stay_configured_but_are_not_enabled():
    data = two_bridges()
    data["bridges"]["shop_a"]["enabled"] = False
    data["bridges"]["shop_c"] = {"shop_conn_id": "shop_c_db"}
    deployment = Deployment.from_mapping(data)
    assert deployment.enabled_ids() == ["shop-b", "shop_c"]  # config order
    assert deployment.bridge("shop_a").enabled is False


def test_enabled_is_inherited_and_must_be_true_or_false():
    data = two_bridges(enabled=False)
    data["bridges"]["shop-b"]["enabled"] = True
    assert Deployment.from_mapping(data).enabled_ids() == ["shop-b"]
    data["bridges"]["shop-b"]["enabled"] = "yes"
    assert "wms_bridge_config.bridges.shop-b.enabled" in refused(data)


def test_by_token_finds_the_bridge_whose_callback_token_it_is():
    data = two_bridges()
    data["bridges"]["shop_a"]["enabled"] = False
    data["bridges"]["shop_c"] = {"shop_conn_id": "shop_c_db"}  # no token: never found
    deployment = Deployment.from_mapping(data)
    assert deployment.by_token(TOKEN_B).bridge_id == "shop-b"
    assert deployment.by_token(TOKEN_A).bridge_id == "shop_a"  # disabled: the caller decides what to answer
    assert deployment.by_token(TOKEN_A[:-1]) is None
    assert deployment.by_token(TOKEN_A + "x") is None
    assert deployment.by_token("") is None and deployment.by_token(None) is None
    assert deployment.by_token("令牌-not-ascii-at-all") is None  # no TypeError from compare_digest


def test_an_unknown_bridge_id_names_the_configured_ones():
    deployment = Deployment.from_mapping(two_bridges())
    with pytest.raises(ConfigError) as caught:
        deployment.bridge("shop_x")
    assert "'shop_x'" in str(caught.value) and "shop_a, shop-b" in str(caught.value)


def test_resolve_without_an_id_needs_one_bridge_or_a_default():
    several = Deployment.from_mapping(two_bridges())
    with pytest.raises(ConfigError) as caught:
        several.resolve()
    assert "several bridges" in str(caught.value) and "shop_a, shop-b" in str(caught.value)
    assert several.resolve("shop-b").bridge_id == "shop-b"

    data = two_bridges()
    data["bridges"]["default"] = {"shop_conn_id": "main_db"}
    assert Deployment.from_mapping(data).resolve().shop_conn_id == "main_db"

    data = two_bridges()
    del data["bridges"]["shop-b"]
    assert Deployment.from_mapping(data).resolve().bridge_id == "shop_a"  # the only one


def test_a_hand_built_deployment_keeps_ids_and_keys_in_step():
    cfg = BridgeConfig()
    assert Deployment({"default": cfg}).single
    with pytest.raises(ConfigError, match="shop_a"):
        Deployment({"shop_a": cfg})  # its bridge_id is "default"
    with pytest.raises(ConfigError):
        Deployment({})


# -- validation: each message names the bridge and the key ------------------------------------

@pytest.mark.parametrize("bridges, named", [
    ([{"shop_conn_id": "x"}], "wms_bridge_config.bridges must be an object"),
    ("shop_a", "wms_bridge_config.bridges must be an object"),
    (None, "wms_bridge_config.bridges must be an object"),
    ({}, "wms_bridge_config.bridges is empty"),
    ({"shop_a": ["shop_conn_id"]}, "wms_bridge_config.bridges.shop_a must be an object"),
    ({"shop_a": None}, "wms_bridge_config.bridges.shop_a must be an object"),
])
def test_bridges_must_be_an_object_of_objects(bridges, named):
    assert named in refused({"bridges": bridges})


@pytest.mark.parametrize("bridge_id", ["Shop_A", "shop a", "_shop", "-shop", "", "a" * 51, "店铺", "shop/a",
                                       "shop.a"])
def test_a_bridge_id_is_plain_lowercase_ascii_up_to_50(bridge_id):
    message = refused({"bridges": {bridge_id: {}}})
    assert message.startswith("wms_bridge_config.bridges: ") and "is not a bridge id" in message
    assert "VARCHAR(50)" in message


@pytest.mark.parametrize("bridge_id", ["a", "0", "shop_a", "shop-b", "a" * 50, "9lives"])
def test_plain_bridge_ids_are_accepted(bridge_id):
    assert Deployment.from_mapping({"bridges": {bridge_id: {}}}).bridge(bridge_id).bridge_id == bridge_id


def test_an_unknown_key_inside_a_bridge_names_the_bridge_and_the_key():
    data = two_bridges()
    data["bridges"]["shop-b"]["chunck_size"] = 50
    message = refused(data)
    assert "wms_bridge_config.bridges.shop-b" in message and "chunck_size" in message


def test_an_unknown_top_level_key_is_named_at_the_top_level():
    message = refused(two_bridges(chunck_size=50))
    assert message.startswith("unknown wms_bridge_config keys: ['chunck_size']")
    assert "'bridges'" in message  # among the known keys


@pytest.mark.parametrize("where", ["top", "bridge"])
def test_bridge_id_is_no_setting(where):
    data = two_bridges(bridge_id="x") if where == "top" else two_bridges()
    if where == "bridge":
        data["bridges"]["shop_a"]["bridge_id"] = "shop_z"
    message = refused(data)
    assert "bridge_id: not a setting" in message
    assert ("wms_bridge_config.bridges.shop_a.bridge_id" in message) == (where == "bridge")
    with pytest.raises(ConfigError, match="bridge_id"):
        BridgeConfig.from_mapping({"bridge_id": "x"})


@pytest.mark.parametrize("key, value", [
    ("live", "yes"),
    ("live", ["orderz"]),
    ("enabled_methods", ["returnorder.create"]),
    ("qimen_method_conn_ids", {"deliveryorder.creat": "x"}),
    ("callback_max_bytes", 10),
    ("callback_token", "short"),
    ("sending_lease_seconds", 0),
    ("answer_rules", {"pasing_codes": ["X"]}),
    ("alerts", {"events": ["typo"]}),
    ("alerts", "wms_dingtalk"),
    ("sender", {"nam": "x"}),
    ("sender", "仓库"),
    ("chunk_size", 0),
    ("retry_backoff_max_seconds", 1),
    ("inventory_batch_size", 0),
])
def test_every_per_bridge_check_names_the_bridge_and_the_key(key, value):
    data = two_bridges()
    data["bridges"]["shop-b"][key] = value
    message = refused(data)
    assert "wms_bridge_config.bridges.shop-b" in message and key in message
    assert "shop_a" not in message
    assert "inherited" not in message  # shop-b set it itself


def test_a_bad_shared_default_names_the_first_bridge_and_where_to_fix_it():
    message = refused(two_bridges(live="yes"))  # shop_a inherits it (shop-b sets its own)
    assert message.startswith("wms_bridge_config.bridges.shop_a.live: ")
    assert "inherited from the top-level wms_bridge_config.live" in message


def test_a_check_across_keys_names_the_inherited_one_too():
    data = two_bridges(retry_backoff_seconds=600)
    data["bridges"]["shop-b"]["retry_backoff_max_seconds"] = 60
    message = refused(data)
    assert message.startswith("wms_bridge_config.bridges.shop-b: need 0 <= retry_backoff_seconds")
    assert "inherited from the top-level wms_bridge_config.retry_backoff_seconds" in message


def test_where_names_a_setting_of_the_flat_form_or_of_a_bridge():
    from wmsbridge.config import where

    deployment = Deployment.from_mapping(two_bridges())
    assert where(deployment.bridge("shop-b"), "store_conn_id") == "wms_bridge_config.bridges.shop-b.store_conn_id"
    assert where("shop_a") == "wms_bridge_config.bridges.shop_a"
    assert where(BridgeConfig.from_mapping(FLAT), "store_conn_id") == "wms_bridge_config.store_conn_id"


def test_the_flat_form_keeps_its_messages():
    with pytest.raises(ConfigError) as caught:
        Deployment.from_mapping({"live": "yes"})
    assert str(caught.value).startswith("wms_bridge_config.live: ")
    with pytest.raises(ConfigError, match=r"^unknown wms_bridge_config keys: \['chunck_size'\]"):
        Deployment.from_mapping({"chunck_size": 5})


# -- validation across bridges ----------------------------------------------------------------

def test_two_bridges_with_one_callback_token_are_refused_without_printing_it():
    data = two_bridges()
    data["bridges"]["shop-b"]["callback_token"] = TOKEN_A
    message = refused(data)
    assert "bridges.shop_a" in message and "bridges.shop-b" in message and "callback_token" in message
    assert TOKEN_A not in message


def test_a_shared_top_level_token_is_one_token_for_every_bridge():
    data = two_bridges(callback_token=TOKEN_A)
    for bridge in data["bridges"].values():
        del bridge["callback_token"]
    message = refused(data)
    assert "callback_token" in message and "shop_a" in message and "shop-b" in message
    assert TOKEN_A not in message


def test_a_disabled_bridge_still_may_not_share_a_token():
    data = two_bridges()
    data["bridges"]["shop-b"].update(callback_token=TOKEN_A, enabled=False)
    assert "callback_token" in refused(data)


def test_two_bridges_with_one_customer_id_are_refused():
    data = two_bridges()
    data["bridges"]["shop-b"]["callback_customer_id"] = "OWNER_A"
    message = refused(data)
    assert "bridges.shop_a" in message and "bridges.shop-b" in message and "callback_customer_id" in message


def test_bridges_without_a_customer_id_or_token_do_not_clash():
    data = two_bridges()
    for bridge in data["bridges"].values():
        bridge["callback_customer_id"] = ""
        del bridge["callback_token"]
    assert Deployment.from_mapping(data).enabled_ids() == ["shop_a", "shop-b"]


def test_one_shop_and_account_configured_twice_is_refused_while_both_are_enabled():
    data = two_bridges()
    data["bridges"]["shop-b"].update(shop_conn_id="shop_a_db", qimen_conn_id="qimen_juxing")
    message = refused(data)
    assert "bridges.shop_a" in message and "bridges.shop-b" in message
    assert "qimen_conn_id" in message and "shop_conn_id" in message

    data["bridges"]["shop-b"]["enabled"] = False  # kept for its records, switched off: allowed
    assert Deployment.from_mapping(data).enabled_ids() == ["shop_a"]


def test_one_account_for_two_shops_and_one_shop_for_two_accounts_are_fine():
    data = two_bridges()
    data["bridges"]["shop-b"]["qimen_conn_id"] = "qimen_juxing"  # same account, another shop
    data["bridges"]["shop_c"] = {"shop_conn_id": "shop_a_db", "qimen_conn_id": "qimen_third"}
    assert Deployment.from_mapping(data).enabled_ids() == ["shop_a", "shop-b", "shop_c"]


# -- reading the settings: Variable, else environment, else defaults --------------------------

@pytest.fixture
def no_variable(monkeypatch):
    """The environment fallback decides: no Airflow Variable given through the environment."""
    monkeypatch.delenv("AIRFLOW_VAR_WMS_BRIDGE_CONFIG", raising=False)
    return monkeypatch


def test_load_deployment_and_load_config_read_the_environment(no_variable):
    no_variable.setenv(ENV_KEY, json.dumps(two_bridges()))
    deployment = load_deployment()
    assert list(deployment.bridges) == ["shop_a", "shop-b"]
    assert load_config("shop-b") == deployment.bridge("shop-b")
    assert load_config("shop-b").profile == "reference"
    with pytest.raises(ConfigError, match="several bridges"):
        load_config()
    with pytest.raises(ConfigError, match="'nope'.*shop_a, shop-b"):
        load_config("nope")


def test_load_config_of_a_flat_environment_is_its_one_bridge(no_variable):
    no_variable.setenv(ENV_KEY, json.dumps(FLAT))
    assert load_config() == BridgeConfig.from_mapping(FLAT)
    assert load_config("default") == load_config()
    assert load_deployment().single


def test_load_errors_name_the_environment_variable_then_the_bridge(no_variable):
    data = two_bridges()
    data["bridges"]["shop-b"]["callback_token"] = TOKEN_A
    no_variable.setenv(ENV_KEY, json.dumps(data))
    with pytest.raises(ConfigError) as caught:
        load_deployment()
    message = str(caught.value)
    assert message.startswith(f"environment variable {ENV_KEY}: ") and "shop-b" in message
    assert TOKEN_A not in message


def test_the_variable_comes_before_the_environment(no_variable):
    no_variable.setenv(ENV_KEY, json.dumps(FLAT))
    variable = {"bridges": {"shop_a": {"shop_conn_id": "a_db"}, "shop_b": {"shop_conn_id": "b_db"}}}
    no_variable.setenv("AIRFLOW_VAR_WMS_BRIDGE_CONFIG", json.dumps(variable))
    assert list(load_deployment().bridges) == ["shop_a", "shop_b"]
    no_variable.setenv("AIRFLOW_VAR_WMS_BRIDGE_CONFIG", json.dumps({"bridges": {}}))
    with pytest.raises(ConfigError, match=r"^Variable wms_bridge_config: wms_bridge_config\.bridges is empty"):
        load_deployment()


def test_a_flat_configs_bridge_is_the_flat_parsers_but_for_its_id():
    """The one difference allowed between the two parsers: the id the bridges form gives."""
    data = {k: v for k, v in FLAT.items()}
    one = Deployment.from_mapping({"bridges": {"shop_a": data}}).bridge("shop_a")
    assert dataclasses.replace(one, bridge_id="default") == BridgeConfig.from_mapping(FLAT)
