"""The operations page as server-rendered HTML: labels in English and Chinese, times in Beijing time,
links to the Airflow runs (``target=_top``: the page lives in an iframe of Airflow's UI)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from urllib.parse import quote, urlencode

from wmsbridge.pipelines.windows import BEIJING

from .queries import DayStates, InventoryRun, Rejected, Waiting

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Noto Sans CJK SC",sans-serif;margin:16px;color:#1a202c}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin-bottom:8px} th,td{border:1px solid #e2e8f0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f7fafc} td.n{text-align:right;font-variant-numeric:tabular-nums} .muted{color:#718096;font-size:12px}
.bad{color:#c53030;font-weight:600} .ok{color:#2f855a} a{color:#2b6cb0} form{margin:4px 0 8px}
"""
ORDER_COLUMNS = ("pending", "sending", "sent", "rejected", "failed", "cancel_requested", "cancelled", "cancel_failed",
                 "partially_shipped", "shipped")


def bj(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") if value.tzinfo else f"{value:%Y-%m-%d %H:%M:%S} UTC"


def run_link(run_id: str | None, dag_ids: dict[str, str]) -> str:
    """A link to the Airflow run that last touched a record, when Airflow knows its DAG."""
    if not run_id:
        return ""
    dag_id = dag_ids.get(run_id)
    if not dag_id:
        return f'<span class="muted">{escape(run_id)}</span>'
    return f'<a target="_top" href="/dags/{quote(dag_id)}/runs/{quote(run_id, safe="")}">{escape(run_id)}</a>'


def _table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    cells = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f'<td class="n">{v}</td>' if i in numeric else f"<td>{v}</td>"
                                    for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def states_section(days: list[DayStates], totals: dict[str, int]) -> str:
    columns = [s for s in ORDER_COLUMNS if any(d.states.get(s) for d in days) or s in ("sent", "rejected")]
    columns += sorted({s for d in days for s in d.states} - set(columns))  # any other state present
    head = ["Beijing day / 北京日期"] + [escape(s) for s in columns] + ["total / 合计"]
    rows = []
    for i, d in enumerate(days):
        label = f"{d.day:%Y-%m-%d}" + (" (today / 今天)" if i == 0 else "")
        rows.append([label] + [str(d.states.get(s, 0)) for s in columns] + [str(d.total)])
    week = {s: sum(d.states.get(s, 0) for d in days) for s in columns}
    rows.append(["<b>7 days / 近7天</b>"] + [f"<b>{week[s]}</b>" for s in columns] + [f"<b>{sum(week.values())}</b>"])
    all_time = ", ".join(f"{escape(k)} {v}" for k, v in sorted(totals.items())) or "none yet / 暂无"
    return ("<h2 id='states'>Orders by state (by paid day) / 订单状态（按付款日）</h2>"
            + _table(head, rows, set(range(1, len(head))))
            + f"<p class='muted'>All orders in the store / 全部订单: {all_time}</p>")


def rejected_section(total: int, rows: list[Rejected], text: str, dag_ids: dict[str, str]) -> str:
    csv_href = "rejected.csv" + (f"?{urlencode({'q': text})}" if text else "")
    form = (f"<form method='get' action='./#rejected'><label>Filter / 筛选: <input name='q' value='{escape(text)}' "
            f"placeholder='order code or reason / 订单号或原因'></label> <button type='submit'>Apply / 应用</button> "
            f"<a href='{escape(csv_href)}'>Download CSV / 下载 CSV</a></form>")
    shown = f"<p class='muted'>{len(rows)} of {total} shown / 显示 {len(rows)} / 共 {total}</p>"
    table = _table(["Order code / 订单号", "Shop order id / 商城订单ID", "Paid (Beijing) / 付款时间", "Reasons / 原因",
                    "Last run / 最近运行"],
                   [[escape(r.code), escape(r.shop_order_id or ""), bj(r.paid_at),
                     "<br>".join(escape(x) for x in r.reasons), run_link(r.run_id, dag_ids)] for r in rows])
    return f"<h2 id='rejected'>Rejected orders / 被拒订单 ({total})</h2>{form}{shown}{table if rows else ''}"


def waiting_section(kinds: list[Waiting], dag_ids: dict[str, str]) -> str:
    total = sum(k.count for k in kinds)
    out = [f"<h2 id='waiting'>Waiting for a person / 待人工处理 (<span class='{'bad' if total else 'ok'}'>{total}</span>)</h2>"]
    out.append(_table(["What / 类别", "Count / 数量", "Table / 表"],
                      [[f"<a href='#rejected'>{k.label}</a>" if k.key == "orders_rejected" and k.count else k.label,
                        f"<span class='{'bad' if k.count else ''}'>{k.count}</span>", escape(k.table)]
                       for k in kinds], {1}))
    for k in kinds:
        if not k.rows or k.key == "orders_rejected":  # listed in full, with a filter, under Rejected orders
            continue
        out.append(f"<h3 style='font-size:14px'>{k.label} ({k.count})</h3>")
        out.append(_table(["Code / 编码", "State / 状态", "Error code / 错误码", "Message / 信息", "Updated (Beijing) / 更新时间",
                           "Last run / 最近运行"],
                          [[escape(str(r.get("code") or "")), escape(str(r.get("state") or "")),
                            escape(str(r.get("error_code") or "")), escape(str(r.get("message") or ""))[:400],
                            bj(r.get("updated_at")), run_link(r.get("run_id"), dag_ids)] for r in k.rows]))
    return "".join(out)


def confirmations_section(rows: list[dict] | None) -> str:
    head = "<h2 id='confirmations'>Latest confirmations / 最新发货回传</h2>"
    if rows is None:
        return head + "<p class='muted'>wms_shipment_inbox does not exist yet / 表尚未创建</p>"
    if not rows:
        return head + "<p class='muted'>none received yet / 暂无</p>"
    return head + _table(["Order code / 订单号", "Status / 状态", "Confirm type / 回传类型", "Confirmed (Beijing) / 确认时间",
                          "Received (Beijing) / 接收时间", "Processed / 已处理", "Error / 错误"],
                         [[escape(r["delivery_order_code"]), escape(r["status"] or ""), escape(str(r["confirm_type"] or "")),
                           bj(r["order_confirm_at"]), bj(r["received_at"]), "yes / 是" if r["processed_at"] else "no / 否",
                           escape(r["process_error"] or "")] for r in rows])


def inventory_section(run: InventoryRun, dag_ids: dict[str, str]) -> str:
    head = "<h2 id='inventory'>Last inventory run / 最近一次库存同步</h2>"
    if not run.snapshot_date and not run.writeback_date:
        return head + "<p class='muted'>no inventory run yet / 暂无库存同步</p>"
    rows = []
    if run.snapshot_date:
        rows.append(["Warehouse snapshot / 仓库库存快照", f"{run.snapshot_date:%Y-%m-%d}",
                     f"{run.snapshot_rows} rows, quantity {run.snapshot_quantity}, fetched {bj(run.fetched_at)}",
                     run_link(run.snapshot_run_id, dag_ids)])
    if run.writeback_date:
        outcomes = ", ".join(f"{escape(k)} {v}" for k, v in sorted(run.outcomes.items()))
        reasons = "; ".join(f"{escape(r)} ({n})" for r, n in run.skipped_reasons)
        rows.append(["Shop stock write-back / 回写商城库存", f"{run.writeback_date:%Y-%m-%d}",
                     outcomes + (f"<br><span class='muted'>skipped because / 跳过原因: {reasons}</span>" if reasons else ""),
                     run_link(run.writeback_run_id, dag_ids)])
    return head + _table(["Step / 步骤", "Day / 日期", "Result / 结果", "Run / 运行"], rows)


def runs_section(runs: list[dict]) -> str:
    head = "<h2 id='runs'>Recent runs / 最近运行</h2>"
    if not runs:
        return head + "<p class='muted'>no runs yet / 暂无运行</p>"
    return head + _table(["DAG", "Run / 运行", "Type / 类型", "State / 状态", "Started (Beijing) / 开始时间"],
                         [[f'<a target="_top" href="/dags/{quote(r["dag_id"])}">{escape(r["dag_id"])}</a>',
                           run_link(r["run_id"], {r["run_id"]: r["dag_id"]}), escape(str(r["run_type"])),
                           f"<span class='{'bad' if r['state'] == 'failed' else ''}'>{escape(str(r['state']))}</span>",
                           bj(r["start_date"])] for r in runs])


def page(*, generated: datetime, store: str, sections: list[str]) -> str:
    nav = " · ".join(f"<a href='#{a}'>{t}</a>" for a, t in (
        ("states", "States / 状态"), ("rejected", "Rejected / 被拒"), ("waiting", "Waiting / 待处理"),
        ("confirmations", "Confirmations / 回传"), ("inventory", "Inventory / 库存"), ("runs", "Runs / 运行")))
    return (f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>WMS bridge / 仓库对接</title>"
            f"<style>{STYLE}</style></head><body><h1>WMS bridge operations / 仓库对接运营</h1>"
            f"<p class='muted'>Read-only. Store / 数据库: {escape(store)} · generated / 生成于 {bj(generated)} (Beijing / 北京时间)"
            f" · {nav}</p>{''.join(sections)}</body></html>")
