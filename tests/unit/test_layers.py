"""The layers, read from the imports with `ast`: the adapters (cli/, server/) reach the
library only through `suite_authz.engine`'s surface (the names engine/__init__.py exports),
never a backend; the library knows nothing of its adapters; the server knows nothing of the
CLI, and the CLI of the server only in `authz serve`, which starts it; the CRM's client knows
nothing of any of them; and nothing imports a part by a top-level name (`engine`, `cli`),
which an install does not have. An import is any of: `import m`, `from m import name` (read
as `m.name`, so a submodule taken from a package is seen), a relative import (resolved
against the file's own package), and a module named in a string handed to a call
(`importlib.import_module("...")`, uvicorn's `"module:app"`)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

ADAPTERS = ("cli", "server")
PARTS = ("engine", *ADAPTERS, "client")
CHECKED = (*PARTS, "tests", "bench")
NOT_INSTALLED = (*PARTS, "authz_client")  # the top-level names the repository's dirs have
# the one door from the CLI into the server: the command that starts it
SERVER_DOOR = "cli/commands/serve.py"
MODULE_STRING = re.compile(r"^(suite_authz(?:\.\w+)+)(?::\w+)?$")


def _package_of(path: Path, root: Path) -> list[str]:
    """The dotted package a file is in, as installed: cli/commands/x.py is in
    suite_authz.cli.commands; a file of tests/ or bench/ in tests or bench."""
    parts = list(path.relative_to(root).parent.parts)
    return ["suite_authz", *parts] if parts and parts[0] in PARTS else parts


def _relative(node: ast.ImportFrom, path: Path, root: Path) -> str:
    base = _package_of(path, root)
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, *([node.module] if node.module else [])])


def _called_strings(node: ast.Call) -> Iterator[str]:
    """Module paths in a call's string arguments: `import_module("suite_authz.x")`, the
    constant head of an f-string (`f"suite_authz.cli.commands.{name}"`), `"m:app"`."""
    for arg in [*node.args, *(k.value for k in node.keywords)]:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            text = arg.value
        elif isinstance(arg, ast.JoinedStr) and arg.values:
            head = arg.values[0]
            if not (isinstance(head, ast.Constant) and isinstance(head.value, str)):
                continue
            text = head.value.rstrip(".")
        else:
            continue
        match = MODULE_STRING.match(text)
        if match:
            yield match[1]


def imports(package: str, root: Path = ROOT) -> Iterator[tuple[str, int, str]]:
    """(file, line, module imported) for every import in a directory, nested ones included;
    `from suite_authz.engine import x` gives `suite_authz.engine` and `suite_authz.engine.x`."""
    for path in sorted((root / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        where = str(path.relative_to(root))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield where, node.lineno, alias.name
            elif isinstance(node, ast.ImportFrom):
                module = node.module or "" if node.level == 0 else _relative(node, path, root)
                yield where, node.lineno, module
                for alias in node.names:
                    yield where, node.lineno, f"{module}.{alias.name}"
            elif isinstance(node, ast.Call):
                for module in _called_strings(node):
                    yield where, node.lineno, module


def part_of(module: str) -> str | None:
    """`engine` for suite_authz.engine and below; None for anything outside the package."""
    names = module.split(".")
    return names[1] if names[0] == "suite_authz" and len(names) > 1 else None


def surface(root: Path = ROOT) -> set[str]:
    """The names engine/__init__.py exports (its __all__), read without importing it."""
    init = root / "engine" / "__init__.py"
    tree = ast.parse((init if init.is_file() else ROOT / "engine" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__":
            return set(ast.literal_eval(node.value))
    raise AssertionError("engine/__init__.py has no __all__")


def _through_surface(module: str, exported: set[str]) -> bool:
    """suite_authz.engine itself, or one name it exports (not a submodule of it)."""
    names = module.split(".")
    return len(names) == 2 or (len(names) == 3 and names[2] in exported)


def _violation(package: str, where: str, module: str, exported: set[str]) -> str | None:
    part = part_of(module)
    if module.split(".")[0] in NOT_INSTALLED:
        return "not installed; import suite_authz.*"
    if package in ADAPTERS and part == "engine" and not _through_surface(module, exported):
        return "an adapter imports only the surface"
    if package == "engine" and part in (*ADAPTERS, "client"):
        return "the library imports no adapter"
    if package == "server" and part == "cli":
        return "the server imports nothing of the CLI"
    if package == "cli" and part == "server" and where != SERVER_DOOR:
        return f"the CLI reaches the server only in {SERVER_DOOR}"
    if package == "client" and part in ("engine", *ADAPTERS):
        return "the client stands alone"
    return None


def violations(root: Path = ROOT) -> list[str]:
    found = []
    exported = surface(root)
    for package in CHECKED:
        if not (root / package).is_dir():
            continue
        for where, line, module in imports(package, root):
            why = _violation(package, where, module, exported)
            if why is not None:
                found.append(f"{where}:{line}: {module}: {why}")
    return sorted(set(found))


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
        # the five ways around the first version of this test
        ("cli/sneaky.py", "from ..engine.backends.cedar import CedarBackend\n"),
        ("cli/sneaky.py", "from suite_authz.engine import backends\n"),
        ("engine/sneaky.py", "from suite_authz import server\n"),
        (
            "server/sneaky.py",
            "import importlib\nimportlib.import_module('suite_authz.engine.backends')\n",
        ),
        ("server/sneaky.py", "from suite_authz.cli.exits import Trouble\n"),
        ("cli/sneaky.py", "from suite_authz.server.main import factory\n"),
        ("cli/sneaky.py", "uvicorn.run('suite_authz.server.main:factory')\n"),
        ("engine/sneaky.py", "m = __import__(f'suite_authz.cli.{name}')\n"),
    ],
)
def test_a_forbidden_import_is_found(tmp_path: Path, file: str, line: str) -> None:
    for package in CHECKED:
        (tmp_path / package).mkdir()
    (tmp_path / "cli" / "commands").mkdir()
    (tmp_path / file).write_text(line, encoding="utf-8")
    assert {v.split(":")[0] for v in violations(tmp_path)} == {file}


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
    (tmp_path / "cli" / "commands").mkdir()
    (tmp_path / "cli" / "commands" / "serve.py").write_text(
        "from suite_authz.server.main import factory\nfrom ..exits import Trouble\n",
        encoding="utf-8",
    )
    (tmp_path / "client" / "ok.py").write_text("from . import _wire\n", encoding="utf-8")
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
