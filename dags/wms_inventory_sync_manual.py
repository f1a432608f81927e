"""The daily stock sync on demand (`inventory.query`), e.g. to re-run today's after a fix.

No schedule, so triggering it never starts anything else. Without options it keeps the once-a-day
rule like the scheduled `wms_inventory_sync` (a second full sync for the same Beijing day is
refused and says so). After a guard rail refused the day's write-back and a person checked the
warehouse's answer: `from_snapshot` writes the stored snapshot without asking the warehouse again,
with that guard rail raised for this run. `force` asks the warehouse again and replaces today's
snapshot: it spends the warehouse's allowance (about one inventory.query a day).

按需同步库存。保护规则拦截后，核对快照无误：勾选 from_snapshot（不再查询仓库）并放宽对应限制；
force 会再次查询仓库（聚星约每天一次）。
"""

from __future__ import annotations

from airflow.sdk import Param, dag
from wmsbridge.dag_defaults import DAG_ARGS, bridge_param, per_bridge


@dag(
    dag_id="wms_inventory_sync_manual",
    schedule=None,
    **DAG_ARGS,
    tags=["wms", "qimen", "inventory", "manual"],
    params={
        "bridge": bridge_param(),
        "from_snapshot": Param(
            False, type="boolean", title="Write the stored snapshot / 写入已保存的快照",
            description="Write today's stored snapshot (wms_inventory_snapshot) to the shop without asking the "
                        "warehouse again: the way out after a guard rail refused a write-back you checked. "
                        "/ 不再查询仓库，直接把今天已保存的库存快照写回商城（核对无误后使用）。"),
        "max_missing_pct": Param(
            None, type=["null", "number"], minimum=0, title="Max SKUs without an answer, % / 无返回商品上限 %",
            description="This run's guard rail; empty = the bridge config's inventory_max_missing_pct. "
                        "/ 本次运行的限制；留空 = 配置值。"),
        "max_zeroed_pct": Param(
            None, type=["null", "number"], minimum=0, title="Max SKUs set to zero, % / 清零商品上限 %",
            description="This run's guard rail; empty = inventory_max_zeroed_pct. / 本次运行的限制；留空 = 配置值。"),
        "max_total_change_pct": Param(
            None, type=["null", "number"], minimum=0, title="Max change of the shop's total stock, % / 总库存变动上限 %",
            description="This run's guard rail; empty = inventory_max_total_change_pct. / 本次运行的限制；留空 = 配置值。"),
        "force": Param(False, type="boolean", title="Query the warehouse again / 再次查询仓库",
                       description="Ask the warehouse again although today's full sync already ran: spends its "
                                   "allowance (about one inventory.query a day). Prefer from_snapshot. "
                                   "/ 今日已同步时仍再次查询库存（占用每日次数），一般应使用 from_snapshot。"),
    },
    doc_md=__doc__,
)
def wms_inventory_sync_manual():
    per_bridge("inventory_sync_manual", task_id="sync")


wms_inventory_sync_manual()
