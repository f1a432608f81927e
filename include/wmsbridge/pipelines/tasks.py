"""What each DAG's task does: one function per task, called from the DAG file with no arguments.

Every flow task serves one bridge (``bridge_id``: a task mapped over ``bridges()``). DAG files only
wire; everything a task reads (its run, from Airflow's context unless a test passes
a ``TaskRun``, and the trigger form) is read here, inside ``run_flow``: a wrong form value fails the
task at once, without retries, naming the field, and a scheduled run of a flow that is not ``live``
does nothing. ``tests/dags`` checks that every task of every DAG is a call of one of these.
"""

from __future__ import annotations

from .policy import TaskRun, bridges_to_serve, config_errors_fail_fast, run_flow


def bridges(run: TaskRun | None = None) -> list[str]:
    """Every DAG's first task: the bridges this run serves (each flow task is mapped over them)."""
    return bridges_to_serve(run)


def item_sync(run: TaskRun | None = None, bridge_id: str | None = None) -> dict:
    """wms_item_sync: SKUs changed since the store's cursor."""
    from .items import sync_items

    return run_flow("items", lambda run: sync_items(run.bridge(), use_cursor=True, dry_run=False), run=run,
                    bridge_id=bridge_id)


def item_sync_manual(run: TaskRun | None = None, bridge_id: str | None = None) -> dict:
    """wms_item_sync_manual: every SKU (unchanged ones cost a hash), or a preview."""
    from .items import sync_items

    return run_flow("items", lambda run: sync_items(run.bridge(), since_utc=None, dry_run=_flag(run, "dry_run")),
                    run=run, bridge_id=bridge_id)


def order_push(run: TaskRun | None = None, bridge_id: str | None = None) -> dict:
    """wms_order_push: every paid order the warehouse does not have; a backfill: its data interval."""
    from .orders import push_orders
    from .windows import order_window

    def work(run: TaskRun):
        # a conf given through the API or the dialog's JSON is honoured, checked like the form's
        window = order_window(run.run_type, run.params, run.interval_start, run.interval_end)
        print(f"orders: {window.describe()}")
        return push_orders(run.bridge(), paid_from_utc=window.paid_from_utc, paid_to_utc=window.paid_to_utc,
                           order_codes=window.order_codes)

    return run_flow("orders", work, run=run, bridge_id=bridge_id)


def order_push_manual(run: TaskRun | None = None, bridge_id: str | None = None) -> dict:
    """wms_order_push_manual: a preview, given orders, or the orders paid on given Beijing days."""
    from .orders import push_orders
    from .windows import manual_window

    def work(run: TaskRun):
        window = manual_window(run.params)
        dry_run = _flag(run, "dry_run")
        print(f"orders: {window.describe()}{' (dry run: nothing is sent)' if dry_run else ''}")
        return push_orders(run.bridge(), paid_from_utc=window.paid_from_utc, paid_to_utc=window.paid_to_utc,
                           order_codes=window.order_codes, force=_flag(run, "force"), dry_run=dry_run,
                           limit=run.params.get("limit"))

    return run_flow("orders", work, run=run, bridge_id=bridge_id)


def order_cancel(run: TaskRun | None = None, bridge_id: str | None = None) -> dict:
    """wms_order_cancel: shop changes since the last successful run, and unfinished cancels."""
    from .cancels import cancel_orders, cancel_window

    def work(run: TaskRun):
        window = cancel_window(run.run_type, run.params, run.interval_start, run.interval_end, run.last_success)
        print(f"cancels: {window.describe()}")
        return cancel_orders(run.bridge(), changed_from_utc=window.changed_from_utc,
                             changed_to_utc=window.changed_to_utc, order_codes=window.order_codes,
                             sweep=window.sweep)

    return run_flow("cancels", work, run=run, bridge_id=bridge_id)


