"""Airflow registers the project's plugins once, with no import error, when started from the
repository root with the root on sys.path (``python -m airflow ...``, as ``make airflow`` starts the
api-server). A setuptools leftover (``juxing_wms_bridge.egg-info``) in the root made Airflow find
the distribution twice and Home showed "Plugin Import Errors: 2"; ``make install`` removes it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ("wms_ops", "wms_receiver")
# What the api-server reports on Home (/api/v2/plugins/importErrors), and where the project's
# distribution is found from a process whose sys.path starts with the repository root.
PROBE = """
import importlib.metadata, json, sys
from airflow import plugins_manager
found = [str(d._path) for d in importlib.metadata.distributions() if d.metadata["Name"] == "juxing-wms-bridge"]
print(json.dumps({"root_on_path": sys.path[0] in ("", %r), "distributions": found,
                  "import_errors": plugins_manager.get_import_errors()}))
""" % str(ROOT)


def last_json_line(text: str):
    lines = [line for line in text.splitlines() if line.startswith(("[", "{"))]
    assert lines, text[-3000:]
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def from_the_root() -> dict:
    """``python -m airflow plugins --output json`` and the probe, both run from the repository root
    (side by side: each spends most of its time importing Airflow)."""
    commands = {"plugins": [sys.executable, "-m", "airflow", "plugins", "--output", "json"],
                "probe": [sys.executable, "-c", PROBE]}
    running = {name: subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name, cmd in commands.items()}
    done = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, f"{commands[name]} failed:\n{err[-3000:]}"
        done[name] = (out, err)
    return done


def test_each_plugin_is_listed_once(from_the_root):
    out, err = from_the_root["plugins"]
    names = [plugin["name"] for plugin in last_json_line(out)]
    assert sorted(names) == sorted(PLUGINS), names
    assert "already registered" not in out + err and "Failed to load plugin" not in out + err


def test_no_plugin_import_error_with_the_root_on_sys_path(from_the_root):
    probe = last_json_line(from_the_root["probe"][0])
    assert probe["root_on_path"], "the probe must see the repository root, as `python -m airflow` does"
    assert probe["import_errors"] == {}
    assert len(probe["distributions"]) == 1, f"the project is found more than once: {probe['distributions']}"
    assert not list(ROOT.glob("*.egg-info")), "a setuptools leftover in the repository root (run make install)"


def test_make_install_removes_the_egg_info_it_leaves():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    recipe = subprocess.run(["make", "-n", "-B", "install"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.splitlines()
    install = next(i for i, line in enumerate(recipe) if "pip install" in line and "requirements.txt" in line)
    assert any(line.startswith("rm -rf juxing_wms_bridge.egg-info") for line in recipe[install + 1:]), recipe
