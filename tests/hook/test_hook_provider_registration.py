"""Airflow sees connection type ``qimen`` with its labelled form fields.

Airflow 3.3's React connection form is fed by ``GET /ui/connections/hook_meta``
(``HookMetaService.hook_meta_data``), which reads the provider-info ``conn-fields`` and
``ui-field-behaviour`` through ProvidersManager; these tests go through the same code.
"""

from __future__ import annotations

from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
from airflow.providers_manager import ProvidersManager
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

from qimen.signing import SIGN_METHODS
from qimen_provider.connection import EXTRA_FIELDS, SIGN_METHODS as FORM_SIGN_METHODS

EXPECTED_FIELDS = {
    "customer_id",
    "owner_code",
    "warehouse_code",
    "api_version",
    "sign_method",
    "connect_timeout",
    "read_timeout",
    "max_requests_per_second",
}


def test_providers_manager_lists_the_qimen_hook():
    assert "juxing-wms-bridge" in ProvidersManager().providers
    info = ProvidersManagerTaskRuntime().hooks["qimen"]  # what tasks resolve conn_type -> hook with
    assert info is not None, "the hook failed to import"
    assert info.hook_class_name == "qimen_provider.hooks.qimen.QimenHook"
    assert info.connection_id_attribute_name == "qimen_conn_id"
    assert info.package_name == "juxing-wms-bridge"
    assert info.connection_testable


def test_providers_manager_has_the_qimen_form_fields():
    widgets = ProvidersManager().connection_form_widgets
    qimen = {w.field_name: w for key, w in widgets.items() if key.startswith("extra__qimen__")}
    assert set(qimen) == EXPECTED_FIELDS
    assert qimen["customer_id"].field["schema"]["title"] == "货主ID customerId"
    assert qimen["warehouse_code"].field["schema"]["title"] == "仓库ID warehouseCode"
    # required: a type without null (Airflow's form shows "*"); numbers stay numbers. ownerCode is
    # optional: empty means the customerId (Juxing: the same 货主ID).
    assert {n for n, w in qimen.items() if "null" not in w.field["schema"]["type"]} == EXPECTED_FIELDS - {
        "api_version", "sign_method", "owner_code"}
    assert qimen["read_timeout"].field["schema"]["type"] == "number"
    assert qimen["sign_method"].field["schema"]["enum"] == [*SIGN_METHODS, None]  # empty = md5
    assert qimen["api_version"].field["value"] is None  # empty = 2.0: the form stores no short string
    assert (qimen["connect_timeout"].field["value"], qimen["read_timeout"].field["value"]) == (15.0, 30.0)
    assert not any(w.is_sensitive for w in qimen.values())  # the secret is the standard password field


def test_ui_hook_meta_serves_the_qimen_form():
    meta = {m.connection_type: m for m in HookMetaService.hook_meta_data()}["qimen"]
    assert meta.hook_name == "Qimen WMS (Juxing OS)"
    assert set(meta.extra_fields) == EXPECTED_FIELDS
    assert all(field["schema"]["title"] for field in meta.extra_fields.values())
    standard = meta.standard_fields
    assert standard.host.title.startswith("Base URL") and "接口地址" in standard.host.title
    assert standard.password.title.startswith("App secret")
    assert standard.host.placeholder.startswith("e.g. http://")  # an example, not a value that looks filled in
    assert "order.cancel" in meta.extra_fields["customer_id"]["description"]  # what the Test button costs
    assert all(field["schema"]["title"] for field in meta.extra_fields.values())
    assert standard.port.hidden and standard.url_schema.hidden


def test_form_choices_follow_the_protocol_library():
    assert FORM_SIGN_METHODS == SIGN_METHODS
    assert {f.name for f in EXTRA_FIELDS} == EXPECTED_FIELDS
