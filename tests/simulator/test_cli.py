"""``python -m wms_simulator`` as a user runs it: start, a signed curl request, SIGTERM, a state file."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from qimen.documents import build_document
from qimen.parsing import parse_response
from wms_simulator import SimulatorAdmin

from .helpers import item_document

ROOT = Path(__file__).resolve().parents[2]


def start(*args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "wms_simulator", "--port", "0", *args],
        cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    for line in process.stderr:  # the first lines tell where it listens
        match = re.search(r"ready: (\S+)", line)
        if match:
            return process, match.group(1)
    process.kill()
    raise AssertionError("the simulator did not start")


def stop(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=20)
    return process.returncode, rest


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_start_sign_with_the_helper_send_with_curl_stop_cleanly(tmp_path):
    db = tmp_path / "sim.db"
    process, base_url = start("--secret", "s3cret", "--customer-id", "C001", "--db", str(db))
    try:
        body = tmp_path / "item.xml"
        body.write_text(build_document("singleitem.synchronize", item_document("SKU-CLI", "大衣")), encoding="utf-8")
        command = subprocess.run(
            [sys.executable, "-m", "wms_simulator.sign_curl", "--url", base_url, "--method",
             "taobao.qimen.singleitem.synchronize", "--secret", "s3cret", "--customer-id", "C001", str(body)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        answer = subprocess.run(shlex.split(command), capture_output=True, text=True, check=True, env=env).stdout
        parsed = parse_response(answer, "singleitem.synchronize")
        assert parsed.success and parsed.fields["itemId"]

        tampered = command.replace("customerId=C001", "customerId=C002")  # the sign covers every parameter
        refused = subprocess.run(shlex.split(tampered), capture_output=True, text=True, check=True, env=env).stdout
        assert parse_response(refused).code == "sign-check-failure"
    finally:
        code, log = stop(process)
    assert code == 0
    request_lines = [line for line in log.splitlines() if "POST /api/v2/openapi/wms/wmsnotify/9" in line]
    assert len(request_lines) == 2, "one log line per request"
    assert "200 success" in request_lines[0] and "failure sign-check-failure" in request_lines[1]

    # the state survives a restart when kept in a file
    process, base_url = start("--db", str(db))
    try:
        assert [i["item_code"] for i in SimulatorAdmin(base_url).items()] == ["SKU-CLI"]
    finally:
        assert stop(process)[0] == 0


def test_invalid_fault_options_are_refused_at_start():
    result = subprocess.run([sys.executable, "-m", "wms_simulator", "--port", "0", "--fail-5xx", "2"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "fail_5xx" in result.stderr


def test_juxing_paths_and_strictness_are_announced_at_start():
    process, base_url = start("--secret", "s3cret", "--customer-id", "C001", "--juxing-paths")
    try:
        announced = process.stderr.readline() + process.stderr.readline()
        assert "customerId: C001" in announced and "signatures: verified" in announced
        assert "checked like a gateway" in announced
        admin = SimulatorAdmin(base_url.split("/api/")[0])
        config = admin.config()
        assert config["strict_public_params"] is True and config["customer_id"] == "C001"
        assert config["method_paths"]["deliveryorder.create"] == ["/api/v1/openapi/wms/wmsnotify/9"]
    finally:
        code, rest = stop(process)
    assert code == 0


def test_make_simulator_starts_with_a_secret_and_a_customer_id():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-n", "simulator"], cwd=ROOT, capture_output=True, text=True, check=True)
    command = done.stdout[done.stdout.index("python -m wms_simulator"):]
    assert "--secret" in command and "--customer-id" in command
