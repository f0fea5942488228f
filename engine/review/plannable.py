"""Whether a policy set plans: read from the policies' JSON (Cedar's EST), before any request.

The planner (engine/core/plan.py) folds what Cedar leaves of each policy once the record is
unknown. The record's module is known from its type, and all read through it. It follows a
record read as `resource.attr`, `resource has attr`, `resource is Type`, `resource in ...`,
an attribute compared (`==`, `!=`) with a value that does not read the record, and a known
set that `contains` an attribute; `&&`, `||`, `!` and `if` around them. Anything else that
reads the record (`like`, `<`, an attribute of another attribute, two attributes compared) is
named here with its policy: such a set still decides,
its list views ask record by record, and `authz lint` and `/readyz` say so. Policies of the
admin actions (D12: enrolments, the migration), which never apply to a record, are not
read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from suite_authz.engine.core.catalogue import ADMIN_ACTIONS

LOGICAL = {"&&": ("left", "right"), "||": ("left", "right"), "!": ("arg",)}


def why_unplannable(policies: Iterable[tuple[str, dict[str, Any]]]) -> str | None:
    """None when every policy reads the record only in ways the planner follows; else the
    first policy (by id) that does not, and how."""
    for pid, est in sorted(policies):
        if _admin_only(est.get("action", {"op": "All"})):
            continue
        resource_scope = est.get("resource", {"op": "All"})
        if resource_scope.get("op") not in ("All", "is"):
            return f"policy `{pid}`: a resource scope `{resource_scope.get('op')}`"
        for condition in est.get("conditions", ()):
            found = _refused(condition["body"])
            if found is not None:
                return f"policy `{pid}`: {found}"
    return None


def _admin_only(scope: dict[str, Any]) -> bool:
    if scope.get("op") == "==":
        return scope["entity"]["id"] in ADMIN_ACTIONS
    if scope.get("op") == "in" and "entities" in scope:
        return all(e["id"] in ADMIN_ACTIONS for e in scope["entities"])
    return False


MODULE = {".": {"left": {"Var": "resource"}, "attr": "module"}}


def _reads(node: Any) -> bool:
    """Whether an expression reads the unknown record: `resource.module`, and all read
    through it, is known from the record's type."""
    if node == MODULE:
        return False
    if isinstance(node, dict):
        return node.get("Var") == "resource" or any(_reads(v) for v in node.values())
    if isinstance(node, list):
        return any(_reads(v) for v in node)
    return False


def _attribute(node: Any) -> bool:
    """`resource.attr`: one of the record's own attributes."""
    return isinstance(node, dict) and "." in node and node["."]["left"] == {"Var": "resource"}


def _refused(node: Any) -> str | None:
    if not _reads(node):
        return None
    ((op, arg),) = node.items()
    if op in LOGICAL:
        return next((r for k in LOGICAL[op] if (r := _refused(arg[k])) is not None), None)
    if op == "if-then-else":
        return next(
            (r for k in ("if", "then", "else") if (r := _refused(arg[k])) is not None), None
        )
    if op == "." or op == "has":
        return (
            None
            if arg["left"] == {"Var": "resource"} or _attribute(arg["left"])
            else f"`{op}` on {_short(arg['left'])}"
        )
    if op in ("is", "in"):
        left_ok = arg["left"] == {"Var": "resource"} or _attribute(arg["left"])
        return (
            None
            if left_ok and not _reads(arg.get("right"))
            else f"`{op}` reading the record on its right"
        )
    if op in ("==", "!="):
        sides = [arg["left"], arg["right"]]
        if sum(_reads(s) for s in sides) == 1 and any(_attribute(s) for s in sides):
            return None
        return f"`{op}` between {_short(arg['left'])} and {_short(arg['right'])}"
    if op == "contains" and not _reads(arg["left"]) and _attribute(arg["right"]):
        return None
    return f"the operator `{op}` on the record"


def _short(node: Any) -> str:
    text = str(node)
    return text if len(text) <= 80 else text[:77] + "..."
