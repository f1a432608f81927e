"""``python -m wms_simulator``: run a simulated warehouse until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

from . import fast_headers
from .auto_ship import MAX_DELIVERIES
from .config import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_REDELIVER_AFTER_S,
    DEFAULT_TWO_PARCEL_SHARE,
    JUXING_METHOD_PATHS,
    JUXING_PATH_V1,
    MAX_CLOCK_SKEW_S,
    SimulatorConfig,
)
from .faults import FaultSettings
from .server import SimulatorServer


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m wms_simulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8710, help="0 = any free port (printed at start)")
    p.add_argument("--secret", help="app secret: when given, request signatures are verified")
    p.add_argument("--customer-id", help="when given, requests with another customerId are refused")
    p.add_argument("--warehouse-code", help="when given, documents for another warehouse are refused")
    p.add_argument("--owner-code", help="when given, documents for another owner are refused")
    p.add_argument("--callback-url", help="where deliveryorder.confirm is posted when orders ship")
    p.add_argument("--confirm-shape", choices=("qimen", "juxing"), default="qimen",
                   help="juxing: confirmations exactly like Juxing's sample (empty elements, Java times)")
    p.add_argument("--callback-secret", help="secret signing the callbacks (default: --secret)")
    p.add_argument("--db", help="SQLite file for the state (default: in memory)")
    p.add_argument("--allow-unknown-items", action="store_true",
                   help="accept order lines whose item was never synchronised")
    p.add_argument("--strict-stock", action="store_true", help="refuse orders beyond the available stock")
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    p.add_argument("--lenient", action="store_true",
                   help="accept any timestamp, format, v and sign case (default: checked like a Qimen gateway)")
    p.add_argument("--max-clock-skew", type=float, default=MAX_CLOCK_SKEW_S,
                   help="seconds a timestamp may be off Beijing time (default 600)")
    p.add_argument("--method-path", action="append", default=[], metavar="METHOD=PATH",
                   help="accept METHOD only at PATH (repeatable), e.g. deliveryorder.create=" + JUXING_PATH_V1)
    p.add_argument("--disable-method", action="append", default=[], metavar="METHOD",
                   help="a method this warehouse has not enabled (answered flag=failure method-not-enabled), "
                        "e.g. returnorder.create; repeatable")
    p.add_argument("--juxing-paths", action="store_true",
                   help="Juxing's note: items only at /api/v2/..., orders only at /api/v1/...")
    a = p.add_argument_group("a warehouse that works on its own")
    a.add_argument("--auto-ship-after", type=float, metavar="SECONDS",
                   help="ship every accepted order SECONDS after accepting it and post its confirmation to "
                        "--callback-url (default: only when asked through the admin API)")
    a.add_argument("--two-parcel-share", type=float, default=DEFAULT_TWO_PARCEL_SHARE, metavar="F",
                   help="auto-shipped orders of two or more lines that go out in two parcels (decided by --seed "
                        "and the order code; default %(default)s)")
    a.add_argument("--redeliver-after", type=float, default=DEFAULT_REDELIVER_AFTER_S, metavar="SECONDS",
                   help=f"auto-ship: post a failed confirmation again after SECONDS (at most {MAX_DELIVERIES} posts)")
    a.add_argument("--starting-stock", type=int, default=0, metavar="N",
                   help="ZP units an item gets when singleitem.synchronize creates it (default 0: none)")
    a.add_argument("--starting-stock-file", metavar="FILE",
                   help='JSON {"itemCode": quantity, ...}: the starting stock per item (others: --starting-stock)')
    f = p.add_argument_group("faults (fractions are probabilities per request)")
    f.add_argument("--latency-ms", type=int, default=0)
    f.add_argument("--jitter-ms", type=int, default=0)
    f.add_argument("--fail-5xx", type=float, default=0.0)
    f.add_argument("--status-5xx", type=int, default=503)
    f.add_argument("--hang", type=float, default=0.0)
    f.add_argument("--hang-seconds", type=float, default=30.0)
    f.add_argument("--drop-after", type=float, default=0.0, help="process, then close without answering")
    f.add_argument("--error-response", type=float, default=0.0)
    f.add_argument("--failure", type=float, default=0.0, help="answer flag=failure with one of --failure-codes")
    f.add_argument("--failure-codes", default="SYSTEM_BUSY", help="comma separated")
    f.add_argument("--rate-limit", type=float, default=0.0, help="max requests per second per app_key")
    f.add_argument("--fault-methods", default="", help="comma separated methods the faults apply to (default all)")
    f.add_argument("--seed", type=int, help="seed for reproducible fault dice (and auto-ship's choice of two parcels)")
    p.add_argument("--log-level", default="INFO")
    return p


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    faults = FaultSettings(
        latency_ms=args.latency_ms, jitter_ms=args.jitter_ms, fail_5xx=args.fail_5xx, status_5xx=args.status_5xx,
        hang=args.hang, hang_seconds=args.hang_seconds, drop_after=args.drop_after,
        error_response=args.error_response, failure=args.failure, failure_codes=args.failure_codes,
        rate_limit=args.rate_limit, methods=args.fault_methods, seed=args.seed,
    )
    method_paths: dict[str, list[str]] = {m: list(p) for m, p in JUXING_METHOD_PATHS.items()} \
        if args.juxing_paths else {}
    for given in args.method_path:
        method, sep, path = given.partition("=")
        if not sep or not method.strip() or not path.strip():
            raise ValueError(f"--method-path {given!r}: expected METHOD=PATH")
        method_paths.setdefault(method.strip(), []).append(path.strip())
    return SimulatorConfig(
        auto_ship_after_s=args.auto_ship_after, two_parcel_share=args.two_parcel_share,
        redeliver_after_s=args.redeliver_after, starting_stock=args.starting_stock,
        starting_stock_by_item=read_stock_file(args.starting_stock_file) if args.starting_stock_file else {},
        strict_public_params=not args.lenient, max_clock_skew_s=args.max_clock_skew,
        method_paths={m: tuple(p) for m, p in method_paths.items()}, disabled_methods=tuple(args.disable_method),
        host=args.host, port=args.port, secret=args.secret, customer_id=args.customer_id,
        warehouse_code=args.warehouse_code, owner_code=args.owner_code, callback_url=args.callback_url,
        confirm_shape=args.confirm_shape,
        callback_secret=args.callback_secret, db=args.db, require_known_items=not args.allow_unknown_items,
        strict_stock=args.strict_stock, max_body_bytes=args.max_body_bytes, faults=faults,
    )


def read_stock_file(path: str) -> dict[str, int]:
    """``--starting-stock-file``: a JSON object of item codes and whole quantities."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"--starting-stock-file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"--starting-stock-file {path}: expected a JSON object {{itemCode: quantity}}")
    return data


