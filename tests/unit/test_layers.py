"""The layers, read from the imports with `ast`: the adapters (cli/, server/) reach the
library only through a room's front door (the names engine/ROOM/__init__.py exports),
never a backend; the library knows nothing of its adapters; the server knows nothing of the
CLI, and the CLI of the server only in `authz serve`, which starts it; the CRM's client knows
nothing of any of them; and nothing imports a part by a top-level name (`engine`, `cli`),
which an install does not have. An import is any of: `import m`, `from m import name` (read
as `m.name`, so a submodule taken from a package is seen), a relative import (resolved
against the file's own package), and a module named in a string handed to a call
(`importlib.import_module("...")`, uvicorn's `"module:app"`)."""

from __future__ import annotations

import ast
import importlib.util
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
MODULE_STRING = re.compile(r"^(suite_authz(?:\.\w+)+(?:\.\*)?)(?::\w+)?$")
# a top-level name an install does not have, in a string handed to an import-like call
UNINSTALLED_STRING = re.compile(r"^((?:engine|cli|server|client|authz_client)(?:\.\w+)*)(?::\w+)?$")
IMPORTING_CALLS = {"import_module", "__import__", "find_spec", "resolve_name", "run", "Config"}


def _package_of(path: Path, root: Path) -> list[str]:
    """The dotted package a file is in, as installed: cli/commands/x.py is in
    suite_authz.cli.commands; a file of tests/ or bench/ in tests or bench."""
    parts = list(path.relative_to(root).parent.parts)
    return ["suite_authz", *parts] if parts and parts[0] in PARTS else parts


