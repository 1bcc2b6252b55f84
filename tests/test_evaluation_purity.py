"""evaluation/ stays pure: no database, web, network or environment access."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import evaluation

FORBIDDEN = {"pymongo", "persistence", "bridge", "telephony", "quart", "websockets", "os"}
PACKAGE = Path(evaluation.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_imports_forbidden_packages() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 8
    for path in modules:
        assert not _imports(path) & FORBIDDEN, path.name
        source = path.read_text()
        assert "os.environ" not in source and "getenv" not in source, path.name


def test_importing_evaluation_loads_no_database_or_web_code() -> None:
    code = (
        "import sys, evaluation; "
        "print(sorted(m for m in ('pymongo', 'quart', 'websockets', 'persistence', 'bridge', "
        "'telephony') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent,
    )
    assert out.stdout.strip() == "[]"
