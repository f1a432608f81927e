"""Print a ready-to-run curl command posting a signed Qimen request (for trying the simulator by hand).

    python -m wms_simulator.sign_curl --method singleitem.synchronize --secret s3cret \
        --customer-id C001 item.xml | sh

The body file is signed byte for byte as curl will send it (``--data-binary``), with a fresh
timestamp, so run the printed command soon (it is not checked for age, but a real gateway would).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from qimen.transport import CONTENT_TYPE, build_request_url, public_params, signed_params

from .config import JUXING_PATH_V2


def curl_command(url: str, method: str, body_path: str, *, secret: str, customer_id: str, app_key: str,
                 sign_method: str = "md5") -> str:
    body = Path(body_path).read_bytes().decode("utf-8")
    params = public_params(method, app_key=app_key, customer_id=customer_id, sign_method=sign_method)
    signed = signed_params(params, body, secret)
    return " ".join([
        "curl", "-sS", "-X", "POST", "-H", shlex.quote(f"Content-Type: {CONTENT_TYPE}"),
        "--data-binary", shlex.quote("@" + body_path), shlex.quote(build_request_url(url, signed)),
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m wms_simulator.sign_curl", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("body", help="file holding the XML body")
    p.add_argument("--url", default=f"http://127.0.0.1:8710{JUXING_PATH_V2}")
    p.add_argument("--method", required=True, help="e.g. deliveryorder.create or taobao.qimen.deliveryorder.create")
    p.add_argument("--secret", required=True)
    p.add_argument("--customer-id", required=True)
    p.add_argument("--app-key", default="demo-app")
    p.add_argument("--sign-method", default="md5", choices=("md5", "hmac", "hmac-sha256"))
    args = p.parse_args(argv)
    print(curl_command(args.url, args.method, args.body, secret=args.secret, customer_id=args.customer_id,
                       app_key=args.app_key, sign_method=args.sign_method))
    return 0


if __name__ == "__main__":
    sys.exit(main())
