"""No function in engine/, cli/ or server/ over 80 lines, bar a data literal: a function that
long does several things, and each of them deserves a name."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

LIMIT = 80
CHECKED = ("engine", "cli", "server")


def _is_data_literal(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A body that is a docstring and one `return` of a literal (dict, list, tuple, set)."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return (
        len(body) == 1
        and isinstance(body[0], ast.Return)
        and isinstance(body[0].value, ast.Dict | ast.List | ast.Tuple | ast.Set)
    )


def long_functions(root: Path = ROOT) -> list[str]:
    found = []
    for package in CHECKED:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LIMIT and not _is_data_literal(node):
                    where = path.relative_to(root)
                    found.append(f"{where}:{node.lineno}: {node.name} is {length} lines")
    return found


def test_no_function_is_over_the_limit() -> None:
    assert long_functions() == []


def test_a_long_function_is_found_and_a_long_literal_is_not(tmp_path: Path) -> None:
    for package in CHECKED:
        (tmp_path / package).mkdir()
    steps = "".join(f"    x += {n}\n" for n in range(LIMIT))
    (tmp_path / "engine" / "long.py").write_text(f"def f():\n    x = 0\n{steps}", "utf-8")
    rows = "".join(f"        {n!r}: {n},\n" for n in range(LIMIT))
    (tmp_path / "cli" / "table.py").write_text(
        f'def g():\n    """A table."""\n    return {{\n{rows}    }}\n', "utf-8"
    )
    assert long_functions(tmp_path) == [f"engine/long.py:1: f is {LIMIT + 2} lines"]
