"""The layers, read from the imports with `ast`: the adapters (cli/, server/) reach the
library only through `engine`'s surface (engine/__init__.py), never a backend; the library
knows nothing of its adapters; the CRM's client knows nothing of any of them."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

ADAPTERS = ("cli", "server")


def imports(package: str, root: Path = ROOT) -> Iterator[tuple[str, int, str]]:
    """(file, line, module imported) for every import in a package, nested ones included;
    `from engine import x` gives `engine`, `from engine.store import x` `engine.store`."""
    for path in sorted((root / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        where = str(path.relative_to(root))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield where, node.lineno, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield where, node.lineno, node.module


def violations(root: Path = ROOT) -> list[str]:
    found = []
    for package in ADAPTERS:
        for where, line, module in imports(package, root):
            if module.startswith("engine."):
                found.append(f"{where}:{line}: {module}: an adapter imports only `engine`")
    for where, line, module in imports("engine", root):
        if module.split(".")[0] in (*ADAPTERS, "authz_client"):
            found.append(f"{where}:{line}: {module}: the library imports no adapter")
    for where, line, module in imports("authz_client", root):
        if module.split(".")[0] in ("engine", *ADAPTERS):
            found.append(f"{where}:{line}: {module}: the client stands alone")
    return found


def test_the_layers_hold() -> None:
    assert violations() == []


def test_the_surface_names_only_what_it_exports() -> None:
    import engine

    assert sorted(engine.__all__) == sorted(set(engine.__all__))
    for name in engine.__all__:
        assert hasattr(engine, name), name


@pytest.mark.parametrize(
    ("file", "line"),
    [
        ("cli/commands/sneaky.py", "from engine.backends.cedar import CedarBackend\n"),
        ("server/sneaky.py", "import engine.store\n"),
        ("engine/sneaky.py", "from cli.main import cli\n"),
        ("engine/sneaky2.py", "def f():\n    import server.app\n"),
        ("authz_client/sneaky.py", "from engine import Decision\n"),
    ],
)
def test_a_forbidden_import_is_found(tmp_path: Path, file: str, line: str) -> None:
    for package in (*ADAPTERS, "engine", "authz_client"):
        (tmp_path / package).mkdir()
    (tmp_path / "cli" / "commands").mkdir()
    (tmp_path / file).write_text(line, encoding="utf-8")
    assert [v.split(":")[0] for v in violations(tmp_path)] == [file]


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
    from engine import Engine, InvalidRequest, Request
    from tests.conftest import DEMO

    engine = Engine.load(DEMO)
    bad = Request("asha", "veiw", "estimate", "est-1")
    with pytest.raises(InvalidRequest, match="did you mean `view`"):
        engine.validate(bad)
    decision = engine.decide(bad)
    assert not decision.allowed and decision.errors
    good = Request("asha", "view", "estimate", "est-1")
    assert engine.validate(good) is good
