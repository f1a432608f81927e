"""The ``qimen`` connection type: its form fields and how an Airflow Connection becomes settings.

One table, ``EXTRA_FIELDS``, feeds both ``get_provider_info()`` (the ``conn-fields`` the Airflow UI
renders) and ``QimenSettings.from_connection()`` (what the hook uses), so a default cannot differ
between the form and the code. Pure Python on purpose: Airflow calls ``get_provider_info()`` in
every process at start-up, so this module must stay cheap to import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

CONN_TYPE = "qimen"
HOOK_NAME = "Qimen WMS (Juxing OS)"
DEFAULT_CONN_ID = "qimen_default"
# Mirrors qimen.signing.SIGN_METHODS (a test keeps them equal); not imported, to keep this module light.
SIGN_METHODS = ("md5", "hmac", "hmac-sha256")
EXAMPLE_BASE_URL = "http://www.jxwms.net/api/v2/openapi/wms/wmsnotify/9"


class QimenConnectionError(ValueError):
    """A ``qimen`` connection that cannot be used as it is; the message names the connection and
    the field. ``wmsbridge`` turns it into its ConfigError (no Airflow retries)."""


@dataclass(frozen=True)
class ExtraField:
    """One key of the connection's extra JSON, with its UI label and its default."""

    name: str
    label: str
    description: str
    json_type: str  # "string", "number" or "integer": the form keeps numbers as JSON numbers
    default: str | float | None = None
    enum: tuple[str, ...] = ()
    minimum: float | None = None
    required: bool = False
    placeholder: str | None = None

    def conn_field(self) -> dict[str, Any]:
        """The provider-info ``conn-fields`` entry (JSON schema) Airflow 3.2+ turns into a form field.

        Airflow's form marks a field required (``*``) when its type does not admit null."""
        schema: dict[str, Any] = {"type": self.json_type if self.required else [self.json_type, "null"]}
        if self.default is not None:
            schema["default"] = self.default
        if self.enum:
            schema["enum"] = list(self.enum) if self.required else [*self.enum, None]
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        return {"label": self.label, "description": self.description, "schema": schema}


# The UI has no help slot for the Test button itself (a description placeholder would be namespaced
# away by Airflow), so its cost is told under customerId, the field it checks.
TEST_HELP = (
    "Test button: one order.cancel request WITHOUT an order code (nothing can be cancelled), proving address, "
    "app secret and customerId; it does not use the once-a-day inventory.query allowance. Or trigger the DAG "
    "wms_connection_check. / 测试按钮：发送一条不带订单号的 order.cancel（不会取消任何订单），验证地址、密钥和货主ID；"
    "不占用库存查询的每日次数。也可运行 DAG wms_connection_check。"
)

EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "customer_id",
        "货主ID customerId",
        "Given by the warehouse; sent as the customerId query parameter of every request (Juxing routes by it). "
        "/ 仓库提供的货主ID，作为 customerId 参数拼在每个请求地址中。 " + TEST_HELP,
        "string",
        required=True,
        placeholder="e.g. 82073683308314625",
    ),
    ExtraField(
        "owner_code",
        "货主编码 ownerCode",
        "Written into item and order documents; empty = the customerId (Juxing: the same 货主ID). "
        "/ 写入商品和订单报文；留空 = 货主ID（聚星：两者相同）。",
        "string",
        placeholder="e.g. 404781084 (empty: the customerId)",
    ),
    ExtraField(
        "warehouse_code",
        "仓库ID warehouseCode",
        "Given by the warehouse; written into every document. / 仓库提供的仓库ID，写入每个报文。",
        "string",
        required=True,
        placeholder="e.g. 1038",
    ),
    # api_version and sign_method: empty means the default, so the form does not store "2.0"/"md5".
    # Airflow's secrets masker warns once per process ("Skipping masking for a secret as it's too
    # short") about ANY extra string under 5 characters when it reads a connection, secret or not.
    ExtraField("api_version", "API version 接口版本 (v)", "The v query parameter; empty = 2.0. / 请求参数 v；留空 = 2.0。",
               "string", placeholder="2.0 (default)"),
    ExtraField(
        "sign_method",
        "Sign method 签名方式",
        "How requests are signed with the app secret; empty = md5 (Juxing). / 用应用密钥签名的方式；留空 = md5（聚星）。",
        "string",
        enum=SIGN_METHODS,
    ),
    ExtraField("connect_timeout", "Connect timeout 连接超时 (s)", "TCP connect timeout in seconds. / 建立连接的超时秒数。",
               "number", 15.0, minimum=0.1, required=True),
    ExtraField(
        "read_timeout", "Read timeout 读取超时 (s)", "Seconds to wait for the warehouse's answer. / 等待仓库应答的秒数。",
        "number", 30.0, minimum=0.1, required=True,
    ),
    ExtraField(
        "max_requests_per_second",
        "Max requests per second 每秒最多请求数",
        "Client-side rate limit for this warehouse and app key, shared by every task and process on the "
        "machine; 0 disables it. Juxing refuses busy callers. / 客户端限速，本机所有任务和进程共用；0 = 不限速。"
        "请求过于频繁时聚星会拒绝。",
        "number",
        5.0,
        minimum=0,
        required=True,
    ),
)
_DEFAULTS = {f.name: f.default for f in EXTRA_FIELDS} | {"api_version": "2.0", "sign_method": "md5"}


