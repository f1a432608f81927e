"""The operations page as server-rendered HTML: what should I do now, in English and Chinese, times
in Beijing time, links to the exact Airflow runs (``target=_top``: the page lives in an iframe of
Airflow's UI) and to the runbook section of each category.

Every number a person acts on carries ``data-category`` / ``data-count`` attributes: the browser
test reads them and compares them with the store. One page shows one bridge (``bridge`` in every
link and form, so an act never lands on another shop's record of the same code); the bridges'
totals carry ``data-bridge`` / ``data-waiting``."""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from urllib.parse import quote, urlencode

from wmsbridge.pipelines.windows import BEIJING

from .queries import Backlog, BridgeTotal, DayStates, InventoryRun, Waiting

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Noto Sans CJK SC",sans-serif;margin:16px;color:#1a202c}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px}
table{border-collapse:collapse;font-size:13px;margin-bottom:8px} th,td{border:1px solid #e2e8f0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f7fafc} td.n{text-align:right;font-variant-numeric:tabular-nums} .muted{color:#718096;font-size:12px}
.bad{color:#c53030;font-weight:600} .ok{color:#2f855a} .warn{color:#b7791f;font-weight:600} a{color:#2b6cb0}
form{margin:4px 0 8px} .flash{background:#f0fff4;border:1px solid #9ae6b4;padding:6px 10px;margin:8px 0}
.flash.err{background:#fff5f5;border-color:#feb2b2} .card{display:inline-block;border:1px solid #e2e8f0;padding:8px 12px;margin:0 8px 8px 0;vertical-align:top}
.card b{font-size:22px} button{margin-right:6px} input[name=note]{width:24em}
"""
ORDER_COLUMNS = ("pending", "sending", "sent", "rejected", "failed", "exists_different", "cancel_requested",
                 "cancelled", "cancel_failed", "partially_shipped", "shipped")
ACTION_LABELS = {
    "handled": "Mark handled / 标记已处理",
    "send_again": "Send again / 重新发送",
    "apply_again": "Apply again / 重新处理",
    "write_snapshot": "Write the stored snapshot / 写入已保存快照",
}
# a category no run fails for: the shop fixes its record, or a person acts (pays a refund ...)
NOT_FAILING = "no: a person acts, runs stay green / 否：人工处理，不影响运行"
FLOW_LABELS = {"items": "SKUs / 商品", "orders": "Orders / 订单", "cancels": "Cancellations / 取消",
               "shipments": "Shipments / 发货回传", "inventory": "Stock / 库存", "returns": "Returns / 退货"}


def bj(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") if value.tzinfo else f"{value:%Y-%m-%d %H:%M:%S} UTC"


def age(value: datetime | None, now: datetime) -> str:
    if value is None:
        return ""
    hours = (now - (value if value.tzinfo else value.replace(tzinfo=timezone.utc))).total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def run_link(run_id: str | None, dag_id: str | None) -> str:
    """A link to the exact Airflow run (its DAG is stored beside the run id), else the id alone."""
    if not run_id:
        return ""
    if not dag_id:
        return f'<span class="muted" title="run of an unknown DAG">{escape(run_id)}</span>'
    return (f'<a target="_top" href="/dags/{quote(dag_id)}/runs/{quote(run_id, safe="")}">'
            f'{escape(dag_id)} · {escape(run_id)}</a>')


def runbook_link(anchor: str) -> str:
    return f"<a href='runbook#{escape(anchor)}'>runbook / 处理手册</a>"


def _table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset(), attrs: list[str] | None = None) -> str:
    cells = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(f"<tr{(' ' + attrs[k]) if attrs else ''}>" + "".join(
        f'<td class="n">{v}</td>' if i in numeric else f"<td>{v}</td>" for i, v in enumerate(r)) + "</tr>"
        for k, r in enumerate(rows))
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def bridge_url(bridge_id: str, keep: dict[str, str] | None = None) -> str:
    """The page of one bridge, with the other query parameters kept (empty ones dropped)."""
    params = {k: v for k, v in (keep or {}).items() if v and k != "bridge"}
    return "./?" + urlencode({"bridge": bridge_id, **params})


def bridge_bar(bridges: dict[str, bool], selected: str, keep: dict[str, str] | None = None) -> str:
    """Which bridge the page shows (``bridges``: id -> enabled, config order) and links to the
    others; with one bridge a label only, so a single-bridge deployment looks as before."""
    shown = f"<b data-selected-bridge='{escape(selected)}'>{escape(selected)}</b>"
    others = [f"<a href='{escape(bridge_url(b, keep))}' data-bridge-link='{escape(b)}'>{escape(b)}</a>"
              + ("" if enabled else " <span class='muted'>(disabled / 已停用)</span>")
              for b, enabled in bridges.items() if b != selected]
    off = "" if bridges.get(selected, True) else (
        " <span class='warn'>disabled in wms_bridge_config: runs do nothing for it / 此桥接已停用：运行不处理它</span>")
    choose = (" · other bridges / 其他桥接: " + " · ".join(others)) if others else ""
    quiet = "" if others else " class='muted'"
    return f"<p{quiet} id='bridge'>Bridge / 桥接: {shown}{off}{choose}</p>"


def bridges_section(totals: list[BridgeTotal], selected: str, keep: dict[str, str] | None = None) -> str:
    """Every bridge at a glance (shown when there are several): what waits in each, and the sum."""
    rows, attrs = [], []
    for t in totals:
        link = f"<a href='{escape(bridge_url(t.bridge_id, keep))}'>{escape(t.bridge_id)}</a>"
        waiting = (f"<span class='bad' title='{escape(t.error or '')}'>? store cannot be read / 无法读取</span>"
                   if t.waiting is None else f"<span class='{'bad' if t.waiting else 'ok'}'>{t.waiting}</span>")
        rows.append([f"<b>{link}</b> (shown / 当前)" if t.bridge_id == selected else link,
                     "yes / 是" if t.enabled else "<span class='warn'>no / 否</span>", escape(t.profile),
                     escape(t.store_conn_id), waiting])
        attrs.append(f"data-bridge='{escape(t.bridge_id)}' data-waiting='{'' if t.waiting is None else t.waiting}'")
    known = sum(t.waiting or 0 for t in totals)
    unread = any(t.waiting is None for t in totals)
    enabled = sum(t.enabled for t in totals)
    rows.append(["<b>Total / 合计</b>", f"{enabled} of {len(totals)} enabled / 已启用 {enabled} 个，共 {len(totals)} 个", "", "",
                 f"<b>{known}{'+?' if unread else ''}</b>"])
    attrs.append(f"data-bridge-total='{known}'")
    return ("<h2 id='bridges'>Bridges / 各桥接</h2>"
            + _table(["Bridge / 桥接", "Enabled / 启用", "Profile / 商城类型", "Store connection / 数据库连接",
                      "Waiting for a person / 待人工处理"], rows, {4}, attrs))


def unknown_bridge_section(bridge_id: str, configured: list[str]) -> str:
    """A link to a bridge that is not (or no longer) configured: say so, and offer the ones that are."""
    links = " · ".join(f"<a href='{escape(bridge_url(b))}'>{escape(b)}</a>" for b in configured)
    return (f"<h2>Unknown bridge / 未知桥接</h2><p class='bad'>No bridge {escape(repr(bridge_id))} is configured in "
            f"wms_bridge_config / 未配置此桥接。</p><p>Configured bridges / 已配置的桥接: {links}</p>")


def _hidden_bridge(bridge: str | None) -> str:
    return f"<input type='hidden' name='bridge' value='{escape(bridge)}'>" if bridge else ""


def flash_section(message: str | None, error: bool = False) -> str:
    if not message:
        return ""
    return f"<div class='flash{' err' if error else ''}' id='flash'>{escape(message)}</div>"


def now_section(backlog: Backlog, flows: list[dict], now: datetime) -> str:
    """What should I do now: the backlog, and which flows run by themselves."""
    out = ["<h2 id='now'>Now / 现在</h2>"]
    total = f"{backlog.total}" + ("" if backlog.complete else "+")
    oldest = f"oldest paid {age(backlog.oldest_paid_at, now)} ago ({bj(backlog.oldest_paid_at)})" \
        if backlog.oldest_paid_at else "none waiting"
    out.append(
        f"<div class='card' data-category='backlog' data-count='{backlog.total}'>Paid, not at the warehouse yet / "
        f"已付款未推送<br><b class='{'warn' if backlog.total else 'ok'}'>{total}</b><br>"
        f"<span class='muted'>{escape(oldest)}</span></div>")
    out.append(_table(
        ["not read by the bridge yet / 尚未读取", "pending / 待推送", "retrying after a passing fault / 稍后重试",
         "being sent / 发送中", "of them left by a dead run / 其中进程中断"],
        [[str(backlog.unregistered), str(backlog.pending), str(backlog.retrying), str(backlog.sending),
          str(backlog.abandoned)]], set(range(5))))
    if backlog.error:
        out.append(f"<p class='warn'>{escape(backlog.error)}</p>")
    if not backlog.complete:
        out.append(f"<p class='muted'>more than {backlog.scanned} paid orders in the shop: counts are at least these</p>")
    if backlog.unregistered or backlog.abandoned:
        out.append("<p class='muted'>Orders not read yet, and orders a dead run left, are sent by the next "
                   "wms_order_push run: if the number does not go down, check that it runs (live, not paused, not "
                   "failing). / 未读取或进程中断的订单由下一次推送处理；若数量不减少，请检查推送是否在运行。</p>")
    rows, attrs = [], []
    for f in flows:
        note = ""
        if f["paused"] and f["live"]:
            note = ("<span class='warn'>paused in Airflow: the trigger and backfill dialogs unpause it by default "
                    "(untick 'Unpause on trigger'); the safe off switch is live / Airflow 中已暂停，但触发/回填对话框默认"
                    "会取消暂停；安全的开关是 live</span>")
        elif not f["live"]:
            note = "<span class='muted'>scheduled runs do nothing (live off) / 定时运行不执行（live 未开启）</span>"
        rows.append([FLOW_LABELS[f["flow"]], f"<a target='_top' href='/dags/{quote(f['dag_id'])}'>{escape(f['dag_id'])}</a>",
                     "yes / 是" if f["live"] else "<b>no / 否</b>",
                     "paused / 已暂停" if f["paused"] else ("active / 运行中" if f["paused"] is False else "?"),
                     run_link(f.get("last_run_id"), f["dag_id"] if f.get("last_run_id") else None)
                     + (f" <span class='{'bad' if f.get('last_state') == 'failed' else 'muted'}'>"
                        f"{escape(str(f.get('last_state') or ''))}</span>" if f.get("last_state") else ""),
                     note])
        attrs.append(f"data-flow='{f['flow']}' data-live='{str(f['live']).lower()}'")
    out.append("<h3>Scheduled flows / 定时流程</h3>" + _table(
        ["Flow / 流程", "DAG", "live (wms_bridge_config)", "Airflow", "Last run / 最近运行", ""], rows, attrs=attrs))
    return "".join(out)


READ_ONLY = ("<p class='warn read-only'>Read-only: your Airflow role may not trigger the bridge's DAGs, so the "
             "actions on this page are off. / 只读：你的 Airflow 角色不能触发任务，本页操作不可用。</p>")


def waiting_section(kinds: list[Waiting], *, now: datetime, may_act: bool, csrf: str, text: str,
                    focus: str | None, bridge: str | None = None) -> str:
    """What waits for a person; ``bridge``: the bridge the lists are of, carried by every form and
    CSV link (None: no bridge named, the page's default one acts)."""
    total = sum(k.count for k in kinds)
    out = [f"<h2 id='waiting'>Waiting for a person / 待人工处理 "
           f"(<span class='{'bad' if total else 'ok'}' data-category='total' data-count='{total}'>{total}</span>)</h2>"]
    if not may_act:
        out.append(READ_ONLY)
    rows, attrs = [], []
    for k in kinds:
        c = k.category
        rows.append([f"<a href='#{c.key}'>{escape(c.label_en)} / {escape(c.label_zh)}</a>" if k.count
                     else f"{escape(c.label_en)} / {escape(c.label_zh)}",
                     f"<span class='{'bad' if k.count else ''}'>{k.count}</span>", FLOW_LABELS[c.flow],
                     "yes / 是" if c.fails_run else NOT_FAILING, runbook_link(c.runbook)])
        attrs.append(f"data-category='{c.key}' data-count='{k.count}'")
    out.append(_table(["What / 类别", "Count / 数量", "Flow / 流程", "Fails its run / 运行失败", ""], rows, {1}, attrs))
    for k in kinds:
        if k.count:
            out.append(_category(k, now=now, may_act=may_act, csrf=csrf, text=text if k.category.key == focus else "",
                                 bridge=bridge))
    return "".join(out)


def _category(k: Waiting, *, now: datetime, may_act: bool, csrf: str, text: str, bridge: str | None) -> str:
    c = k.category
    csv = escape(urlencode({"category": c.key, "q": text, **({"bridge": bridge} if bridge else {})}))
    head = (f"<h3 id='{c.key}'>{escape(c.label_en)} / {escape(c.label_zh)} ({k.count}) · {runbook_link(c.runbook)}"
            f" · <a href='waiting.csv?{csv}'>CSV</a></h3>")
    search = (f"<form method='get' action='./#{c.key}'><input type='hidden' name='focus' value='{c.key}'>"
              f"{_hidden_bridge(bridge)}"
              f"<label>Filter / 筛选: <input name='q' value='{escape(text)}'></label> "
              f"<button type='submit'>Apply / 应用</button></form>")
    disabled = "" if may_act else " disabled"
    rows = [[f"<input type='checkbox' name='subject' value='{escape(r['subject'])}'{disabled}>",
             escape(r["subject"]), escape(r["detail"] or ""), escape(r["state"] or ""),
             escape(str(r["reason"] or ""))[:600], bj(r["since"]) + f"<br><span class='muted'>{age(r['since'], now)}</span>",
             run_link(r["run_id"], r["dag_id"])] for r in k.rows]
    shown = f"<p class='muted'>{len(k.rows)} of {k.count} shown / 显示 {len(k.rows)} / 共 {k.count}</p>"
    table = _table(["", "Key / 编号", "Shop / 商城", "State / 状态", "Why / 原因", "Since (Beijing) / 时间", "Decided by / 决定的运行"],
                   rows)
    buttons = "".join(f"<button type='submit' name='action' value='{a}'{disabled}>{ACTION_LABELS[a]}</button>"
                      for a in c.actions)
    form = (f"<form method='post' action='act' data-form='{c.key}'><input type='hidden' name='csrf' value='{escape(csrf)}'>"
            f"<input type='hidden' name='category' value='{c.key}'>{_hidden_bridge(bridge)}{table}"
            f"<label>Note / 说明: <input name='note' placeholder='what you did / 处理情况'{disabled}></label> {buttons}</form>")
    return head + search + shown + form


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


def confirmations_section(rows: list[dict] | None) -> str:
    head = "<h2 id='confirmations'>Latest confirmations / 最新发货回传</h2>"
    if rows is None:
        return head + "<p class='muted'>wms_shipment_inbox does not exist yet / 表尚未创建</p>"
    if not rows:
        return head + "<p class='muted'>none received yet / 暂无</p>"
    return head + _table(["Order code / 订单号", "Status / 状态", "Confirm type / 回传类型", "Parcels / 包裹",
                          "Confirmed (Beijing) / 确认时间", "Received (Beijing) / 接收时间", "Where it stands / 处理状态",
                          "Note / 说明"],
                         [[escape(r["delivery_order_code"]), escape(r["status"] or ""), escape(str(r["confirm_type"] or "")),
                           "<br>".join(escape(p) for p in r["parcels"]), bj(r["order_confirm_at"]), bj(r["received_at"]),
                           f"<span class='{'bad' if r['state'] == 'needs_person' else ''}'>{escape(r['state'])}</span>",
                           escape(r["process_error"] or "")] for r in rows])


def inventory_section(run: InventoryRun) -> str:
    head = "<h2 id='inventory'>Last inventory run / 最近一次库存同步</h2>"
    if not run.beijing_date:
        return head + "<p class='muted'>no inventory run yet / 暂无库存同步</p>"
    outcomes = ", ".join(f"{escape(k)} {v}" for k, v in sorted(run.outcomes.items())) or "nothing decided"
    reasons = "; ".join(f"{escape(r)} ({n})" for r, n in run.skipped_reasons)
    rows = [["Beijing day / 日期", f"{run.beijing_date:%Y-%m-%d}"],
            ["Verdict / 结果", f"<span class='{'bad' if run.verdict != 'completed' else 'ok'}'>{escape(run.verdict or '')}</span>"
             + (f"<br><span class='muted'>{escape(run.message or '')[:500]}</span>" if run.verdict != "completed" else "")],
            ["Warehouse snapshot / 仓库快照", f"{run.snapshot_rows} rows, quantity {run.snapshot_quantity}"],
            ["This run's decisions per SKU / 本次逐个商品的决定", outcomes
             + (f"<br><span class='muted'>skipped because / 跳过原因: {reasons}</span>" if reasons else "")],
            ["Run / 运行", run_link(run.run_id, run.dag_id) + f" {bj(run.finished_at)}"]]
    return head + _table(["", ""], rows)


def actions_section(history: list[dict]) -> str:
    head = "<h2 id='history'>What people did / 人工处理记录</h2>"
    if not history:
        return head + "<p class='muted'>nothing yet / 暂无</p>"
    return head + _table(["When (Beijing) / 时间", "Who / 操作人", "Action / 操作", "What / 对象", "Note / 说明", "Run started / 启动的运行"],
                         [[bj(h["acted_at"]), escape(h["actor"]), escape(ACTION_LABELS.get(h["action"], h["action"])),
                           f"{escape(h['category'])}: {escape(h['subject'])}", escape(h["note"] or ""),
                           run_link(h["run_id"], h["dag_id"])] for h in history])


def runs_section(runs: list[dict], bridge_id: str) -> str:
    """Recent runs of every bridge DAG: the run's state (all its bridges) and this bridge's task's."""
    head = "<h2 id='runs'>Recent runs / 最近运行</h2>"
    if not runs:
        return head + "<p class='muted'>no runs yet / 暂无运行</p>"

    def state(value) -> str:
        if value is None:
            return "<span class='muted'>-</span>"
        return f"<span class='{'bad' if value == 'failed' else ''}'>{escape(str(value))}</span>"

    return head + _table(["DAG", "Run / 运行", "Type / 类型", "Run state, all bridges / 运行状态（全部桥接）",
                          f"Bridge {escape(bridge_id)} / 本桥接", "Started (Beijing) / 开始时间"],
                         [[f'<a target="_top" href="/dags/{quote(r["dag_id"])}">{escape(r["dag_id"])}</a>',
                           run_link(r["run_id"], r["dag_id"]), escape(str(r["run_type"])), state(r["state"]),
                           state(r.get("bridge_state")), bj(r["start_date"])] for r in runs],
                         attrs=[f"data-run='{escape(r['run_id'])}' data-bridge-state='{escape(str(r.get('bridge_state') or ''))}'"
                                for r in runs])


def page(*, generated: datetime, store: str, user: str, sections: list[str]) -> str:
    nav = " · ".join(f"<a href='#{a}'>{t}</a>" for a, t in (
        ("now", "Now / 现在"), ("waiting", "Waiting / 待处理"), ("states", "States / 状态"),
        ("confirmations", "Confirmations / 回传"), ("inventory", "Inventory / 库存"), ("history", "Done / 处理记录"),
        ("runs", "Runs / 运行")))
    return (f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>WMS bridge / 仓库对接</title>"
            f"<style>{STYLE}</style></head><body><h1>WMS bridge operations / 仓库对接运营</h1>"
            f"<p class='muted'>Store / 数据库: {escape(store)} · {escape(user)} · generated / 生成于 {bj(generated)} "
            f"(Beijing / 北京时间) · {nav} · <a href='runbook'>runbook / 处理手册</a></p>{''.join(sections)}</body></html>")
