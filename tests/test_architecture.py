"""The layering is checked, not only written: import-linter's contracts (pyproject.toml), and a light
package face (what a plugin author imports, and ``cozegate --help``, load no server, database or vector
store)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = {
    "starlette",
    "uvicorn",
    "granian",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "alembic",
    "redis",
    "pymilvus",
    "milvus_lite",
    "sentence_transformers",
    "torch",
    "kopf",
    "kubernetes_asyncio",
    "cozepy",
}


def loaded_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_layers_hold() -> None:
    """edges (cli, the composition root, ingress, gateway, plugins, console, operator) → core → base;
    no core module imports an edge, no edge imports another."""
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_plugin_author_loads_no_server_database_or_vector_store() -> None:
    assert loaded_after("import cozegate.plugins") & HEAVY == set()
    assert loaded_after("from cozegate import Settings") & HEAVY == set()


def test_the_command_line_help_loads_no_server_database_or_vector_store() -> None:
    code = (
        "import sys\nsys.argv = ['cozegate', '--help']\nfrom cozegate.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert loaded_after(code) & (HEAVY | {"httpx", "pydantic_settings", "yaml"}) == set()
