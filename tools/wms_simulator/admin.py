"""The admin and inspection API under ``/__admin/`` (JSON in, JSON out).

Tests, demos and benchmarks use it to look inside the warehouse (requests received, counters,
repeats, items, orders, returns, stock), to seed stock, to ship orders and deliver confirmations,
to receive returns and post the warehouse's reports, and to switch faults on and off while the
simulator runs. See docs/simulator.md for every route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import parse_qs

from qimen.errors import QimenValidationError

from . import reports, returns
from .codes import SimulatedRefusal
from .config import SimulatorConfig
from .faults import FaultDice, FaultSettings, CallLimit
from .shipping import CONFIRM_METHOD, RENDERERS, deliver
from .store import WarehouseStore

MAX_REPEAT = 100  # duplicates of one post an admin call may ask for


class AdminError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class AdminContext:
    config: SimulatorConfig
    store: WarehouseStore
    dice: FaultDice
    limiter: CallLimit
    initial_faults: FaultSettings


Route = Callable[[AdminContext, dict, object], object]


def _one(query: dict, name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _object(body: object) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise AdminError(400, "expected a JSON object")
    return body


def health(ctx, query, body):
    return {"ok": True}


def get_requests(ctx, query, body):
    limit = _one(query, "limit")
    return ctx.store.requests(method=_one(query, "method"), limit=int(limit) if limit else None)


def get_counters(ctx, query, body):
    return ctx.store.counters()


def get_repeats(ctx, query, body):
    return ctx.store.repeats()


def get_items(ctx, query, body):
    return ctx.store.items()


def get_orders(ctx, query, body):
    return ctx.store.orders(_one(query, "code"))


def get_stock(ctx, query, body):
    return ctx.store.stock()


def post_stock(ctx, query, body):
    """``{"items": [{"itemCode", "inventoryType"?, "quantity"}], "mode": "set"|"add"}``"""
    data = _object(body)
    try:
        ctx.store.seed_stock(list(data.get("items") or []), str(data.get("mode") or "set"))
    except (TypeError, ValueError) as exc:
        raise AdminError(400, str(exc)) from None
    return ctx.store.stock()


def get_faults(ctx, query, body):
    return ctx.dice.settings.to_dict()


def _set_faults(ctx, base: FaultSettings, changes: dict):
    try:
        settings = base.merged(changes)
    except (TypeError, ValueError) as exc:
        raise AdminError(400, str(exc)) from None
    ctx.dice.configure(settings)
    ctx.limiter.reset()
    return settings.to_dict()


def post_faults(ctx, query, body):
    """Change the given fault settings, keep the others (re-seeds the dice)."""
    return _set_faults(ctx, ctx.dice.settings, _object(body))


def put_faults(ctx, query, body):
    """Replace all fault settings: what is not given goes back to "no fault"."""
    return _set_faults(ctx, FaultSettings(), _object(body))


def get_config(ctx, query, body):
    return ctx.config.public_view()


def put_config(ctx, query, body):
    data = _object(body)
    unknown = sorted(set(data) - set(SimulatorConfig.RUNTIME_KEYS))
    if unknown:
        raise AdminError(400, f"cannot change {', '.join(unknown)} at run time; only {SimulatorConfig.RUNTIME_KEYS}")
    try:
        checked = replace(ctx.config, **data)  # __post_init__ checks the new values
    except (TypeError, ValueError) as exc:
        raise AdminError(400, str(exc)) from None
    for key in data:
        setattr(ctx.config, key, getattr(checked, key))
    return ctx.config.public_view()


def post_ship(ctx, query, body):
    """Ship orders and (unless ``hold``) deliver their confirmations.

    ``{"orders": [codes] (default: every shippable order), "lines": {code: [{"itemCode"|"orderLineNo",
    "quantity"}]}, "logistics_code", "express_codes": {code: str | [str]}, "packages": 1,
    "hold": false, "out_of_order": false, "callback_url", "shape": "qimen"|"juxing"}``; ``shape``
    defaults to the ``confirm_shape`` setting (``juxing``: exactly like Juxing's own sample).
    """
    data = _object(body)
    shape = str(data.get("shape") or ctx.config.confirm_shape)
    if shape not in RENDERERS:
        raise AdminError(400, f"shape must be one of {sorted(RENDERERS)}")
    orders = data.get("orders")
    if orders is not None and not isinstance(orders, list):
        raise AdminError(400, "orders must be a list of deliveryOrderCodes")
    shipments = ctx.store.ship(
        order_codes=orders, lines=data.get("lines"), logistics_code=data.get("logistics_code"),
        express_codes=data.get("express_codes"), packages_per_order=int(data.get("packages") or 1),
        render=RENDERERS[shape],
    )
    deliveries = []
    if not data.get("hold"):
        confirmations = ctx.store.confirmations([s["out_biz_code"] for s in shipments])
        if data.get("out_of_order"):
            confirmations.reverse()
        deliveries = deliver(ctx.store, ctx.config, confirmations, data.get("callback_url"))
    return {"shipments": shipments, "deliveries": deliveries}


def get_confirmations(ctx, query, body):
    """``?method=`` (default deliveryorder.confirm; ``all``: every message the warehouse posts)."""
    method = _one(query, "method") or CONFIRM_METHOD
    return ctx.store.confirmations(pending_only=_one(query, "pending") in ("1", "true", "yes"),
                                   method=None if method == "all" else method)


def post_deliver(ctx, query, body):
    """Deliver stored confirmations: the given ``out_biz_codes`` in that order (any order you like,
    duplicates allowed), or every not yet delivered one (``"reverse": true`` for newest first)."""
    data = _object(body)
    wanted = data.get("out_biz_codes")
    if wanted is None:
        confirmations = ctx.store.confirmations(pending_only=True)
        if data.get("reverse"):
            confirmations.reverse()
    else:
        by_code = {c["out_biz_code"]: c for c in ctx.store.confirmations(list(dict.fromkeys(wanted)))}
        confirmations = [by_code[c] for c in wanted]
    return {"deliveries": deliver(ctx.store, ctx.config, confirmations, data.get("callback_url"))}


def post_resend_confirm(ctx, query, body):
    """Deliver an already delivered confirmation again (``out_biz_code``, ``times``): duplicate delivery."""
    data = _object(body)
    code = data.get("out_biz_code")
    if not code:
        raise AdminError(400, "out_biz_code is required")
    return {"deliveries": _deliver_times(ctx, code, max(1, int(data.get("times") or 1)), data.get("callback_url"))}


def _deliver_times(ctx, out_biz_code: str, times: int, callback_url: str | None) -> list[dict]:
    """Post one stored message ``times`` times: the same outBizCode and body, duplicates as gateways deliver them."""
    return deliver(ctx.store, ctx.config, ctx.store.confirmations([out_biz_code]) * times, callback_url)


def _posted(ctx, data: dict, make, *args, **kwargs) -> dict:
    """Store a message with ``make(*args, **kwargs)``, then post it (unless ``hold``) and ``repeat``
    more times; bad input is HTTP 400, a refusal (unknown order ...) 409."""
    repeat = data.get("repeat") or 0
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 0 <= repeat <= MAX_REPEAT:
        raise AdminError(400, f"repeat must be a whole number from 0 to {MAX_REPEAT}")
    try:
        made = make(*args, **kwargs)
    except (QimenValidationError, ValueError) as exc:
        raise AdminError(400, str(exc)) from None
    deliveries = [] if data.get("hold") else _deliver_times(ctx, made["out_biz_code"], 1 + repeat,
                                                             data.get("callback_url"))
    return {**made, "deliveries": deliveries}


def _required(data: dict, name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise AdminError(400, f"{name} is required")
    return value.strip()


def get_returns(ctx, query, body):
    return returns.list_returns(ctx.store, _one(query, "code"))


def post_return_receive(ctx, query, body):
    """``{"code", "lines": [{"itemCode"|"orderLineNo", "good", "defective"}] (default: all announced,
    good), "confirm_type": 0|1, "split": "lines"|"batchs"}`` + the post options."""
    data = _object(body)
    return _posted(ctx, data, returns.receive_return, ctx.store, _required(data, "code"), data.get("lines"),
                   confirm_type=data.get("confirm_type", 0), split=data.get("split") or "lines")


def post_report_process(ctx, query, body):
    """``{"order_code", "status", "operate_info", "express_code", "remark"}`` + the post options."""
    data = _object(body)
    return _posted(ctx, data, reports.report_process, ctx.store, _required(data, "order_code"),
                   _required(data, "status"), operate_info=data.get("operate_info"),
                   express_code=data.get("express_code"), remark=data.get("remark"))


def post_report_lack(ctx, query, body):
    """``{"order_code", "lacks": {itemCode: lackQty} (default: everything unshipped), "reason"}``."""
    data = _object(body)
    return _posted(ctx, data, reports.report_lack, ctx.store, _required(data, "order_code"), data.get("lacks"),
                   data.get("reason") or reports.LACK_REASONS[1])


def post_report_stock_change(ctx, query, body):
    """``{"changes": [{"itemCode", "quantity", "inventoryType", "batchCode"}], "order_code", "order_type"}``."""
    data = _object(body)
    return _posted(ctx, data, reports.report_stock_change, ctx.store, ctx.config, data.get("changes"),
                   data.get("order_code"), data.get("order_type"))


def post_reset(ctx, query, body):
    """Forget everything (items, stock, orders, returns, confirmations and reports, requests); faults
    back to the start settings unless ``{"keep_faults": true}``."""
    data = _object(body)
    ctx.store.reset()
    if not data.get("keep_faults"):
        ctx.dice.configure(ctx.initial_faults)
    ctx.limiter.reset()
    return {"ok": True}


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "health"): health,
    ("GET", "requests"): get_requests,
    ("GET", "counters"): get_counters,
    ("GET", "repeats"): get_repeats,
    ("GET", "items"): get_items,
    ("GET", "orders"): get_orders,
    ("GET", "stock"): get_stock,
    ("POST", "stock"): post_stock,
    ("GET", "faults"): get_faults,
    ("POST", "faults"): post_faults,
    ("PUT", "faults"): put_faults,
    ("GET", "config"): get_config,
    ("PUT", "config"): put_config,
    ("POST", "ship"): post_ship,
    ("GET", "confirmations"): get_confirmations,
    ("POST", "deliver"): post_deliver,
    ("POST", "resend-confirm"): post_resend_confirm,
    ("GET", "returns"): get_returns,
    ("POST", "returns/receive"): post_return_receive,
    ("POST", "reports/process"): post_report_process,
    ("POST", "reports/lack"): post_report_lack,
    ("POST", "reports/stock-change"): post_report_stock_change,
    ("POST", "reset"): post_reset,
}


def dispatch(ctx: AdminContext, http_method: str, route: str, query: str, body: object) -> tuple[int, object]:
    """``(status, JSON-able answer)`` for one admin call; errors as ``{"error", "code"}``."""
    handler = ROUTES.get((http_method, route.strip("/")))
    if handler is None:
        known = sorted({name for _, name in ROUTES})
        status = 405 if any(name == route.strip("/") for _, name in ROUTES) else 404
        return status, {"error": f"no admin route {http_method} /__admin/{route}", "routes": known}
    try:
        return 200, handler(ctx, parse_qs(query), body)
    except AdminError as exc:
        return exc.status, {"error": exc.message, "code": exc.code}
    except SimulatedRefusal as exc:
        return 409, {"error": exc.message, "code": exc.code}
