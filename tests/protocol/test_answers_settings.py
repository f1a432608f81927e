"""qimen.answers: refusals that blame the connection's own settings (used by the connection test)."""

from __future__ import annotations

import pytest

from qimen.answers import DEFAULT_RULES, AnswerRules, Verdict, classify
from qimen.errors import QimenBusinessError


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("sign-check-failure", "签名错误: the sign does not match"),
        ("ISV.INVALID-SIGNATURE", ""),
        ("invalid-app-key", ""),
        ("invalid-customer", "customerId 'X' is not a known owner"),
        ("invalid-owner", ""),
        ("invalid-warehouse", ""),
        ("ERROR", "验签失败"),
        ("ERROR", "货主不存在"),
        ("ERROR", "货主编码不存在: OWNER-1"),
        ("ERROR", "仓库不存在"),
        ("ERROR", "CustomerId 无效"),
        ("ERROR", "ownerCode not exist"),
        ("", "Invalid Signature"),
    ],
)
def test_settings_refusals_are_named(code, message):
    assert DEFAULT_RULES.names_settings(code, message)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("invalid-parameter", "orderCode: required"),  # the simulator's refusal of the probe
        ("ERROR", "订单编码不能为空"),
        ("order-not-found", "订单不存在"),
        ("item-not-found", "货品不存在"),
        ("0", "invalid appkey"),  # Juxing's wording, on success too
        ("SYSTEM_BUSY", "系统繁忙"),
        (None, None),
    ],
)
def test_other_answers_name_no_setting(code, message):
    assert not DEFAULT_RULES.names_settings(code, message)


def test_settings_rules_extend_from_configuration():
    rules = DEFAULT_RULES.extended({"settings_codes": ["E_AUTH"], "settings_phrases": ["接口账号未开通"]})
    assert rules.names_settings("e_auth", "") and rules.names_settings("E1", "该接口账号未开通")
    assert not DEFAULT_RULES.names_settings("E_AUTH", "接口账号未开通")
    with pytest.raises(ValueError, match="settings_phrase"):
        DEFAULT_RULES.extended({"settings_phrase": ["typo"]})


def test_the_bridge_variable_feeds_the_settings_rules():
    from wmsbridge.config import BridgeConfig

    cfg = BridgeConfig.from_mapping({"answer_rules": {"settings_phrases": ["接口账号未开通"]}})
    assert cfg.rules().names_settings("E1", "接口账号未开通")


@pytest.mark.parametrize("code", ["sign-check-failure", "invalid-owner", "invalid-warehouse", "invalid-customer"])
def test_the_pipelines_verdict_of_a_settings_refusal_stays_permanent(code):
    assert classify(QimenBusinessError("货主不存在", code=code)) is Verdict.PERMANENT


def test_classify_is_unchanged_where_both_tables_match():
    """classify() asks the busy table first (the flows retry); only the connection test asks names_settings."""
    error = QimenBusinessError("验签失败，请稍后重试", code="ERROR")
    assert DEFAULT_RULES.names_settings(error.code, error.message)
    assert classify(error) is Verdict.PASSING


def test_empty_rules_name_nothing():
    assert not AnswerRules().names_settings("sign-check-failure", "签名错误")
