"""A small client for the simulator's admin API, for tests, demos and benchmarks.

Deliberately stdlib-only (urllib) and proxy-free: it talks to a loopback simulator, so it should
work in any environment and never go through a proxy set for the outside world.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlencode, urlsplit

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SimulatorAdminError(RuntimeError):
    def __init__(self, status: int, answer: object) -> None:
        super().__init__(f"admin call failed with HTTP {status}: {answer}")
        self.status = status
        self.answer = answer


class SimulatorAdmin:
    """``SimulatorAdmin("http://127.0.0.1:8710")`` (any URL of the simulator: only scheme and host count)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.root = f"{parts.scheme}://{parts.netloc}"
        self.timeout = timeout

    def call(self, verb: str, route: str, body: object = None, **query) -> object:
        url = f"{self.root}/__admin/{route}"
        query = {k: v for k, v in query.items() if v is not None}
        if query:
            url += "?" + urlencode(query)
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=verb,
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode("utf-8", "replace")
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = raw
            raise SimulatorAdminError(exc.code, answer) from None

    # inspection
    def health(self) -> dict:
        return self.call("GET", "health")

    def requests(self, method: str | None = None, limit: int | None = None) -> list[dict]:
        return self.call("GET", "requests", method=method, limit=limit)

    def counters(self) -> dict:
        return self.call("GET", "counters")

    def repeats(self) -> dict[str, int]:
        return self.call("GET", "repeats")

    def items(self) -> list[dict]:
        return self.call("GET", "items")

    def orders(self, code: str | None = None) -> list[dict]:
        return self.call("GET", "orders", code=code)

    def order(self, code: str) -> dict:
        found = self.orders(code)
        if not found:
            raise KeyError(code)
        return found[0]

    def stock(self) -> list[dict]:
        return self.call("GET", "stock")

    def confirmations(self, pending: bool = False, method: str | None = None) -> list[dict]:
        """Stored deliveryorder.confirm posts; ``method``: another message's (``"all"``: every one)."""
        return self.call("GET", "confirmations", pending="true" if pending else None, method=method)

    def returns(self, code: str | None = None) -> list[dict]:
        return self.call("GET", "returns", code=code)

    def config(self) -> dict:
        return self.call("GET", "config")

    def faults(self) -> dict:
        return self.call("GET", "faults")

    # actions
    def set_faults(self, **changes) -> dict:
        """Change some fault settings, keep the others."""
        return self.call("POST", "faults", changes)

    def replace_faults(self, **settings) -> dict:
        """Replace every fault setting (what is not given: no fault)."""
        return self.call("PUT", "faults", settings)

    def set_config(self, **changes) -> dict:
        return self.call("PUT", "config", changes)

    def seed_stock(self, items: list[dict], mode: str = "set") -> list[dict]:
        return self.call("POST", "stock", {"items": items, "mode": mode})

    def ship(self, orders: list[str] | None = None, **options) -> dict:
        """Options: ``lines``, ``logistics_code``, ``express_codes``, ``packages``, ``hold``,
        ``out_of_order``, ``callback_url`` (see docs/simulator.md)."""
        return self.call("POST", "ship", {"orders": orders, **options})

    def deliver(self, out_biz_codes: list[str] | None = None, **options) -> dict:
        return self.call("POST", "deliver", {"out_biz_codes": out_biz_codes, **options})

    def resend_confirm(self, out_biz_code: str, times: int = 1, **options) -> dict:
        return self.call("POST", "resend-confirm", {"out_biz_code": out_biz_code, "times": times, **options})

    # returns and reports: every post takes ``repeat`` (N duplicates more), ``hold``, ``callback_url``
    def receive_return(self, code: str, lines: list[dict] | None = None, **options) -> dict:
        """The return's parcel arrived: ``lines`` ``[{"itemCode" or "orderLineNo", "good", "defective"}]``
        (default: everything announced, good); options ``confirm_type`` (1: partial), ``split``."""
        return self.call("POST", "returns/receive", {"code": code, "lines": lines, **options})

    def report_process(self, order_code: str, status: str, **options) -> dict:
        """orderprocess.report; options ``operate_info``, ``express_code``, ``remark``."""
        return self.call("POST", "reports/process", {"order_code": order_code, "status": status, **options})

    def report_lack(self, order_code: str, lacks: dict[str, int] | None = None, reason: str = "实物报缺",
                    **options) -> dict:
        """itemlack.report: ``lacks`` ``{itemCode: lackQty}`` (default: all the order has not shipped)."""
        return self.call("POST", "reports/lack", {"order_code": order_code, "lacks": lacks, "reason": reason,
                                                  **options})

    def report_stock_change(self, changes: list[dict], order_code: str | None = None, order_type: str | None = None,
                            **options) -> dict:
        """stockchange.report and the stock moved: ``changes`` ``[{"itemCode", "quantity" (signed),
        "inventoryType"?, "batchCode"?}]``."""
        return self.call("POST", "reports/stock-change", {"changes": changes, "order_code": order_code,
                                                          "order_type": order_type, **options})

    def reset(self, keep_faults: bool = False) -> dict:
        return self.call("POST", "reset", {"keep_faults": keep_faults})
