"""``python -m wmsbridge.receiver --host 0.0.0.0 --port 8790``: the receiver on its own (uvicorn).

For deployments that keep Airflow private. Same settings as the DAGs (the ``wms_bridge_config``
Variable or ``WMS_BRIDGE_CONFIG``; the store through the shop/store connection, e.g.
``AIRFLOW_CONN_SHOP_DB``). Refuses to start, saying what to run, without a token or with a store
not at this code's revision. The route is the same as inside Airflow: ``POST /wms/qimen/callback``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from wmsbridge.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wmsbridge.receiver", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import uvicorn
    from fastapi import FastAPI

    from .app import create_app
    from .auth import install_log_redaction
    from .composition import build_receiver

    try:
        receiver = build_receiver()
    except ConfigError as err:
        print(f"the receiver does not start: {err}", file=sys.stderr)
        return 2
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    root.mount("/wms", create_app(receiver=receiver))
    config = uvicorn.Config(root, host=args.host, port=args.port, log_level=args.log_level.lower())
    server = uvicorn.Server(config)
    install_log_redaction()  # after uvicorn.Config set up its loggers
    print(f"receiver listening on http://{args.host}:{args.port}/wms/qimen/callback?token=***", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
