"""The operations page's FastAPI app, mounted in Airflow's api-server by ``wmsbridge.ops.plugin``.

Behind Airflow's login: every route depends on ``airflow.api_fastapi.core_api.security.get_user``,
which accepts the UI's session cookie (the page opens in an iframe of Airflow's UI, same origin) or
a bearer token, and answers 401 otherwise. Reading is for every logged-in user; acting (marking
handled, sending or applying again, writing a stored snapshot) only for users Airflow lets trigger
the DAG the act starts (the simple auth manager: ``user`` and above, never ``viewer``). Every act
is a conditional change of the store plus a row in ``wms_person_action``, and, where it needs a
run, a manual DAG run started now; forms carry a token bound to the user (no cross-site posts).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import secrets
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, StreamingResponse

from airflow.api_fastapi.core_api.security import get_user

from wmsbridge.store import attention
from wmsbridge.store.actions import PersonActions

from . import page, queries

log = logging.getLogger(__name__)
DAG_PREFIX = "wms_"
RECENT_RUNS = 15
SCHEDULED_DAGS = {"items": "wms_item_sync", "orders": "wms_order_push", "cancels": "wms_order_cancel",
                  "shipments": "wms_shipments", "inventory": "wms_inventory_sync", "returns": "wms_returns"}
RUNBOOK = Path(__file__).resolve().parents[3] / "docs" / "operations.md"

app = FastAPI(title="WMS bridge operations", docs_url=None, redoc_url=None, openapi_url=None,
              dependencies=[Depends(get_user)])


def store_engine():
    """The integration store's engine and a printable name (no password), as the DAGs find it."""
    from wmsbridge.config import load_config
    from wmsbridge.connections import engine_for_conn_id

    config = load_config()
    conn_id = config.store_conn_id or config.shop_conn_id
    engine = engine_for_conn_id(conn_id)
    return engine, f"{conn_id} ({engine.url.render_as_string(hide_password=True)})", config


def shop_and_reader(config):
    """The shop's engine and reader, or (None, None) when they cannot be built (the page says so)."""
    try:
        from wmsbridge.connections import engine_for_conn_id
        from wmsbridge.shop.reader import ShopReader

        return engine_for_conn_id(config.shop_conn_id), ShopReader(config.profile)
    except Exception as err:  # noqa: BLE001 - a config mistake: the backlog says the shop could not be read
        log.warning("operations page: the shop cannot be read: %s", err)
        return None, None


def airflow_state() -> tuple[dict[str, bool | None], dict[str, dict], list[dict]]:
    """From Airflow's metadata: which bridge DAGs are paused, each DAG's latest run, recent runs."""
    import sqlalchemy as sa

    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        paused = dict(session.execute(sa.select(DagModel.dag_id, DagModel.is_paused)
                                      .where(DagModel.dag_id.like(f"{DAG_PREFIX}%"))).all())
        recent = [dict(r._mapping) for r in session.execute(
            sa.select(DagRun.dag_id, DagRun.run_id, DagRun.run_type, DagRun.state, DagRun.start_date)
            .where(DagRun.dag_id.like(f"{DAG_PREFIX}%"))
            .order_by(sa.func.coalesce(DagRun.start_date, DagRun.queued_at).desc()).limit(RECENT_RUNS))]
        latest = {}
        for dag_id in SCHEDULED_DAGS.values():
            row = session.execute(sa.select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == dag_id)
                                  .order_by(sa.func.coalesce(DagRun.start_date, DagRun.queued_at).desc())
                                  .limit(1)).first()
            latest[dag_id] = dict(row._mapping) if row else {}
            if row and row.state == "success":  # Airflow calls a run whose every task skipped a success
                states = set(session.scalars(sa.select(TaskInstance.state).where(
                    TaskInstance.dag_id == dag_id, TaskInstance.run_id == row.run_id)))
                if states == {"skipped"}:
                    latest[dag_id]["state"] = "skipped: did nothing / 已跳过"
    return paused, latest, recent


# -- who may act ---------------------------------------------------------------------------------------


def _started_dag(action: str, category: attention.Category) -> str | None:
    """The DAG an act starts a run of (None: the act changes the store only)."""
    if action == "send_again":
        return {"orders": "wms_order_push_manual", "cancels": "wms_order_cancel_manual",
                "items": "wms_item_sync_manual"}[category.flow]
    return {"apply_again": "wms_shipments", "write_snapshot": "wms_inventory_sync_manual"}.get(action)


