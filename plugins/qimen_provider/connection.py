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
    json_type: str  # "string" or "number"
    default: str | float | None = None
    enum: tuple[str, ...] = ()
    minimum: float | None = None

    def conn_field(self) -> dict[str, Any]:
        """The provider-info ``conn-fields`` entry (JSON schema) Airflow 3.2+ turns into a form field."""
        schema: dict[str, Any] = {"type": [self.json_type, "null"]}
        if self.default is not None:
            schema["default"] = self.default
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        return {"label": self.label, "description": self.description, "schema": schema}


EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "customer_id",
        "customerId (owner id, 货主ID)",
        "Required. Sent as the customerId query parameter on every request; Juxing routes messages by it "
        "(its note: customerId is the same as the 货主ID).",
        "string",
    ),
    ExtraField(
        "owner_code",
        "Owner code (ownerCode)",
        "ownerCode written into item and order documents; empty: the customerId (Juxing: the same 货主ID).",
        "string",
    ),
    ExtraField(
        "warehouse_code", "Warehouse code (warehouseCode)", "warehouseCode written into every document.", "string"
    ),
    ExtraField("api_version", "API version (v)", "The v query parameter.", "string", default="2.0"),
    ExtraField(
        "sign_method",
        "Sign method",
        "How requests are signed with the app secret.",
        "string",
        default="md5",
        enum=SIGN_METHODS,
    ),
    ExtraField("connect_timeout", "Connect timeout (s)", "TCP connect timeout in seconds.", "number", 15.0, minimum=0.1),
    ExtraField(
        "read_timeout", "Read timeout (s)", "Seconds to wait for the warehouse's answer.", "number", 30.0, minimum=0.1
    ),
    ExtraField(
        "max_requests_per_second",
        "Max requests per second",
        "Client-side rate limit for this warehouse and app key, shared by every task and process on the "
        "machine; 0 disables it. Juxing refuses busy callers.",
        "number",
        5.0,
        minimum=0,
    ),
)
_DEFAULTS = {f.name: f.default for f in EXTRA_FIELDS}


def connection_type_info() -> dict[str, Any]:
    """The ``connection-types`` entry of get_provider_info().

    Airflow 3.3's React connection form is served by ``GET /ui/connections/hook_meta``, which reads
    ``conn-fields`` and ``ui-field-behaviour`` from provider info WITHOUT importing the hook
    (``ProvidersManager._load_ui_metadata``); ``get_connection_form_widgets`` is deprecated since 3.2
    and only consulted when no such metadata exists.
    """
    return {
        "connection-type": CONN_TYPE,
        "hook-class-name": "qimen_provider.hooks.qimen.QimenHook",
        "hook-name": HOOK_NAME,
        "ui-field-behaviour": {
            # The whole base URL (scheme, host, port, path) lives in host; schema/port only matter
            # for the URI form of AIRFLOW_CONN_* (see docs/connection.md).
            "hidden-fields": ["schema", "port"],
            "relabeling": {"host": "Base URL", "login": "App key", "password": "App secret"},
            "placeholders": {
                "host": EXAMPLE_BASE_URL,
                "login": "app key given by the warehouse (Juxing does not check it)",
                "password": "app secret",
                "customer_id": "82073683308314625",
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
