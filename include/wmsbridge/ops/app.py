"""The operations page's FastAPI app, mounted in Airflow's api-server by ``wmsbridge.ops.plugin``.

Behind Airflow's login: every route depends on ``airflow.api_fastapi.core_api.security.get_user``,
which accepts the UI's session cookie (the page opens in an iframe of Airflow's UI, same origin) or
a bearer token, and answers 401 otherwise. Reading is for every logged-in user; acting (marking
handled, sending or applying again, writing a stored snapshot) only for users Airflow lets trigger
the DAG the act starts (the simple auth manager: ``user`` and above, never ``viewer``). Every act
is a conditional change of the store plus a row in ``wms_person_action``, and, where it needs a
run, a manual DAG run started now; forms carry a token bound to the user (no cross-site posts).

One page shows one bridge (``?bridge=<id>``; default: ``default``, else the first configured): its
store, its shop, its records. Two shops may hold the same order code, so every form carries the
bridge, an act changes that bridge's record only, and the run it starts serves that bridge only
(``bridge`` in the run's conf). With several bridges a table shows each one's total.
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


class UnknownBridge(LookupError):
    """A ``bridge`` the configuration does not name (a stale link, a typo): a 400 naming the others."""

    def __init__(self, bridge_id: str, configured: list[str]) -> None:
        super().__init__(f"unknown bridge {bridge_id!r}; configured: {', '.join(configured)}")
        self.bridge_id, self.configured = bridge_id, configured


def select_bridge(bridge_id: str = ""):
    """The deployment and the bridge asked for; none asked: ``default`` if configured, else the
    first (the page always shows one bridge, never a guess between shops' equal codes)."""
    from wmsbridge.config import load_deployment

    deployment = load_deployment()
    if bridge_id and bridge_id not in deployment.bridges:
        raise UnknownBridge(bridge_id, list(deployment.bridges))
    if bridge_id:
        return deployment, deployment.bridges[bridge_id]
    return deployment, deployment.primary


def store_engine(config=None):
    """A bridge's store engine (default: the page's default bridge), a printable name (no
    password) and its settings, as the DAGs find them."""
    from wmsbridge.connections import engine_for_conn_id

    if config is None:
        _deployment, config = select_bridge()
    conn_id = queries.store_conn_id(config)
    engine = engine_for_conn_id(conn_id)
    return engine, f"{conn_id} ({engine.url.render_as_string(hide_password=True)})", config


def bridge_totals(deployment) -> list[queries.BridgeTotal]:
    """Every bridge's total waiting for a person, each store connection read once."""
    from wmsbridge.connections import engine_for_conn_id

    return queries.bridge_totals(deployment.bridges.values(), engine_for_conn_id)


def shop_and_reader(config):
    """The shop's engine and reader, or (None, None) when they cannot be built (the page says so)."""
    try:
        from wmsbridge.connections import engine_for_conn_id
        from wmsbridge.shop.reader import ShopReader

        return engine_for_conn_id(config.shop_conn_id), ShopReader(config.profile)
    except Exception as err:  # noqa: BLE001 - a config mistake: the backlog says the shop could not be read
        log.warning("operations page: the shop cannot be read: %s", err)
        return None, None


def airflow_state(bridge_id: str) -> tuple[dict[str, bool | None], dict[str, dict], list[dict]]:
    """From Airflow's metadata: which bridge DAGs are paused, each DAG's latest run, recent runs.

    A run serves every bridge (one mapped flow task each, its map index named by the bridge id), so
    a run's state is not this bridge's: each run also carries ``bridge_state``, the state of this
    bridge's own task in it (None when the run has not mapped it yet), and a DAG's last state is
    that task's when there is one."""
    import sqlalchemy as sa

    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    started = sa.func.coalesce(DagRun.start_date, DagRun.queued_at).desc()
    with create_session() as session:
        paused = dict(session.execute(sa.select(DagModel.dag_id, DagModel.is_paused)
                                      .where(DagModel.dag_id.like(f"{DAG_PREFIX}%"))).all())
        recent = [dict(r._mapping) for r in session.execute(
            sa.select(DagRun.dag_id, DagRun.run_id, DagRun.run_type, DagRun.state, DagRun.start_date)
            .where(DagRun.dag_id.like(f"{DAG_PREFIX}%")).order_by(started).limit(RECENT_RUNS))]
        latest = {}
        for dag_id in SCHEDULED_DAGS.values():
            row = session.execute(sa.select(DagRun.dag_id, DagRun.run_id, DagRun.state)
                                  .where(DagRun.dag_id == dag_id).order_by(started).limit(1)).first()
            latest[dag_id] = dict(row._mapping) if row else {}
        runs = [r for r in (*recent, *latest.values()) if r]
        flow_tasks = session.execute(sa.select(
            TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.rendered_map_index, TaskInstance.state)
            .where(TaskInstance.task_id != "bridges",  # the task that reads which bridges to serve
                   sa.tuple_(TaskInstance.dag_id, TaskInstance.run_id).in_(
                       sorted({(r["dag_id"], r["run_id"]) for r in runs})))).all() if runs else []

    def states(run: dict, bridge: str | None = None) -> list[str | None]:
        return [t.state for t in flow_tasks if (t.dag_id, t.run_id) == (run["dag_id"], run["run_id"])
                and (bridge is None or t.rendered_map_index == bridge)]

    for run in runs:
        run["bridge_state"] = next(iter(states(run, bridge_id)), None)
    for run in latest.values():
        if run and run["bridge_state"]:
            run["state"] = run["bridge_state"]
        if run and (run["state"] == "skipped" or (run["state"] == "success" and set(states(run)) == {"skipped"})):
            run["state"] = "skipped: did nothing / 已跳过"  # Airflow calls a run whose every task skipped a success
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


def _conf(action: str, category: attention.Category, done: list[str], bridge_id: str) -> dict:
    """The started run's conf: what it does, and for which bridge only (another shop may hold the
    same codes, and must not be run for a person's act on this one)."""
    return {**_work(action, category, done), "bridge": bridge_id}


def _work(action: str, category: attention.Category, done: list[str]) -> dict:
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
               bridge: str = Query("", max_length=50), user=Depends(get_user)) -> HTMLResponse:
    now = datetime.now(timezone.utc)
    name = _user_name(user)
    try:
        deployment, config = select_bridge(bridge)
        engine, store_name, config = store_engine(config)
        tables = queries.present_tables(engine)
    except UnknownBridge as err:
        return HTMLResponse(page.page(generated=now, store="?", user=name, sections=[
            page.unknown_bridge_section(err.bridge_id, err.configured)]), status_code=400)
    except Exception as err:  # noqa: BLE001 - a config or connection mistake: shown to the operator, named
        body = (f"<h2>The store cannot be read / 无法读取数据库</h2><p class='bad'>{type(err).__name__}: "
                f"{page.escape(str(err))}</p><p>Check the shop_db connection and the wms_bridge_config Variable.</p>")
        return HTMLResponse(page.page(generated=now, store="?", user=name, sections=[body]), status_code=503)
    if "wms_person_action" not in tables:
        body = ("<p class='bad'>The store is not at this code's revision: run <code>make migrate</code> (or "
                "<code>python -m wmsbridge.store upgrade</code>). / 数据库版本过旧，请先迁移。</p>")
        return HTMLResponse(page.page(generated=now, store=store_name, user=name, sections=[body]), status_code=503)

    paused, latest, recent = airflow_state(config.bridge_id)
    flows = [{"flow": flow, "dag_id": dag_id, "live": config.is_live(flow), "paused": paused.get(dag_id),
              "last_run_id": latest[dag_id].get("run_id"), "last_state": latest[dag_id].get("state")}
             for flow, dag_id in SCHEDULED_DAGS.items()]
    may_act = may_trigger(user, "wms_order_push_manual")
    shop, reader = shop_and_reader(config)
    bridge_id, keep = config.bridge_id, {"q": q, "focus": focus}
    enabled = {b: cfg.enabled for b, cfg in deployment.bridges.items()}
    sections = [
        page.bridge_bar(enabled, bridge_id, keep),
        page.flash_section(done) + page.flash_section(error, error=True),
        "" if deployment.single else page.bridges_section(bridge_totals(deployment), bridge_id, keep),
        page.now_section(queries.backlog(engine, shop, reader, now=now, bridge_id=bridge_id), flows, now),
        page.waiting_section(queries.waiting(engine, text=q, focus=focus or None, bridge_id=bridge_id), now=now,
                             may_act=may_act, csrf=form_token(user), text=q, focus=focus or None, bridge=bridge_id),
        page.states_section(queries.orders_by_state(engine, queries.beijing_today(now), bridge_id=bridge_id),
                            queries.all_states(engine, bridge_id=bridge_id)),
        page.confirmations_section(queries.latest_confirmations(engine, bridge_id=bridge_id)),
        page.inventory_section(queries.last_inventory_run(engine, tables, bridge_id=bridge_id)),
        page.actions_section(queries.recent_actions(engine, bridge_id=bridge_id)),
        page.runs_section(recent, bridge_id),
    ]
    return HTMLResponse(page.page(generated=now, store=store_name, user=name, sections=sections))


