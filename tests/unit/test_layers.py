"""The layers, read from the imports with `ast`: the adapters (cli/, server/) reach the
library only through `suite_authz.engine`'s surface (engine/__init__.py), never a backend; the
library knows nothing of its adapters; the CRM's client knows nothing of any of them; and
nothing imports a part by a top-level name (`engine`, `cli`), which an install does not have."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

ADAPTERS = ("cli", "server")
PARTS = ("engine", *ADAPTERS, "client")
CHECKED = (*PARTS, "tests", "bench")
NOT_INSTALLED = (*PARTS, "authz_client")  # the top-level names the repository's dirs have


def imports(package: str, root: Path = ROOT) -> Iterator[tuple[str, int, str]]:
    """(file, line, module imported) for every import in a directory, nested ones included;
    `from suite_authz.engine import x` gives `suite_authz.engine`."""
    for path in sorted((root / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        where = str(path.relative_to(root))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield where, node.lineno, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield where, node.lineno, node.module


def part_of(module: str) -> str | None:
    """`engine` for suite_authz.engine and below; None for anything outside the package."""
    names = module.split(".")
    return names[1] if names[0] == "suite_authz" and len(names) > 1 else None


def violations(root: Path = ROOT) -> list[str]:
    found = []
    for package in CHECKED:
        if not (root / package).is_dir():
            continue
        for where, line, module in imports(package, root):
            part = part_of(module)
            if module.split(".")[0] in NOT_INSTALLED:
                found.append(f"{where}:{line}: {module}: not installed; import suite_authz.*")
            elif package in ADAPTERS and module.startswith("suite_authz.engine."):
                found.append(f"{where}:{line}: {module}: an adapter imports only the surface")
            elif package == "engine" and part in (*ADAPTERS, "client"):
                found.append(f"{where}:{line}: {module}: the library imports no adapter")
            elif package == "client" and part in ("engine", *ADAPTERS):
                found.append(f"{where}:{line}: {module}: the client stands alone")
    return found


def test_the_layers_hold() -> None:
    assert violations() == []


def test_the_surface_names_only_what_it_exports() -> None:
    from suite_authz import engine

    assert sorted(engine.__all__) == sorted(set(engine.__all__))
    for name in engine.__all__:
        assert hasattr(engine, name), name


@pytest.mark.parametrize(
    ("file", "line"),
    [
        (
            "cli/commands/sneaky.py",
            "from suite_authz.engine.backends.cedar import CedarBackend\n",
        ),
        ("server/sneaky.py", "import suite_authz.engine.store\n"),
        ("engine/sneaky.py", "from suite_authz.cli.main import cli\n"),
        ("engine/sneaky2.py", "def f():\n    import suite_authz.server.app\n"),
        ("client/sneaky.py", "from suite_authz.engine import Decision\n"),
        ("tests/sneaky.py", "from engine import Engine\n"),
        ("bench/sneaky.py", "import cli.main\n"),
    ],
)
def test_a_forbidden_import_is_found(tmp_path: Path, file: str, line: str) -> None:
    for package in CHECKED:
        (tmp_path / package).mkdir()
    (tmp_path / "cli" / "commands").mkdir()
    (tmp_path / file).write_text(line, encoding="utf-8")
    assert [v.split(":")[0] for v in violations(tmp_path)] == [file]


def test_allowed_imports_are_not_flagged(tmp_path: Path) -> None:
    for package in CHECKED:
        (tmp_path / package).mkdir()
    (tmp_path / "cli" / "ok.py").write_text(
        "from suite_authz.engine import Engine\nimport http.client\n", encoding="utf-8"
    )
    (tmp_path / "engine" / "ok.py").write_text(
        "from suite_authz.engine.model import Org\n", encoding="utf-8"
    )
    (tmp_path / "tests" / "ok.py").write_text(
        "from suite_authz.engine.entities import OrgIndex\n", encoding="utf-8"
    )
    assert violations(tmp_path) == []


def test_no_adapter_reads_the_invalid_flag() -> None:
    """Bad input is a type: adapters call Engine.validate and catch InvalidRequest; the flag
    on a Decision is the library's own (decide stays total)."""
    found = []
    for package in ADAPTERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "invalid":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_validate_raises_and_decide_stays_total() -> None:
    from suite_authz.engine import Engine, InvalidRequest, Request
    from tests.conftest import DEMO

    engine = Engine.load(DEMO)
    bad = Request("asha", "veiw", "estimate", "est-1")
    with pytest.raises(InvalidRequest, match="did you mean `view`"):
        engine.validate(bad)
    decision = engine.decide(bad)
    assert not decision.allowed and decision.errors
    good = Request("asha", "view", "estimate", "est-1")
    assert engine.validate(good) is good
