"""The runtime distribution holds only what production runs; the tools live beside it.

`pip wheel --no-deps .` is the build the Dockerfile installs (`pip install --no-deps .`): it must
hold qimen, the bridge and the provider with their data files, and no simulator, demo, chaos,
synthetic data, shop DDL or local Airflow. Built from a copy of exactly what the Dockerfile copies,
so the repository is left as it was (a build leaves build/ and an egg-info behind).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLING = re.compile(r"wms_simulator|wmsbridge_tools|demo|chaos|synthetic|localairflow|shop_schemas")


def runtime_stage() -> str:
    dockerfile = (ROOT / "Dockerfile").read_text()
    return dockerfile.split(" AS runtime", 1)[1].split("\nFROM ", 1)[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    copied = re.findall(r"^COPY --chown=\S+ (.+) \S+$", runtime_stage(), flags=re.M)
    for line in copied:
        for name in line.split():
            path = ROOT / name
            (shutil.copytree if path.is_dir() else shutil.copy)(path, src / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [built] = out.glob("juxing_wms_bridge-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_the_runtime_and_nothing_of_the_tools(wheel):
    names = wheel.namelist()
    assert {n.split("/")[0] for n in names if not n.startswith("juxing_wms_bridge-")} == {
        "qimen", "qimen_provider", "wmsbridge"}
    assert [n for n in names if TOOLING.search(n)] == []
    # the data files production reads
    assert "wmsbridge/shop/profiles/litemall.yaml" in names
    assert any(n.startswith("wmsbridge/store/migrations/versions/0007") for n in names)
    entry_points = wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "qimen_provider:get_provider_info" in entry_points
    assert "wmsbridge.receiver.plugin:WmsReceiverPlugin" in entry_points
    assert "wmsbridge.ops.plugin:WmsOpsPlugin" in entry_points


def test_runtime_code_never_imports_the_tools():
    offenders = [f"{path.relative_to(ROOT)}:{n}" for folder in ("include", "plugins", "dags")
                 for path in (ROOT / folder).rglob("*.py")
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if re.match(r"\s*(from|import)\s+(wms_simulator|wmsbridge_tools)\b", line)]
    assert offenders == []


def test_the_image_installs_the_runtime_and_only_the_simulator_profile_gets_the_tools():
    stage = runtime_stage()
    assert "tools" not in re.findall(r"^COPY .*$", stage, flags=re.M).__str__()
    assert "pip install --no-cache-dir --no-deps ." in stage  # the wheel above, not editable
    assert (ROOT / "Dockerfile").read_text().rstrip().splitlines()[-1] == "FROM runtime"  # the default target
    compose = (ROOT / "docker-compose.yaml").read_text()
    assert compose.count("target: tools") == 1
    simulator = compose.split("  wms-simulator:", 1)[1]
    assert "target: tools" in simulator.split("\n  # ", 1)[0] or "target: tools" in simulator[:400]
