"""What a task log shows a person: no Alembic dialect banner on every run, a short returned value."""

from __future__ import annotations

import logging

from wmsbridge.pipelines.policy import TaskRun, run_flow
from wmsbridge.pipelines.report import RunReport
from wmsbridge.store.migrate import current_revision, upgrade


def test_no_alembic_banner_but_real_steps_still_log(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    with caplog.at_level(logging.INFO, logger="alembic"):
        upgrade(url)
    assert "Running upgrade" in caplog.text  # a real migration step is worth a line
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="alembic"):
        upgrade(url)  # what every task run does while the store is current
        current_revision(url)
    assert "Context impl" not in caplog.text and "Will assume" not in caplog.text


def test_the_returned_value_is_the_summary_and_the_counts():
    def work(run):
        report = RunReport(flow="orders", where_to_look="wms_order_sync WHERE state = 'rejected'")
        report.extracted = 300
        for i in range(150):
            report.add("rejected", f"ORDER-{i}", "receiverInfo.mobile: required")
        report.add("sent", n=150)
        return report

    value = run_flow("orders", work, run=TaskRun("wms_order_push_manual", "manual__1", "manual"))
    assert set(value) == {"bridge", "summary", "flow", "dry_run", "counts"}
    assert value["bridge"] == "default"  # the one bridge of a flat configuration
    assert value["counts"] == {"sent": 150, "rejected": 150}
    assert value["summary"].startswith("orders: extracted 300, sent 150")
    assert len(repr(value)) < 300
