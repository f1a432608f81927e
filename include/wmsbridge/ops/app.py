"""The operations page's FastAPI app, mounted in Airflow's api-server by ``wmsbridge.ops.plugin``.

Behind Airflow's login: every route depends on ``airflow.api_fastapi.core_api.security.get_user``,
which accepts the UI's session cookie (the page opens in an iframe of Airflow's UI, same origin) or
a bearer token, and answers 401 otherwise. Read-only: the store is reached the way the DAGs reach it
(the ``wms_bridge_config`` Variable names the connection), and only SELECTs are sent.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from fastapi import Depends, FastAPI, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, StreamingResponse

from airflow.api_fastapi.core_api.security import get_user

from . import page, queries

DAG_PREFIX = "wms_"
RECENT_RUNS = 15

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


def airflow_runs(run_ids: set[str]) -> tuple[dict[str, str], list[dict]]:
    """From Airflow's metadata: the DAG of each run id, and the latest runs of the bridge's DAGs."""
    import sqlalchemy as sa

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        dag_ids = {}
        ids = sorted(i for i in run_ids if i)
        for start in range(0, len(ids), 500):
            dag_ids.update({r.run_id: r.dag_id for r in session.execute(
                sa.select(DagRun.run_id, DagRun.dag_id).where(DagRun.run_id.in_(ids[start:start + 500])))})
        recent = [dict(r._mapping) for r in session.execute(
            sa.select(DagRun.dag_id, DagRun.run_id, DagRun.run_type, DagRun.state, DagRun.start_date)
            .where(DagRun.dag_id.like(f"{DAG_PREFIX}%"))
            .order_by(sa.func.coalesce(DagRun.start_date, DagRun.queued_at).desc()).limit(RECENT_RUNS))]
    return dag_ids, recent


@app.get("/", response_class=HTMLResponse)
def operations(q: str = Query("", max_length=200)) -> HTMLResponse:
    now = datetime.now(timezone.utc)
    try:
        engine, name, config = store_engine()
        tables = queries.present_tables(engine)
    except Exception as err:  # noqa: BLE001 - a config or connection mistake: shown to the operator, named
        body = (f"<h2>The store cannot be read / 无法读取数据库</h2><p class='bad'>{type(err).__name__}: "
                f"{page.escape(str(err))}</p><p>Check the shop_db connection and the wms_bridge_config Variable.</p>")
        return HTMLResponse(page.page(generated=now, store="?", sections=[body]), status_code=503)
    if "wms_order_sync" not in tables:
        body = "<p class='bad'>The store has no wms_order_sync table: run a DAG (or migrate the store) first.</p>"
        return HTMLResponse(page.page(generated=now, store=name, sections=[body]))

    today = queries.beijing_today(now)
    days = queries.orders_by_state(engine, today)
    total, rejected = queries.rejected_orders(engine, q)
    waiting = queries.waiting_for_a_person(engine, tables, stale_minutes=config.sending_stale_minutes, now=now)
    confirmations = queries.latest_confirmations(engine) if "wms_shipment_inbox" in tables else None
    inventory = queries.last_inventory_run(engine, tables)
    run_ids = {r.run_id for r in rejected} | {row.get("run_id") for w in waiting for row in w.rows}
    run_ids |= {inventory.snapshot_run_id, inventory.writeback_run_id}
    dag_ids, recent = airflow_runs({r for r in run_ids if r})
    sections = [
        page.waiting_section(waiting, dag_ids),
        page.states_section(days, queries.all_states(engine)),
        page.rejected_section(total, rejected, q, dag_ids),
        page.confirmations_section(confirmations),
        page.inventory_section(inventory, dag_ids),
        page.runs_section(recent),
    ]
    return HTMLResponse(page.page(generated=now, store=name, sections=sections))


@app.get("/rejected.csv")
def rejected_csv(q: str = Query("", max_length=200)):
    try:
        engine, _name, _config = store_engine()
    except Exception as err:  # noqa: BLE001
        return PlainTextResponse(f"the store cannot be read: {err}", status_code=503)
    _total, rows = queries.rejected_orders(engine, q, limit=None)
    out = io.StringIO()
    out.write("\ufeff")  # a BOM, so that Excel opens the Chinese text as UTF-8
    writer = csv.writer(out)
    writer.writerow(["delivery_order_code", "shop_order_id", "paid_at_beijing", "reasons", "run_id"])
    for r in rows:
        writer.writerow([r.code, r.shop_order_id, page.bj(r.paid_at), " | ".join(r.reasons), r.run_id or ""])
    stamp = queries.beijing_today().strftime("%Y%m%d")
    return StreamingResponse(iter([out.getvalue().encode("utf-8")]), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="rejected-orders-{stamp}.csv"'})
