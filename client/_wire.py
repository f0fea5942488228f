"""What the client accepts from the sidecar: strict JSON of the expected shape, or a named refusal.

Every check here exists because a lenient reading turned an error into an allow:
a duplicate `decision` key read as its last value, a batch answered with fewer decisions than
asked (so `all(decisions)` held), a search page whose `results` was a string, an allow served
as `text/html`. A refusal is a `Refused` naming what is wrong; the client turns it into a deny
(a single check, a search) or an `AuthzProtocolError` (a batch).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

MEDIA_TYPE = "application/json"
# A search page of the default limit is a few kB; 8 MiB is far above any honest answer and
# keeps a runaway body from filling the caller's memory before the deadline ends it.
MAX_ANSWER = 8 * 1024 * 1024


class Refused(Exception):
    """The answer broke the protocol; the message says how, for the decision's `error`."""


class Late(Exception):
    """The call's deadline passed while the answer was still arriving."""


class Body:
    """The body, taken chunk by chunk against the call's deadline: a per-read timeout alone
    lets a body trickled a byte at a time run for ever (an allow once arrived after 21.5 s
    under `timeout=2.0`)."""

    def __init__(self, deadline: float, now: Callable[[], float]) -> None:
        self._deadline = deadline
        self._now = now
        self._parts: list[bytes] = []
        self._size = 0

    def add(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > MAX_ANSWER:
            raise Refused(f"the answer is over {MAX_ANSWER} bytes")
        self._parts.append(chunk)
        if self._now() >= self._deadline:
            raise Late

    def read(self) -> bytes:
        return b"".join(self._parts)


def check_media_type(content_type: str | None) -> None:
    media = (content_type or "").partition(";")[0].strip().lower()
    if media != MEDIA_TYPE:
        shown = content_type or "none"
        raise Refused(f"the answer's content type is `{shown}`, not `{MEDIA_TYPE}`")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # The sidecar refuses duplicate keys; reading the last one would let `{"decision": false,
    # "decision": true}` through as an allow.
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise Refused(f"the answer repeats the key `{key}`")
        found[key] = value
    return found


def _no_constant(name: str) -> Any:
    raise Refused(f"the answer holds `{name}`, which is not JSON")


def parse(raw: bytes) -> Any:
    """Strict JSON: UTF-8, no duplicate keys, no NaN or Infinity."""
    try:
        text = raw.decode("utf-8")
        return json.loads(text, object_pairs_hook=_unique, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(f"the answer is not JSON: {exc}") from None


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def decision(item: Any, where: str) -> tuple[bool, dict[str, Any]]:
    """One AuthZEN decision: an object whose `decision` is a JSON boolean and whose `context`,
    when present, is an object."""
    if not isinstance(item, dict):
        raise Refused(f"{where} is not an object: {_shown(item)}")
    if "decision" not in item:
        raise Refused(f"{where} has no `decision`")
    verdict = item["decision"]
    if not isinstance(verdict, bool):
        raise Refused(f"{where}: `decision` is not a boolean: {_shown(verdict)}")
    context = item.get("context", {})
    if not isinstance(context, dict):
        raise Refused(f"{where}: `context` is not an object: {_shown(context)}")
    return verdict, context


def batch(data: Any, asked: int, semantic: str) -> list[tuple[bool, dict[str, Any]]]:
    """One boolean decision per item, in the items' order. Only a short-circuiting semantic may
    answer fewer, and then it must have stopped where its rule says: at the first deny
    (deny_on_first_deny) or the first permit (permit_on_first_permit)."""
    if not isinstance(data, dict) or not isinstance(data.get("evaluations"), list):
        raise Refused("the answer has no `evaluations` list")
    items: list[Any] = data["evaluations"]
    answers = [decision(item, f"evaluations[{i}]") for i, item in enumerate(items)]
    count = f"the answer has {len(answers)} decisions for {asked} items"
    if not answers or len(answers) > asked:
        raise Refused(count)
    if semantic == "execute_all":
        if len(answers) != asked:
            raise Refused(count)
        return answers
    stop = semantic == "permit_on_first_permit"  # the verdict that ends the batch
    first = next((i for i, (verdict, _) in enumerate(answers) if verdict is stop), None)
    if first is None and len(answers) < asked:
        raise Refused(f"{count}, and none of them is where {semantic} stops")
    if first is not None and first != len(answers) - 1:
        raise Refused(f"{count}: {semantic} stops at evaluations[{first}]")
    return answers


# What a search result must be, by kind: AuthZEN's subject, resource and action objects.
RESULT_KEYS: Mapping[str, tuple[str, ...]] = {
    "subject": ("type", "id"),
    "resource": ("type", "id"),
    "action": ("name",),
}


def page(data: Any, kind: str) -> tuple[list[dict[str, Any]], str | None]:
    """A search page: `results` a list of objects with string `type` and `id` (a subject or a
    resource) or `name` (an action); `page.next_token` a string when present."""
    if not isinstance(data, dict):
        raise Refused(f"the answer is not an object: {_shown(data)}")
    results = data.get("results")
    if not isinstance(results, list):
        raise Refused(f"`results` is not a list: {_shown(results)}")
    for i, result in enumerate(results):
        _check_result(result, f"results[{i}]", RESULT_KEYS[kind])
    paging = data.get("page", {})
    if paging is None:
        paging = {}
    if not isinstance(paging, dict):
        raise Refused(f"`page` is not an object: {_shown(paging)}")
    token = paging.get("next_token")
    if token is not None and not isinstance(token, str):
        raise Refused(f"`page.next_token` is not a string: {_shown(token)}")
    return list(results), token or None


def _check_result(result: Any, where: str, keys: tuple[str, ...]) -> None:
    if not isinstance(result, dict):
        raise Refused(f"{where} is not an object: {_shown(result)}")
    for key in keys:
        if not isinstance(result.get(key), str) or not result[key]:
            raise Refused(f"{where}: `{key}` is not a non-empty string: {_shown(result.get(key))}")


# A query plan (POST /access/v1/plan/resource): which records of a type a user may act on, as
# a condition tree over a record's own attributes. Every node is read strictly: an operator
# or a key the client does not know could change what the tree admits, so it is refused.
PLAN_KINDS = ("always", "never", "conditional")
TREE_KEYS: Mapping[str, frozenset[str]] = {
    "true": frozenset({"op"}),
    "false": frozenset({"op"}),
    "eq": frozenset({"op", "path", "value"}),
    "in": frozenset({"op", "path", "values"}),
    "is_null": frozenset({"op", "path"}),
    "not": frozenset({"op", "arg"}),
    "and": frozenset({"op", "args"}),
    "or": frozenset({"op", "args"}),
}
MAX_DEPTH = 64  # far deeper than any plan the sidecar folds (it flattens and/or)


def _scalar(value: Any) -> bool:
    # what a record's attribute holds: a string, a boolean or an integer (never null: `eq`
    # with null would read as "is null" in one place and as false in another)
    return isinstance(value, str | bool | int)


def tree(node: Any, where: str = "condition", depth: int = 0) -> None:
    """A condition tree: `true`, `false`, `eq`, `in`, `is_null` (a `path` each: a non-empty
    string), `not` (one `arg`), `and`/`or` (a non-empty list of `args`), and no other key."""
    if depth > MAX_DEPTH:
        raise Refused(f"{where}: the condition is nested over {MAX_DEPTH} deep")
    if not isinstance(node, dict):
        raise Refused(f"{where} is not an object: {_shown(node)}")
    op = node.get("op")
    if not isinstance(op, str) or op not in TREE_KEYS:
        raise Refused(f"{where}: unknown operator {_shown(op)}")
    if set(node) != TREE_KEYS[op]:
        keys = ", ".join(sorted(TREE_KEYS[op]))
        raise Refused(f"{where}: `{op}` takes the keys {keys}, not {_shown(sorted(node))}")
    if "path" in node and (not isinstance(node["path"], str) or not node["path"]):
        raise Refused(f"{where}: `path` is not a non-empty string: {_shown(node['path'])}")
    if op == "eq" and not _scalar(node["value"]):
        raise Refused(f"{where}: `value` is not a string, boolean or integer")
    if op == "in" and (
        not isinstance(node["values"], list) or not all(_scalar(v) for v in node["values"])
    ):
        raise Refused(f"{where}: `values` is not a list of strings, booleans or integers")
    if op == "not":
        tree(node["arg"], f"{where}.arg", depth + 1)
    if op in ("and", "or"):
        args = node["args"]
        if not isinstance(args, list) or not args:
            raise Refused(f"{where}: `args` is not a non-empty list: {_shown(args)}")
        for i, arg in enumerate(args):
            tree(arg, f"{where}.args[{i}]", depth + 1)


def plan(data: Any, subject: str, action: str, kind: str) -> dict[str, Any]:
    """A plan for what was asked: `kind` one of always/never/conditional and agreeing with the
    condition (`true` is always, `false` never), the subject, action and resource type asked
    about, a policy version, and on a view that admits records, the fields to redact."""
    if not isinstance(data, dict):
        raise Refused(f"the answer is not an object: {_shown(data)}")
    asked = {"subject": subject, "action": action, "resource_type": kind}
    for key, value in asked.items():
        if data.get(key) != value:
            raise Refused(f"the plan's `{key}` is {_shown(data.get(key))}, not {_shown(value)}")
    if data.get("kind") not in PLAN_KINDS:
        raise Refused(f"the plan's `kind` is not one of {', '.join(PLAN_KINDS)}")
    if "condition" not in data:
        raise Refused("the plan has no `condition`")
    tree(data["condition"])
    op = data["condition"]["op"]
    expected = {"true": "always", "false": "never"}.get(op, "conditional")
    if data["kind"] != expected:
        raise Refused(f"the plan's `kind` is `{data['kind']}`, but its condition is `{op}`")
    if not isinstance(data.get("policy_version"), str):
        raise Refused("the plan's `policy_version` is not a string")
    for key in ("redact_fields", "reasons", "missing"):
        if key in data and not (
            isinstance(data[key], list) and all(isinstance(x, str) for x in data[key])
        ):
            raise Refused(f"the plan's `{key}` is not a list of strings")
    if action == "view" and op != "false" and "redact_fields" not in data:
        # a view that admits records must say what to hide in them, if only nothing
        raise Refused("the plan of a view has no `redact_fields`")
    return data
