"""Which package may import which (see architecture.md): faces -> bridge -> evaluation,
and persistence below them all; only the composition root reads the environment."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEB = {"quart", "werkzeug", "hypercorn", "uvicorn", "httpx", "twilio"}
DATABASE = {"pymongo", "bson", "motor"}
# persistence's records are plain typed values; the rest of persistence is the database.
RECORDS = "persistence.records"

FORBIDDEN: dict[str, set[str]] = {
    "evaluation": {"bridge", "telephony", "service", "persistence", "websockets", "os"}
    | WEB
    | DATABASE,
    "bridge": {"telephony", "service"} | WEB | DATABASE,
    "persistence": {"bridge", "telephony", "service"} | WEB,
    "telephony": {"service"},
    # The recruiter API: a telephony-side face, reaching MongoDB only through persistence.
    "telephony/api": {"service", "bridge"} | DATABASE,
    # The ops console: the same, its reads in persistence modules of its own.
    "telephony/ops": {"service", "bridge"} | DATABASE,
    # The outbound dialer: likewise.
    "telephony/dialer": {"service", "bridge"} | DATABASE,
}
# Its logic with no I/O: importable and testable without a server, a database or Quart.
PURE_API_MODULES = ("planning", "cursors", "signing", "scheduling", "phones")
PURE_OPS_MODULES = ("cursors", "charts", "call_layout")
PURE_DIALER_MODULES = ("hours", "redial", "pacing", "codes")


def _imports(path: Path) -> set[str]:
    """Dotted names imported by a module (the module of a `from x import y`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_what_its_room_may_not(package: str) -> None:
    modules = _modules(package)
    assert len(modules) >= 5
    for path in modules:
        imported = _imports(path)
        roots = {name.split(".")[0] for name in imported}
        assert not roots & FORBIDDEN[package], (
            f"{package}/{path.name}: {roots & FORBIDDEN[package]}"
        )
        if package == "bridge":
            database = {n for n in imported if n.startswith("persistence") and n != RECORDS}
            assert not database, f"bridge/{path.name} imports {database}: use the records"


@pytest.mark.parametrize(
    "package",
    [
        "bridge",
        "telephony",
        "telephony/api",
        "telephony/ops",
        "telephony/dialer",
        "persistence",
        "evaluation",
    ],
)
def test_only_the_composition_root_reads_the_environment(package: str) -> None:
    for path in _modules(package):
        source = path.read_text()
        assert "os.environ" not in source and "getenv" not in source, path.name


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("evaluation", {"pymongo", "quart", "websockets", "persistence", "bridge", "telephony"}),
        ("bridge.session", {"pymongo", "quart", "persistence.store", "telephony", "service"}),
        ("persistence", {"pymongo", "quart", "bridge"}),
        *(
            (f"telephony.api.{name}", {"pymongo", "quart", "httpx", "persistence.store"})
            for name in PURE_API_MODULES
        ),
        *(
            (f"telephony.ops.{name}", {"pymongo", "quart", "httpx", "persistence.store"})
            for name in PURE_OPS_MODULES
        ),
        *(
            (f"telephony.dialer.{name}", {"pymongo", "quart", "httpx", "persistence.store"})
            for name in PURE_DIALER_MODULES
        ),
    ],
)
def test_importing_a_room_loads_nothing_it_must_not(module: str, absent: set[str]) -> None:
    code = f"import sys, {module}; print(sorted(m for m in {sorted(absent)!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