@app.post("/act")
def act(action: str = Form(...), category: str = Form(...), subject: list[str] = Form(default=[]),
        note: str = Form("", max_length=2000), csrf: str = Form(""), bridge: str = Form("", max_length=50),
        user=Depends(get_user)):
    """One act of a person on records of one category of one bridge (the form's, else the default
    one); back to that bridge's page, saying what happened."""
    try:
        cat = attention.category(category)
        _deployment, config = select_bridge(bridge)
    except (KeyError, UnknownBridge) as err:
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
        return _back(cat.key, config.bridge_id, error="nothing ticked / 未选择任何记录")
    engine, _name, config = store_engine(config)
    started: dict = {}

    def start(done: list[str]) -> tuple[str, str] | None:
        run_dag = _started_dag(action, cat)
        if run_dag is None or not done:
            return None
        started["run_id"], started["paused"] = start_run(run_dag, _conf(action, cat, done, config.bridge_id), user,
                                                         note)
        started["dag_id"] = run_dag
        return run_dag, started["run_id"]

    result = PersonActions(engine, bridge_id=config.bridge_id).act(action, cat.key, subject, actor=_user_name(user),
                                                                   note=note or None, start=start)
    message = result.describe()
    if started:
        message += f"; started {started['dag_id']} run {started['run_id']}"
        if started["paused"]:
            message += f" (the DAG is paused in Airflow: unpause {started['dag_id']} for it to run)"
    return _back(cat.key, config.bridge_id, done=message)