def connection_type_info() -> dict[str, Any]:
    """The ``connection-types`` entry of get_provider_info().

    Airflow 3.3's React connection form is served by ``GET /ui/connections/hook_meta``, which reads
    ``conn-fields`` and ``ui-field-behaviour`` from provider info WITHOUT importing the hook
    (``ProvidersManager._load_ui_metadata``); ``get_connection_form_widgets`` is deprecated since 3.2
    and only consulted when no such metadata exists. Placeholders start with "e.g." so that an empty
    field never looks filled in.
    """
    return {
        "connection-type": CONN_TYPE,
        "hook-class-name": "qimen_provider.hooks.qimen.QimenHook",
        "hook-name": HOOK_NAME,
        "ui-field-behaviour": {
            # The whole base URL (scheme, host, port, path) lives in host; schema/port only matter
            # for the URI form of AIRFLOW_CONN_* (see docs/connection.md).
            "hidden-fields": ["schema", "port"],
            "relabeling": {"host": "Base URL 接口地址", "login": "App key 应用Key (app_key)",
                           "password": "App secret 应用密钥", "description": "Description 说明"},
            "placeholders": {
                "host": "e.g. http://wms.example.com/api/v2/openapi/wms/wmsnotify/9",
                "login": "e.g. 21363512 (given by the warehouse; Juxing does not check it)",
                "password": "given by the warehouse / 仓库提供",
                **{f.name: f.placeholder for f in EXTRA_FIELDS if f.placeholder},
            },
        },
        "conn-fields": {f.name: f.conn_field() for f in EXTRA_FIELDS},
    }


def base_url_from_parts(host: str | None, schema: str | None = None, port: int | None = None) -> str:
    """The request base URL from a Connection's host/schema/port.

    host normally holds the whole URL (UI and JSON forms). The URI form ``qimen://key:secret@host/path``
    leaves Airflow with host = ``host`` and schema = ``path``; ``qimen://https://key:secret@host/path``
    keeps the scheme in host. Without a scheme, http is assumed (Juxing's address is plain http).
    """
    host = (host or "").strip()
    if not host:
        raise QimenConnectionError("the qimen connection has no host: set it to the warehouse base URL")
    if "://" not in host:
        host = "http://" + host
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise QimenConnectionError(f"the qimen connection's host is not an http(s) URL: {host!r}")
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{int(port)}"
    path = parts.path
    schema = (schema or "").strip()
    if schema:
        if path not in ("", "/"):
            raise QimenConnectionError(
                "the qimen connection has a path both in host and in schema; put the whole base URL in host"
            )
        path = "/" + schema.lstrip("/")
    return urlunsplit((parts.scheme, netloc, path, parts.query, ""))


def _number(extra: Mapping[str, Any], name: str, conn_id: str) -> float:
    value = extra.get(name)
    if value is None or value == "":
        value = _DEFAULTS[name]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise QimenConnectionError(f"connection {conn_id!r}: extra {name!r} must be a number, got {value!r}") from None
    if number < 0:
        raise QimenConnectionError(f"connection {conn_id!r}: extra {name!r} must not be negative, got {value!r}")
    return number


def _text(extra: Mapping[str, Any], name: str) -> str:
    value = extra.get(name)
    if value is None or value == "":
        value = _DEFAULTS[name]
    return "" if value is None else str(value).strip()


@dataclass(frozen=True)
class QimenSettings:
    """Everything the hook needs from a Connection, validated once. The secret stays out of repr()."""

    conn_id: str
    base_url: str
    app_key: str
    app_secret: str = field(repr=False)
    customer_id: str = ""
    owner_code: str = ""
    warehouse_code: str = ""
    api_version: str = "2.0"
    sign_method: str = "md5"
    connect_timeout: float = 15.0
    read_timeout: float = 30.0
    max_requests_per_second: float = 5.0

    @classmethod
    def from_connection(cls, conn: Any) -> QimenSettings:
        """Build from anything shaped like an Airflow Connection (host, schema, port, login, password, extra_dejson)."""
        conn_id = getattr(conn, "conn_id", None) or "?"
        extra = conn.extra_dejson or {}
        sign_method = _text(extra, "sign_method").lower()
        if sign_method not in SIGN_METHODS:
            raise QimenConnectionError(
                f"connection {conn_id!r}: sign_method {sign_method!r} is not one of {', '.join(SIGN_METHODS)}"
            )
        connect_timeout = _number(extra, "connect_timeout", conn_id)
        read_timeout = _number(extra, "read_timeout", conn_id)
        if connect_timeout <= 0 or read_timeout <= 0:
            raise QimenConnectionError(f"connection {conn_id!r}: timeouts must be positive")
        customer_id = _text(extra, "customer_id")
        if not customer_id:
            # Juxing routes every message by customerId (= the 货主ID it gives): without it nothing
            # can arrive at the right owner, so refuse before anything is sent.
            raise QimenConnectionError(
                f"connection {conn_id!r}: extra 'customer_id' (customerId, the 货主ID the warehouse gives) is empty"
            )
        try:
            base_url = base_url_from_parts(conn.host, conn.schema, conn.port)
        except QimenConnectionError as err:
            raise QimenConnectionError(f"connection {conn_id!r}: {err}") from None
        return cls(
            conn_id=conn_id,
            base_url=base_url,
            app_key=conn.login or "",
            app_secret=conn.password or "",
            customer_id=customer_id,
            owner_code=_text(extra, "owner_code") or customer_id,
            warehouse_code=_text(extra, "warehouse_code"),
            api_version=_text(extra, "api_version"),
            sign_method=sign_method,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_requests_per_second=_number(extra, "max_requests_per_second", conn_id),
        )