def may_trigger(user, dag_id: str) -> bool:
    """Whether Airflow lets ``user`` start runs of ``dag_id`` (the permission every act needs)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    return get_auth_manager().is_authorized_dag(method="POST", access_entity=DagAccessEntity.RUN,
                                                details=DagDetails(id=dag_id), user=user)


def _user_name(user) -> str:
    return str(getattr(user, "get_name", lambda: None)() or getattr(user, "username", None) or "unknown")


_SECRET = secrets.token_bytes(32)  # per api-server process: a form older than a restart is refused


def form_token(user) -> str:
    """A token bound to the user: a form posted from anywhere but this page carries none."""
    return hmac.new(_SECRET, _user_name(user).encode("utf-8"), hashlib.sha256).hexdigest()


def _conf(action: str, category: attention.Category, done: list[str]) -> dict:
    if action == "send_again" and category.flow in ("orders", "cancels"):
        return {"order_codes": done, "dry_run": False}
    if action == "send_again":
        return {"dry_run": False}
    if action == "write_snapshot":  # a person checked the answer: written as it is, no guard rail
        return {"from_snapshot": True, "max_missing_pct": 100, "max_zeroed_pct": 100, "max_total_change_pct": 1e9}
    return {}


def start_run(dag_id: str, conf: dict, user, note: str | None) -> tuple[str, bool]:
    """A manual run of ``dag_id`` now; its run id, and whether the DAG is paused (the run waits)."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType

    run = trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.UI, conf=conf, triggering_user_name=_user_name(user),
                      note=(f"WMS bridge page: {note}" if note else "WMS bridge page")[:1000])
    with create_session() as session:
        paused = bool(session.get(DagModel, dag_id).is_paused)
    return run.run_id, paused


# -- routes ----------------------------------------------------------------------------------------


@app.get("/", response_class=HTMLResponse)
def operations(request: Request, q: str = Query("", max_length=200), focus: str = Query("", max_length=50),
               done: str = Query("", max_length=2000), error: str = Query("", max_length=2000),
               user=Depends(get_user)) -> HTMLResponse:
    now = datetime.now(timezone.utc)
    name = _user_name(user)
    try:
        engine, store_name, config = store_engine()
        tables = queries.present_tables(engine)
    except Exception as err:  # noqa: BLE001 - a config or connection mistake: shown to the operator, named
        body = (f"<h2>The store cannot be read / 无法读取数据库</h2><p class='bad'>{type(err).__name__}: "
                f"{page.escape(str(err))}</p><p>Check the shop_db connection and the wms_bridge_config Variable.</p>")
        return HTMLResponse(page.page(generated=now, store="?", user=name, sections=[body]), status_code=503)
    if "wms_person_action" not in tables:
        body = ("<p class='bad'>The store is not at this code's revision: run <code>make migrate</code> (or "
                "<code>python -m wmsbridge.store upgrade</code>). / 数据库版本过旧，请先迁移。</p>")
        return HTMLResponse(page.page(generated=now, store=store_name, user=name, sections=[body]), status_code=503)

    paused, latest, recent = airflow_state()
    flows = [{"flow": flow, "dag_id": dag_id, "live": config.is_live(flow), "paused": paused.get(dag_id),
              "last_run_id": latest[dag_id].get("run_id"), "last_state": latest[dag_id].get("state")}
             for flow, dag_id in SCHEDULED_DAGS.items()]
    may_act = may_trigger(user, "wms_order_push_manual")
    shop, reader = shop_and_reader(config)
    sections = [
        page.flash_section(done) + page.flash_section(error, error=True),
        page.now_section(queries.backlog(engine, shop, reader, now=now), flows, now),
        page.waiting_section(queries.waiting(engine, text=q, focus=focus or None), now=now, may_act=may_act,
                             csrf=form_token(user), text=q, focus=focus or None),
        page.states_section(queries.orders_by_state(engine, queries.beijing_today(now)), queries.all_states(engine)),
        page.confirmations_section(queries.latest_confirmations(engine)),
        page.inventory_section(queries.last_inventory_run(engine, tables)),
        page.actions_section(queries.recent_actions(engine)),
        page.runs_section(recent),
    ]
    return HTMLResponse(page.page(generated=now, store=store_name, user=name, sections=sections))