def announce(config: SimulatorConfig) -> str:
    """What the simulator does on its own, for the start-up lines (the callback URL without its query:
    it may carry the receiver's token)."""
    lines = []
    if config.auto_ship_after_s is not None:
        target = urlsplit(config.callback_url)._replace(query="", fragment="").geturl() if config.callback_url \
            else "nowhere (no --callback-url: confirmations wait, see /__admin/confirmations?pending=true)"
        lines.append(f"  auto-ship: every accepted order {config.auto_ship_after_s:g} s after accepting it, "
                     f"confirmations ({config.confirm_shape}) to {target}")
    if config.starting_stock or config.starting_stock_by_item:
        lines.append(f"  starting stock: {len(config.starting_stock_by_item)} items listed, "
                     f"{config.starting_stock} units for any other")
    if config.disabled_methods:
        lines.append(f"  not enabled (answered flag=failure): {', '.join(config.disabled_methods)}")
    return "".join("\n" + line for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    fast_headers.install()  # this process is the simulator's own: see fast_headers
    server = SimulatorServer(config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"wms simulator ready: {server.base_url}  (admin: {server.url('/__admin/')})", file=sys.stderr, flush=True)
    print(f"  customerId: {config.customer_id or '(any)'}   signatures: "
          f"{'verified' if config.secret else 'not checked'}   public parameters: "
          f"{'lenient' if not config.strict_public_params else 'checked like a gateway'}"
          + "".join(f"\n  {m} only at {', '.join(p)}" for m, p in config.method_paths.items()) + announce(config),
          file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    logging.getLogger("wms_simulator").info("stopping")
    server.stop()
    return 0
