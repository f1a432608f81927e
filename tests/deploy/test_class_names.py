"""One model per thing: a class name means one class across the runtime, the tools, the benchmarks
and the tests, so a reader (or an import) never meets two different things under one name."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREES = ("include", "plugins", "dags", "tools", "benchmarks", "tests")


def test_no_class_name_is_defined_twice():
    where: dict[str, list[str]] = defaultdict(list)
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            if any(part in {".venv", "build", "__pycache__"} for part in path.parts):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
                if isinstance(node, ast.ClassDef):
                    where[node.name].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert where, "no class found: the trees moved?"
    assert {name: places for name, places in where.items() if len(places) > 1} == {}