def _back(anchor: str, bridge_id: str, **flash) -> RedirectResponse:
    """Back to the page of the bridge acted on, at the category, with what happened."""
    return RedirectResponse(f"./?{urlencode({'bridge': bridge_id, **flash})}#{anchor}", status_code=303)


@app.get("/waiting.csv")
def waiting_csv(category: str = Query(..., max_length=50), q: str = Query("", max_length=200),
                bridge: str = Query("", max_length=50)):
    """One category's records of one bridge (the default one unless named), all of them."""
    try:
        deployment, config = select_bridge(bridge)
        engine, _name, config = store_engine(config)
        rows = attention.rows(engine, category, text=q, limit=None, bridge_id=config.bridge_id)
    except (KeyError, UnknownBridge) as err:
        return PlainTextResponse(str(err), status_code=400)
    except Exception as err:  # noqa: BLE001
        return PlainTextResponse(f"the store cannot be read: {err}", status_code=503)
    out = io.StringIO()
    out.write("\ufeff")  # a BOM, so that Excel opens the Chinese text as UTF-8
    writer = csv.writer(out)
    writer.writerow(["category", "subject", "detail", "state", "reason", "since_beijing", "dag_id", "run_id",
                     "bridge_id"])
    for r in rows:
        writer.writerow([r["category"], r["subject"], r["detail"] or "", r["state"] or "", r["reason"] or "",
                         page.bj(r["since"]), r["dag_id"] or "", r["run_id"] or "", r["bridge_id"]])
    stamp = queries.beijing_today().strftime("%Y%m%d")
    named = "" if deployment.single else f"{config.bridge_id}-"  # files of two shops never take one name
    return StreamingResponse(iter([out.getvalue().encode("utf-8")]), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{named}{category}-{stamp}.csv"'})


@app.get("/rejected.csv")
def rejected_csv(q: str = Query("", max_length=200), bridge: str = Query("", max_length=50)):
    """The rejected orders (kept for bookmarks: waiting.csv?category=orders_rejected)."""
    return waiting_csv(category="orders_rejected", q=q, bridge=bridge)


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
