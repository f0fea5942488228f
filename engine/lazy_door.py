"""A room's front door that opens lazily: a name's module is loaded when the name is first used.

A command that explains one decision must not pay for z3 (the prover), oso (Polar),
cryptography or the store's drivers (tests/cli/test_startup.py), yet every room's `__init__`
lists its names the one way type checkers read: `if TYPE_CHECKING:` imports. At run time the
door reads those same lines, so there is no second table to drift from them.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any


def lazy_door(name: str, file: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for the package `name` whose `__init__` is `file`.

    A door never renames: each name is exported as its module defines it, and the names in
    the TYPE_CHECKING block must be exactly `__all__` (tests/unit/test_layers.py)."""
    tree = ast.parse(Path(file).read_text(encoding="utf-8"))
    blocks = [node for node in tree.body if isinstance(node, ast.If) and _type_checking(node.test)]
    if len(blocks) != 1:
        raise ImportError(f"{file}: a door has one `if TYPE_CHECKING:` block of its names")
    room = Path(file).parent
    names: dict[str, str] = {}
    for node in blocks[0].body:
        if not isinstance(node, ast.ImportFrom) or node.module is None or node.level != 0:
            raise ImportError(f"{file}: a door lists its names as absolute from-imports only")
        for alias in node.names:
            if alias.name == "*" or alias.asname not in (None, alias.name):
                shown = alias.asname or alias.name
                raise ImportError(f"{file}: {alias.name} exported as {shown}: a door never renames")
            if (room / f"{alias.name}.py").exists() or (room / alias.name).is_dir():
                # importing the submodule would set the package's attribute to the module
                raise ImportError(f"{file}: {alias.name} is also a module of this room")
            if alias.name in names:
                raise ImportError(f"{file}: {alias.name} is listed twice")
            names[alias.name] = node.module

    def __getattr__(attribute: str) -> Any:
        try:
            module = names[attribute]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None
        value = getattr(import_module(module), attribute)
        vars(sys.modules[name])[attribute] = value  # the next use is a plain lookup
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )
