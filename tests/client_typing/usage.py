"""How a CRM's code uses suite_authz.client, checked with `mypy --strict` as that code would be
(tests/api/test_client_typing.py): every name it touches is typed, none is Any by accident."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from suite_authz.client import (
    AsyncAuthzClient,
    AuthzClient,
    AuthzProtocolError,
    AuthzUnavailable,
    Decision,
    Unplannable,
    evaluation,
)
from suite_authz.client.plan_sql import PlanError, where

INVOICES = sa.Table(
    "invoices",
    sa.MetaData(),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("status", sa.Text),
    sa.Column("submitted_by", sa.Text),
)


def delete_estimate(authz: AuthzClient, user_id: str, estimate_id: str) -> str:
    decision: Decision = authz.check(user_id, "delete", f"estimate:{estimate_id}")
    if not decision:
        reasons: list[str] = decision.reasons
        return "; ".join(reasons)
    acting_as: dict[str, str] | None = decision.acting_as
    return acting_as["user"] if acting_as else ""


def may_edit_all(authz: AuthzClient, user_id: str, ids: list[str]) -> bool:
    items = [evaluation(user_id, "edit", ("estimate", i)) for i in ids]
    try:
        decisions: list[Decision] = authz.check_many(items)
    except AuthzProtocolError as exc:
        print(f"broken answer: {exc}")
        return False
    return authz.all_allowed(items) and all(decisions)


def visible(authz: AuthzClient, user_id: str) -> list[str]:
    return [str(r["id"]) for r in authz.search_resources(user_id, "view", "estimate")]


def editable_invoices(authz: AuthzClient, db: sa.Connection, user_id: str) -> list[str]:
    try:
        plan = authz.plan_resources(user_id, "edit", "invoice")
    except Unplannable:  # ask per record instead
        return [str(r["id"]) for r in authz.search_resources(user_id, "edit", "invoice")]
    columns = {"status": INVOICES.c.status, "submitted_by": INVOICES.c.submitted_by}
    try:
        allowed: sa.ColumnElement[bool] = where(plan["condition"], columns)
    except PlanError as exc:
        raise RuntimeError(f"the invoices table cannot answer this plan: {exc}") from exc
    return [str(i) for i in db.scalars(sa.select(INVOICES.c.id).where(allowed))]


async def ask_async(url: str) -> bool:
    async with AsyncAuthzClient(url, timeout=1.5, retries=1) as authz:
        allowed: bool = await authz.is_allowed("asha", "view", "estimate:est-1")
        found = [r async for r in authz.search_subjects("view", "estimate:est-1")]
        plan: dict[str, object] = await authz.plan_resources("asha", "view", "estimate")
        return allowed and bool(found) and plan["kind"] != "never"


def main() -> None:
    try:
        with AuthzClient("http://127.0.0.1:8181/demo", token="t", raise_errors=True) as authz:
            print(delete_estimate(authz, "asha", "est-1"), visible(authz, "asha"))
    except AuthzUnavailable as exc:
        print(exc)
    print(asyncio.run(ask_async("http://127.0.0.1:8181/demo")))