def order_cancel_manual(run: TaskRun | None = None, bridge_id: str | None = None) -> dict:
    """wms_order_cancel_manual: a preview, given orders, or a change window."""
    from .cancels import cancel_orders, cancel_window

    def work(run: TaskRun):
        window = cancel_window("manual", run.params)
        print(f"cancels: {window.describe()}")
        return cancel_orders(run.bridge(), changed_from_utc=window.changed_from_utc,
                             changed_to_utc=window.changed_to_utc, order_codes=window.order_codes,
                             sweep=window.sweep, dry_run=_flag(run, "dry_run"))

    return run_flow("cancels", work, run=run, bridge_id=bridge_id)


def shipments(run: TaskRun | None = None, bridge_id: str | None = None) -> dict:
    """wms_shipments: the confirmations the receiver stored -> the shop."""
    from .shipments import apply_shipments

    return run_flow("shipments", lambda run: apply_shipments(run.bridge()), run=run, bridge_id=bridge_id)


def returns(run: TaskRun | None = None, bridge_id: str | None = None) -> dict:
    """wms_returns: approved returns announced, received ones applied, refunds settled."""
    from .returns import sync_returns

    return run_flow("returns", lambda run: sync_returns(run.bridge()), run=run, bridge_id=bridge_id)


def stock_changes(run: TaskRun | None = None, bridge_id: str | None = None) -> dict:
    """wms_stock_changes: the warehouse's stockchange.report -> the shop's stock."""
    from .stock_changes import apply_stock_changes

    return run_flow("inventory", lambda run: apply_stock_changes(run.bridge()), run=run, bridge_id=bridge_id)


def inventory_sync(run: TaskRun | None = None, bridge_id: str | None = None) -> dict:
    """wms_inventory_sync: the day's stock, once per Beijing day."""
    from .inventory import sync_inventory

    return run_flow("inventory", lambda run: sync_inventory(run.bridge()), run=run, bridge_id=bridge_id)


def inventory_sync_manual(run: TaskRun | None = None, bridge_id: str | None = None) -> dict:
    """wms_inventory_sync_manual: the day's stock on demand, from the stored snapshot, or forced."""
    from .inventory import GuardLimits, sync_inventory

    def work(run: TaskRun):
        limits = GuardLimits.from_form(run.params, run.config)
        return sync_inventory(run.bridge(), force=_flag(run, "force"), from_snapshot=_flag(run, "from_snapshot"),
                              limits=limits)

    return run_flow("inventory", work, run=run, bridge_id=bridge_id)


def connection_check() -> str:
    """wms_connection_check: one request proves address, signature and customerId."""
    from airflow.sdk.exceptions import AirflowFailException
    from qimen_provider.hooks.qimen import QimenHook

    from wmsbridge.config import load_config
    from wmsbridge.errors import ConfigError

    with config_errors_fail_fast():
        params = TaskRun.current().params
        conn_id, probe = params.get("qimen_conn_id") or "qimen_default", params.get("probe") or "cheap"
        hook = QimenHook(qimen_conn_id=conn_id, answer_rules=load_config().rules())
        try:
            settings = hook.settings
        except Exception as err:  # noqa: BLE001 - a missing or malformed connection, named
            raise ConfigError(f"warehouse connection {conn_id!r} cannot be read: {err}") from err
        print(f"checking {conn_id!r}: {settings.base_url} customerId={settings.customer_id or '-'} "
              f"warehouseCode={settings.warehouse_code or '-'} ownerCode={settings.owner_code or '-'} probe={probe}")
        ok, message = hook.test_connection(probe=probe)
    if not ok:  # a wrong setting or a busy warehouse: retrying at once would not help
        raise AirflowFailException(f"warehouse connection {conn_id!r} failed: {message}")
    print(f"OK: {message}")
    return message


def _flag(run: TaskRun, name: str) -> bool:
    """A boolean of the trigger form (the form enforces the type; a scripted conf may not)."""
    from .windows import TriggerFormError

    value = run.params.get(name, False)
    if not isinstance(value, bool):
        raise TriggerFormError(f"{name}: {value!r} is not true or false")
    return value
