"""Deciding by class (engine/core/backends/cedar_classes.py) changes no decision.

Every generated org gets twins: for each user and record, copies that differ from it in one
attribute the policies read (the admin flag, the profile, a seat, a role; a record's status,
submitter, folder, title). Requests are asked in pairs, a request and its neighbour (the same
request on a twin, or with one request attribute changed: channel, fields, acting_as, sender,
enrolments), first of an engine that keeps Cedar's answers per class in a cache small enough
to evict, and each answer must equal a fresh engine's, explanation included.

The mutations show the property has teeth: a key derivation that forgets one attribute the
policies read, or which renamed identities are the same one, fails it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from suite_authz.engine.core import Engine, Request
from suite_authz.engine.core.backends.cedar_classes import ClassKeys
from suite_authz.engine.core.backends.cedar_reads import Reads
from suite_authz.engine.core.entities import EntityLookup
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import load_policies
from tests.conftest import GENERATED, POLICIES
from tests.strategies import FIELDS, admin_requests, orgs, record_requests

POLICY_SET = load_policies(POLICIES)
EVICTING = 16  # classes kept: fewer than a run asks about, so some are evicted and asked again

Mutation = Callable[[Reads, EntityLookup], ClassKeys]


class Mismatch(AssertionError):
    """A class-cached decision differs from the fresh one."""


def _twins_of_user(user: dict[str, Any], profiles: list[str]) -> Iterator[dict[str, Any]]:
    def twin(change: str, **attrs: Any) -> dict[str, Any]:
        made = {**copy.deepcopy(user), **attrs, "id": f"{user['id']}~{change}"}
        made["email"] = f"{made['id']}@org.example"
        return made

    yield twin("admin", crm_admin=not user.get("crm_admin", False))
    others = [p for p in profiles if p != user["profile"]]
    if others:
        yield twin("profile", profile=others[0])
    members, enrolled = user.get("memberships", []), user.get("enrolments", [])
    if members:  # the same product, enrolled instead of licensed
        first = members[0]
        yield twin(
            "enrolled",
            memberships=members[1:],
            enrolments=[*enrolled, {"product": first["product"]}]
            if all(e["product"] != first["product"] for e in enrolled)
            else enrolled,
        )
    if enrolled:
        yield twin("unenrolled", enrolments=enrolled[1:])


def _twins_of_record(rec: dict[str, Any], users: list[str]) -> Iterator[dict[str, Any]]:
    def twin(change: str, **attrs: Any) -> dict[str, Any]:
        return {**rec, **attrs, "id": f"{rec['id']}~{change}"}

    if "status" in rec:
        yield twin("status", status="draft" if rec["status"] != "draft" else "approved")
    if "submitted_by" in rec:
        yield twin("submitter", submitted_by=next(u for u in users if u != rec["submitted_by"]))
    if rec["type"] == "report":
        other = "Sales Reports" if rec.get("folder") != "Sales Reports" else "Subscriptions Reports"
        yield twin("folder", folder=other)
    if rec["type"] in ("report", "dashboard"):
        yield twin(
            "title",
            title="Pipeline" if rec.get("title") != "Pipeline" else "Subscriptions Overview",
        )


def with_twins(org: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(org)
    profiles = [p["id"] for p in org["profiles"]]
    users = [u["id"] for u in org["users"]]
    out["users"] += [t for u in org["users"] for t in _twins_of_user(u, profiles)]
    out["records"] += [t for r in org["records"] for t in _twins_of_record(r, users)]
    return out


def neighbours(request: Request, org: dict[str, Any]) -> Iterator[Request]:
    """Requests that differ from `request` in one thing the policies read."""
    for user in org["users"]:
        if user["id"].startswith(request.subject + "~"):
            yield replace(request, subject=user["id"])
    if request.resource_id is not None:
        for rec in org["records"]:
            if rec["id"].startswith(request.resource_id + "~"):
                yield replace(request, resource_id=rec["id"])
    if request.resource_type == "org":
        yield replace(request, context={"enrolments": 1 + int(str(request.context["enrolments"]))})
        return
    yield replace(request, channel="direct" if request.channel == "crm" else "crm")
    if request.resource_type == "user":
        return
    if request.action == "edit":
        for field in FIELDS[request.resource_type]:
            yield replace(request, fields=(field,))
    context = dict(request.context)
    context.pop("acting_as", None)
    context.pop("sender", None)
    yield replace(request, context={**context, "acting_as": request.subject})
    other = next(u["id"] for u in org["users"] if u["id"] != request.subject)
    yield replace(request, context={**context, "acting_as": other})
    emails = {u["id"]: u["email"] for u in org["users"]}
    yield replace(request, context={**context, "sender": emails[request.subject]})
    yield replace(request, context={**context, "sender": emails[other]})


def check_class_cache(
    org: dict[str, Any], data: st.DataObject, mutation: Mutation | None = None
) -> None:
    GENERATED["class cache = fresh"] += 1
    twinned = with_twins(org)
    fresh = Engine(POLICY_SET, load_org(twinned, POLICY_SET.catalogue))
    cached = Engine(POLICY_SET, fresh.org, index=fresh.index, class_cache=EVICTING)
    if mutation is not None:
        keys = cached.backend.evaluator.keys  # type: ignore[attr-defined]
        cached.backend.evaluator.keys = mutation(  # type: ignore[attr-defined]
            keys.reads, EntityLookup(cached.index)
        )
    users = [u["id"] for u in org["users"]]  # the originals: their twins are neighbours
    requests = [
        Request(**data.draw(record_requests(twinned, data.draw(st.sampled_from(users)))))
        for _ in range(4)
    ]
    for action in ("view", "send_email", "approve", "edit"):
        record = data.draw(st.sampled_from(org["records"]))
        requests.append(
            Request(data.draw(st.sampled_from(users)), action, record["type"], record["id"])
        )
    requests += data.draw(admin_requests(users, 1200))
    for request in requests:
        for asked in (request, *neighbours(request, twinned)):
            explain = data.draw(st.booleans())
            got = cached.decide(asked, probe=explain)
            want = fresh.decide(asked, probe=explain)
            if got != want:
                raise Mismatch(asked, got, want)
    # Asked again, the last ones come from the cache (the first may have been evicted).
    for asked in requests[-3:]:
        if cached.decide(asked) != fresh.decide(asked):
            raise Mismatch(asked)
    status = cached.class_cache()
    assert status.misses == 0 or status.hits > 0  # the cache was used, not bypassed


@given(orgs(min_users=2, max_users=4), st.data())
def test_class_cached_decisions_equal_fresh_ones(org: dict[str, Any], data: st.DataObject) -> None:
    check_class_cache(org, data)


def dropping(*chain: str) -> Mutation:
    def mutate(reads: Reads, lookup: EntityLookup) -> ClassKeys:
        if chain not in reads.chains:  # the mutation must remove something real
            raise ValueError(f"the policies do not read {chain}")
        kept = tuple(c for c in reads.chains if c != chain)
        return ClassKeys(Reads(kept, reads.literal_types, reads.opaque - {chain}), lookup)

    return mutate


def renaming_a_tested_value(reads: Reads, lookup: EntityLookup) -> ClassKeys:
    """Rename a value the policies test for truth, as if they only compared it: every admin
    flag becomes a placeholder, and only whether two flags are equal is kept."""
    opaque = reads.opaque | {("principal", "crm_admin")}
    return ClassKeys(Reads(reads.chains, reads.literal_types, opaque), lookup)


class ForgetsWhoIsWho(ClassKeys):
    """Keeps every value read but not which renamed identities are the same one: a submitter
    is then anyone, and so is an `acting_as` or a `sender`."""

    def key(self, payload: dict[str, Any]) -> tuple[Any, ...]:
        return super().key(payload)[:-1]


MUTATIONS = {
    "resource.status": dropping("resource", "status"),
    "principal.crm_admin": dropping("principal", "crm_admin"),
    "context.channel": dropping("context", "channel"),
    "resource.submitted_by": dropping("resource", "submitted_by"),
    "principal.profile.allows": dropping("principal", "profile", "allows"),
    "context.fields": dropping("context", "fields"),
    "crm_admin renamed as if only compared": renaming_a_tested_value,
    "which identities are the same": ForgetsWhoIsWho,
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_a_key_that_forgets_what_the_policies_read_fails_the_property(name: str) -> None:
    # No shrinking: that a counterexample exists is the point, not the smallest one.
    @settings(
        max_examples=200,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=(Phase.generate,),
    )
    @given(orgs(min_users=2, max_users=4), st.data())
    def mutated(org: dict[str, Any], data: st.DataObject) -> None:
        check_class_cache(org, data, MUTATIONS[name])

    with pytest.raises(Mismatch):
        mutated()