@app.post("/act")
def act(action: str = Form(...), category: str = Form(...), subject: list[str] = Form(default=[]),
        note: str = Form("", max_length=2000), csrf: str = Form(""), user=Depends(get_user)):
    """One act of a person on records of one category; back to the page, saying what happened."""
    try:
        cat = attention.category(category)
    except KeyError as err:
        return PlainTextResponse(str(err), status_code=400)
    if not hmac.compare_digest(csrf, form_token(user)):
        return PlainTextResponse("the form is out of date or not from this page: reload it", status_code=403)
    dag_id = _started_dag(action, cat) or SCHEDULED_DAGS[cat.flow]
    if action not in cat.actions:
        return PlainTextResponse(f"{action!r} is not an action for {cat.key}", status_code=400)
    if not may_trigger(user, dag_id):
        return PlainTextResponse(f"{_user_name(user)} may not start runs of {dag_id}: acting needs that "
                                 "permission in Airflow / 无权限", status_code=403)
    if not subject:
        return _back(cat.key, error="nothing ticked / 未选择任何记录")
    engine, _name, _config = store_engine()
    started: dict = {}

    def start(done: list[str]) -> tuple[str, str] | None:
        run_dag = _started_dag(action, cat)
        if run_dag is None or not done:
            return None
        started["run_id"], started["paused"] = start_run(run_dag, _conf(action, cat, done), user, note)
        started["dag_id"] = run_dag
        return run_dag, started["run_id"]

    result = PersonActions(engine).act(action, cat.key, subject, actor=_user_name(user), note=note or None,
                                       start=start)
    message = result.describe()
    if started:
        message += f"; started {started['dag_id']} run {started['run_id']}"
        if started["paused"]:
            message += f" (the DAG is paused in Airflow: unpause {started['dag_id']} for it to run)"
    return _back(cat.key, done=message)


def _back(anchor: str, **flash) -> RedirectResponse:
    return RedirectResponse(f"./?{urlencode(flash)}#{anchor}", status_code=303)


@app.get("/waiting.csv")
def waiting_csv(category: str = Query(..., max_length=50), q: str = Query("", max_length=200)):
    try:
        engine, _name, _config = store_engine()
        rows = attention.rows(engine, category, text=q, limit=None)
    except KeyError as err:
        return PlainTextResponse(str(err), status_code=400)
    except Exception as err:  # noqa: BLE001
        return PlainTextResponse(f"the store cannot be read: {err}", status_code=503)
    out = io.StringIO()
    out.write("\ufeff")  # a BOM, so that Excel opens the Chinese text as UTF-8
    writer = csv.writer(out)
    writer.writerow(["category", "subject", "detail", "state", "reason", "since_beijing", "dag_id", "run_id"])
    for r in rows:
        writer.writerow([r["category"], r["subject"], r["detail"] or "", r["state"] or "", r["reason"] or "",
                         page.bj(r["since"]), r["dag_id"] or "", r["run_id"] or ""])
    stamp = queries.beijing_today().strftime("%Y%m%d")
    return StreamingResponse(iter([out.getvalue().encode("utf-8")]), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{category}-{stamp}.csv"'})


@app.get("/rejected.csv")
def rejected_csv(q: str = Query("", max_length=200)):
    """The rejected orders (kept for bookmarks: waiting.csv?category=orders_rejected)."""
    return waiting_csv(category="orders_rejected", q=q)


@app.get("/runbook", response_class=HTMLResponse)
def runbook() -> HTMLResponse:
    """docs/operations.md, with an anchor per section (the page's runbook links)."""
    from markdown_it import MarkdownIt

    if not RUNBOOK.exists():
        return HTMLResponse("<p>The runbook is docs/operations.md in the bridge's repository.</p>", status_code=404)
    html = MarkdownIt("commonmark").enable("table").render(RUNBOOK.read_text(encoding="utf-8"))
    return HTMLResponse(f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>Runbook / 处理手册"
                        f"</title><style>{page.STYLE}</style></head><body><p><a href='./'>← WMS bridge</a></p>"
                        f"{_anchored(html)}</body></html>")


def _anchored(html: str) -> str:
    """Give every heading the GitHub-style id of its text, as the page's links expect."""
    import re

    def slug(text: str) -> str:
        text = re.sub(r"<[^>]+>", "", text).strip().lower()
        return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")

    return re.sub(r"<h([1-6])>(.*?)</h\1>", lambda m: f"<h{m[1]} id='{slug(m[2])}'>{m[2]}</h{m[1]}>", html)