def _relative(node: ast.ImportFrom, path: Path, root: Path) -> str:
    base = _package_of(path, root)
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, *([node.module] if node.module else [])])


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _string_of(arg: ast.expr) -> str | None:
    """A constant string, or an f-string's constant head: `f"suite_authz.x.{name}"` is read as
    `suite_authz.x.*`, some module of suite_authz.x (a door's name never ends in a dot)."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values:
        head = arg.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            return head.value + "*" if head.value.endswith(".") else head.value
    return None


def _called_strings(node: ast.Call) -> Iterator[str]:
    """Module paths in a call's string arguments: `import_module("suite_authz.x")`, an
    f-string's head, `"m:app"`; a relative name with its `package=`; `__import__`'s
    `fromlist` joined to its name; and, in an import-like call, a top-level name an install
    does not have (`import_module("engine.core")`)."""
    texts = [_string_of(arg) for arg in [*node.args, *(k.value for k in node.keywords)]]
    callee = _callee(node)
    keywords = {k.arg: k.value for k in node.keywords}
    if texts and texts[0] and texts[0].startswith("."):  # import_module under any alias
        package = keywords.get("package", node.args[1] if len(node.args) > 1 else None)
        base = _string_of(package) if package is not None else None
        if base and MODULE_STRING.match(base):
            texts.append(importlib.util.resolve_name(texts[0], base))
    fromlist = keywords.get("fromlist", node.args[3] if len(node.args) > 3 else None)
    if callee == "__import__" and texts and texts[0] and isinstance(fromlist, ast.List | ast.Tuple):
        texts += [f"{texts[0]}.{_string_of(item)}" for item in fromlist.elts if _string_of(item)]
    for text in texts:
        if text is None:
            continue
        uninstalled = UNINSTALLED_STRING if callee in IMPORTING_CALLS else None
        match = MODULE_STRING.match(text) or (uninstalled and uninstalled.match(text))
        if match:
            yield match[1]


def _dotted(node: ast.Attribute) -> str | None:
    """`suite_authz.engine.core.decide.Engine` as written: a module reached by attributes."""
    names = [node.attr]
    value = node.value
    while isinstance(value, ast.Attribute):
        names.append(value.attr)
        value = value.value
    if isinstance(value, ast.Name) and value.id == "suite_authz":
        return ".".join(["suite_authz", *reversed(names)])
    return None


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
            elif isinstance(node, ast.Attribute) and (dotted := _dotted(node)):
                yield where, node.lineno, dotted


def part_of(module: str) -> str | None:
    """`engine` for suite_authz.engine and below; None for anything outside the package."""
    names = module.split(".")
    return names[1] if names[0] == "suite_authz" and len(names) > 1 else None


def _exports(init: Path) -> list[str]:
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__":
            return list(ast.literal_eval(node.value))
    raise AssertionError(f"{init}: a front door without __all__")


def doors(root: Path = ROOT) -> dict[str, set[str]]:
    """The engine's rooms and the names each front door (engine/ROOM/__init__.py) exports,
    read without importing them."""
    engine = root / "engine" if list(root.glob("engine/*/__init__.py")) else ROOT / "engine"
    return {init.parent.name: set(_exports(init)) for init in sorted(engine.glob("*/__init__.py"))}


def _through_a_door(module: str, rooms: dict[str, set[str]]) -> bool:
    """A room's door itself, or one name it exports (not a module behind it), and what is
    reached from that name (`suite_authz.engine.core.Engine.load`)."""
    names = module.split(".")
    if len(names) == 2:
        return True  # `from suite_authz.engine import core` is read as suite_authz.engine.core too
    if names[2] not in rooms:
        return False
    return len(names) == 3 or names[3] in rooms[names[2]]


def _violation(package: str, where: str, module: str, rooms: dict[str, set[str]]) -> str | None:
    part = part_of(module)
    if module.split(".")[0] in NOT_INSTALLED:
        return "not installed; import suite_authz.*"
    if package in ADAPTERS and part == "engine" and not _through_a_door(module, rooms):
        return "an adapter imports only a room's front door"
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
    rooms = doors(root)
    for package in CHECKED:
        if not (root / package).is_dir():
            continue
        for where, line, module in imports(package, root):
            why = _violation(package, where, module, rooms)
            if why is not None:
                found.append(f"{where}:{line}: {module}: {why}")
    return sorted(set(found))


def test_the_layers_hold() -> None:
    assert violations() == []


ROOMS = ("core", "store", "sources", "review", "serving", "migration")


def test_the_rooms_are_the_ones_the_map_names() -> None:
    assert sorted(doors()) == sorted(ROOMS)


@pytest.mark.parametrize("room", ROOMS)
def test_each_door_opens_on_what_it_lists(room: str) -> None:
    """__all__ is the door's TYPE_CHECKING list, each name resolves to the object its module
    defines under that very name (no renaming on export), and none is a module's name (an
    import of that module would replace the name on the package)."""
    from importlib import import_module

    door = import_module(f"suite_authz.engine.{room}")
    init = ROOT / "engine" / room / "__init__.py"
    block = next(n for n in ast.parse(init.read_text("utf-8")).body if isinstance(n, ast.If))
    listed = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert sorted(door.__all__) == sorted(listed) and len(set(door.__all__)) == len(door.__all__)
    for name, module in listed.items():
        assert getattr(door, name) is getattr(import_module(str(module)), name), name
        assert not (ROOT / "engine" / room / f"{name}.py").exists(), name


def test_the_engine_package_itself_exports_nothing() -> None:
    """Two doors to one name would be two surfaces to keep: the rooms are the only doors."""
    body = ast.parse((ROOT / "engine" / "__init__.py").read_text("utf-8")).body
    assert [type(node) for node in body] == [ast.Expr]  # its docstring, the map of the rooms


def test_a_door_refuses_a_renamed_export(tmp_path: Path) -> None:
    from suite_authz.engine.lazy_door import lazy_door

    init = tmp_path / "__init__.py"
    init.write_text(
        "if TYPE_CHECKING:\n    from suite_authz.engine.core.decide import Engine as E\n", "utf-8"
    )
    with pytest.raises(ImportError, match="exported as E: a door never renames"):
        lazy_door("x", str(init))
    (tmp_path / "decide.py").write_text("", "utf-8")
    init.write_text(
        "if TYPE_CHECKING:\n    from suite_authz.engine.core.decide import decide\n", "utf-8"
    )
    with pytest.raises(ImportError, match="also a module of this room"):
        lazy_door("x", str(init))
    for block, refusal in (
        ("if TYPE_CHECKING:\n    from .decide import Engine\n", "absolute from-imports only"),
        ("if TYPE_CHECKING:\n    import json\n", "absolute from-imports only"),
        ("if TYPE_CHECKING:\n    from json import *\n", "a door never renames"),
        ("if TYPE_CHECKING:\n    from a import X\n    from b import X\n", "listed twice"),
        ("if sys.version_info:\n    from json import loads\n", "one `if TYPE_CHECKING:`"),
        ("X = 1\n", "one `if TYPE_CHECKING:`"),
    ):
        init.write_text(block, "utf-8")
        with pytest.raises(ImportError, match=refusal):
            lazy_door("x", str(init))


@pytest.mark.parametrize(
    ("file", "line"),
    [
        (
            "cli/commands/sneaky.py",
            "from suite_authz.engine.core.backends.cedar import CedarBackend\n",
        ),
        ("server/sneaky.py", "import suite_authz.engine.store.org_store\n"),
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
            "import importlib\nimportlib.import_module('suite_authz.engine.core.backends')\n",
        ),
        ("server/sneaky.py", "from suite_authz.cli.exits import CommandFailed\n"),
        ("cli/sneaky.py", "from suite_authz.server.main import factory\n"),
        ("cli/sneaky.py", "uvicorn.run('suite_authz.server.main:factory')\n"),
        ("engine/sneaky.py", "m = __import__(f'suite_authz.cli.{name}')\n"),
        # past a room's front door, or through the package that has no door
        ("cli/sneaky.py", "from suite_authz.engine.core.decide import Engine\n"),
        ("server/sneaky.py", "from suite_authz.engine.store import org_store\n"),
        ("server/sneaky.py", "from suite_authz.engine import Engine\n"),
        ("cli/sneaky.py", "from ..engine.review import diff\n"),
        # found by an outside review of the rooms: top-level names in strings, a relative name
        # with its package, an f-string past a door, __import__'s fromlist, attribute chains
        ("cli/sneaky.py", "import importlib\nimportlib.import_module('engine.core.decide')\n"),
        ("tests/sneaky.py", "import uvicorn\nuvicorn.run('server.main:factory')\n"),
        (
            "server/sneaky.py",
            "from importlib import import_module as im\n"
            "im('.decide', package='suite_authz.engine.core')\n",
        ),
        (
            "server/sneaky.py",
            "import importlib\nimportlib.import_module(f'suite_authz.engine.core.{m}')\n",
        ),
        ("cli/sneaky.py", "__import__('suite_authz.engine.core', fromlist=['decide'])\n"),
        (
            "cli/sneaky.py",
            "import suite_authz.engine.core\nx = suite_authz.engine.core.decide.Engine\n",
        ),
        ("client/sneaky.py", "import suite_authz\nsuite_authz.server.app.make_app()\n"),
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
        "from suite_authz.engine.core import Engine\n"
        "from suite_authz.engine import store\nimport http.client\n",
        encoding="utf-8",
    )
    (tmp_path / "engine" / "ok.py").write_text(
        "from suite_authz.engine.core.model import Org\n", encoding="utf-8"
    )
    (tmp_path / "tests" / "ok.py").write_text(
        "from suite_authz.engine.core.entities import OrgIndex\n", encoding="utf-8"
    )
    (tmp_path / "cli" / "commands").mkdir()
    (tmp_path / "cli" / "commands" / "serve.py").write_text(
        "from suite_authz.server.main import factory\nfrom ..exits import CommandFailed\n",
        encoding="utf-8",
    )
    (tmp_path / "client" / "ok.py").write_text("from . import _wire\n", encoding="utf-8")
    (tmp_path / "server" / "ok.py").write_text(
        "import suite_authz.engine.core\n"
        "e = suite_authz.engine.core.Engine.load\n"
        "subprocess.run(['server'])\nlogging.getLogger('server')\n",
        encoding="utf-8",
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
    from suite_authz.engine.core import Engine, InvalidRequest, Request
    from tests.conftest import DEMO

    engine = Engine.load(DEMO)
    bad = Request("asha", "veiw", "estimate", "est-1")
    with pytest.raises(InvalidRequest, match="did you mean `view`"):
        engine.validate(bad)
    decision = engine.decide(bad)
    assert not decision.allowed and decision.errors
    good = Request("asha", "view", "estimate", "est-1")
    assert engine.validate(good) is good
