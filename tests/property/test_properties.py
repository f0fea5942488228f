"""Properties P1-P5 over generated orgs. `make prove` runs >= 20,000 orgs per property."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from suite_authz.engine.core import Engine, Request
from suite_authz.engine.core.catalogue import RECORD_ACTIONS
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import load_policies
from tests.conftest import GENERATED, POLICIES
from tests.strategies import MODULES, PRODUCTS, orgs, record_requests, seats

POLICY_SET = load_policies(POLICIES)
INTEGRATION_GRANT = {
    "books": {
        (m, a)
        for m in ("estimate", "sales_order", "invoice", "purchase_order")
        for a in ("view", "create", "edit")
    },
    "subscriptions": {
        ("subscription", "view"),
        ("subscription", "create"),
        ("report", "view"),
        ("dashboard", "view"),
    },
}
RESTRICTIONS = {"D3", "D5", "D7", "D8", "D12"}


def engine_for(data: dict[str, Any]) -> Engine:
    return Engine(POLICY_SET, load_org(data, POLICY_SET.catalogue))


def decide(engine: Engine, req: dict[str, Any]) -> Any:
    return engine.decide(Request(**req))


def user_of(data: dict[str, Any], uid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(u for u in data["users"] if u["id"] == uid)
    return found


@st.composite
def org_and_request(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    data = draw(orgs())
    subject = draw(st.sampled_from([u["id"] for u in data["users"] if u["id"] != "owner"]))
    return data, draw(record_requests(data, subject))


@given(org_and_request(), st.data())
def test_p1_non_interference_other_users_rights_never_change_a_decision(
    case: tuple[dict[str, Any], dict[str, Any]], data: st.DataObject
) -> None:
    check_p1_non_interference(*case, data, None)


def check_p1_non_interference(
    org: dict[str, Any], req: dict[str, Any], data: st.DataObject, engine: Engine | None
) -> None:
    GENERATED["P1 non-interference"] += 1
    before = decide(engine or engine_for(org), req).to_dict()

    changed = copy.deepcopy(org)
    role_ids = {p: [r["id"] for r in changed["roles"] if r["product"] == p] for p in PRODUCTS}
    profile_ids = [p["id"] for p in changed["profiles"]]
    for other in changed["users"]:
        if other["id"] == req["subject"]:
            continue
        memberships, enrolments = data.draw(seats(role_ids))
        other.update(
            memberships=memberships,
            enrolments=enrolments,
            crm_admin=data.draw(st.booleans()),
            profile=data.draw(st.sampled_from(profile_ids)),
        )
    # Every other user becomes an admin of everything, in every product: still nothing flows.
    if data.draw(st.booleans()):
        for other in changed["users"]:
            if other["id"] != req["subject"]:
                other.update(
                    crm_admin=True,
                    profile="everything",
                    enrolments=[],
                    memberships=[{"product": p, "role": f"{p}-owner"} for p in PRODUCTS],
                )
    changed["integration_owner"] = data.draw(st.sampled_from([u["id"] for u in changed["users"]]))
    # Migration enrolments of others change the org's count, which only D12 admin actions read.
    after = decide(engine_for(changed), req).to_dict()
    assert after == before


@given(org_and_request())
def test_p1_non_member_never_exceeds_the_integration_grant_on_books_records(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    check_p1_books_bound(*case, None)


def check_p1_books_bound(org: dict[str, Any], req: dict[str, Any], engine: Engine | None) -> None:
    GENERATED["P1 books non-member bound"] += 1
    subject = user_of(org, req["subject"])
    kind = req["resource_type"]
    member_of = {m["product"] for m in subject["memberships"]}
    if "books" in member_of or "books" not in MODULES[kind]:
        return
    if "subscriptions" in member_of and "subscriptions" in MODULES[kind]:
        return  # a shared module opened by the Subscriptions role is D6, not borrowed rights
    d = decide(engine or engine_for(org), req)
    if d.allowed:
        assert (kind, req["action"]) in INTEGRATION_GRANT["books"] | INTEGRATION_GRANT[
            "subscriptions"
        ]
        assert req["action"] not in ("delete", "approve", "void")
        assert d.acting_as is not None and d.acting_as.user == req["subject"]


@given(org_and_request())
def test_p2_no_membership_no_access(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    check_p2_no_membership(*case)


def check_p2_no_membership(org: dict[str, Any], req: dict[str, Any]) -> None:
    """Changes `org`: pass a copy."""
    GENERATED["P2 no membership"] += 1
    subject = user_of(org, req["subject"])
    subject["memberships"] = [
        m for m in subject["memberships"] if m["product"] not in MODULES[req["resource_type"]]
    ]
    subject["enrolments"] = [
        e for e in subject["enrolments"] if e["product"] not in MODULES[req["resource_type"]]
    ]
    for profile in org["profiles"]:
        if profile["id"] == subject["profile"]:
            profile["allows"] = {m: ["*"] for m in MODULES}  # whatever the CRM profile says
    subject["crm_admin"] = True
    d = decide(engine_for(org), req)
    assert not d.allowed
    assert "D2" in d.rules or d.rules == ("D12",)  # D12: the org is not on the per-user model


@given(org_and_request())
def test_p3_union_of_enrolments_is_exactly_the_union_bounded_by_restrictions(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    check_p3_union(*case)


def check_p3_union(org: dict[str, Any], req: dict[str, Any]) -> None:
    """Changes `org`: pass a copy."""
    GENERATED["P3 union"] += 1
    subject = user_of(org, req["subject"])
    subject["memberships"] = []
    variants = {}
    for name, products in {
        "both": PRODUCTS,
        "books": ("books",),
        "subscriptions": ("subscriptions",),
    }.items():
        subject["enrolments"] = [{"product": p} for p in products]
        variants[name] = decide(engine_for(org), req)
    both, single = variants["both"], (variants["books"], variants["subscriptions"])
    if both.allowed:
        assert any(d.allowed for d in single)  # the union never widens past a single grant
        assert "D9" in both.rules
    elif any(d.allowed for d in single):
        # only a restriction can take away what one enrolment opens
        assert set(both.rules) & RESTRICTIONS and both.policies, both
    for d in single:
        if d.policies and not d.allowed and set(d.rules) & {"D3", "D5", "D8"}:
            assert not both.allowed  # D3/D5/D8 still restrict the union


@given(org_and_request())
def test_p4_unified_member_allowed_in_crm_implies_allowed_by_role(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    check_p4_unified(*case)


def check_p4_unified(org: dict[str, Any], req: dict[str, Any]) -> None:
    """Changes `org`: pass a copy."""
    GENERATED["P4 unified"] += 1
    subject = user_of(org, req["subject"])
    subject["enrolments"] = []
    d = decide(engine_for(org), req)
    if not d.allowed:
        return
    kind, action = req["resource_type"], req["action"]
    roles = {r["id"]: r for r in org["roles"]}
    granted = False
    for m in subject["memberships"]:
        if m["product"] not in MODULES[kind]:
            continue
        actions = roles[m["role"]]["grants"].get(kind, [])
        granted |= "*" in actions or action in actions
    assert granted, (req, d)
    assert d.acting_as is not None and d.acting_as.product in MODULES[kind]


junk = st.text(max_size=12) | st.sampled_from(
    ['" || true || "', 'User::"owner"', "owner", "u0", "", "*", "view", "estimate", "r0"]
)
# Values equal across types (1 == 1.0 == True): only the integer is a valid count.
MIXED = st.sampled_from([1, 1.0, True, False, -0.0, 0, "1"])
CONTEXT_KEY = junk | st.sampled_from(["enrolments", "acting_as", "product", "sender"])


def _as_ints(context: dict[str, Any]) -> dict[str, Any]:
    """The context with every number-like value as the integer it equals."""
    return {k: int(v) if isinstance(v, bool | float) else v for k, v in context.items()}


# subject, action, resource type, resource id, channel, fields, context: anything at all.
JUNK_REQUEST = st.tuples(
    junk,
    junk,
    junk,
    st.one_of(st.none(), junk),
    junk,
    st.lists(junk, max_size=2),
    st.dictionaries(CONTEXT_KEY, junk | st.integers() | MIXED, max_size=2),
)


@given(orgs(), JUNK_REQUEST)
def test_p5_malformed_or_unknown_input_never_allows(org: dict[str, Any], junk_request: Any) -> None:
    check_p5_fail_closed(org, junk_request, None)


def check_p5_fail_closed(org: dict[str, Any], junk_request: Any, engine: Engine | None) -> None:
    GENERATED["P5 fail closed"] += 1
    subject, action, kind, rid, channel, fields, context = junk_request
    engine = engine or engine_for(org)
    request = Request(subject, action, kind, rid, channel, tuple(fields), context)
    d = engine.decide(request)
    # A cache that has seen the same request with integers answers this one as if it had not.
    cached = Engine(POLICY_SET, engine.org, cache_size=4, index=engine.index)
    cached.decide(Request(subject, action, kind, rid, channel, tuple(fields), _as_ints(context)))
    assert cached.decide(request) == d
    if d.allowed:
        # Only a request that is entirely valid and names known ids may be allowed.
        assert subject in {u["id"] for u in org["users"]}
        assert action in RECORD_ACTIONS or action in ("enrol_integration_user", "run_migration")
        assert channel in ("crm", "direct")
        assert d.acting_as is not None and d.acting_as.user == subject
        assert not d.errors


@given(org_and_request())
def test_p5_every_allow_acts_as_the_requesting_user_and_sends_from_their_address(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    check_p5_own_identity(*case, None)


def check_p5_own_identity(org: dict[str, Any], req: dict[str, Any], engine: Engine | None) -> None:
    GENERATED["P5 own identity"] += 1
    d = decide(engine or engine_for(org), req)
    if d.allowed:
        assert d.acting_as is not None and d.acting_as.user == req["subject"]
        assert d.acting_as.product in MODULES[req["resource_type"]]
        if req["action"] == "send_email":
            assert d.sender == user_of(org, req["subject"])["email"]
        else:
            assert d.sender is None
    else:
        assert d.acting_as is None and d.sender is None


@given(orgs(), st.data())
def test_p6_a_cached_decision_is_the_decision(org: dict[str, Any], data: st.DataObject) -> None:
    check_p6_cache(org, data, None)


def check_p6_cache(org: dict[str, Any], data: st.DataObject, plain: Engine | None) -> None:
    """The sidecar's decision cache (tiny here, so that it evicts) never answers differently
    from the engine without one, whatever the order and repetition of requests."""
    GENERATED["P6 decision cache"] += 1
    subjects = [u["id"] for u in org["users"]]
    base = data.draw(
        st.lists(
            st.sampled_from(subjects).flatmap(lambda s: record_requests(org, s)),
            min_size=1,
            max_size=4,
        )
    )
    # Each request beside neighbours that differ from it in one part only: a cache key that
    # forgot a part would answer one with the other's decision.
    same_type = {
        r["type"]: [x["id"] for x in org["records"] if x["type"] == r["type"]]
        for r in org["records"]
    }
    asks = []
    for ask in base:
        asks.append(ask)
        ids = [None, *same_type.get(ask["resource_type"], [])]
        asks += [
            {**ask, "subject": data.draw(st.sampled_from(subjects))},
            {**ask, "action": data.draw(st.sampled_from(RECORD_ACTIONS))},
            {**ask, "resource_id": data.draw(st.sampled_from(ids))},
            {**ask, "channel": "direct" if ask["channel"] == "crm" else "crm"},
            {**ask, "fields": ("discount",) if ask["fields"] else ()},
            {**ask, "context": {} if ask["context"] else {"acting_as": "owner"}},
        ]
    # A migration's count in every type equal to an integer: only the integer is valid.
    admin = data.draw(st.sampled_from(subjects))
    for value in data.draw(st.lists(MIXED, min_size=1, max_size=4)):
        asks.append(
            {
                "subject": admin,
                "action": "run_migration",
                "resource_type": "org",
                "resource_id": org["id"],
                "channel": "crm",
                "fields": (),
                "context": {"enrolments": value},
            }
        )
    plain = plain or engine_for(org)
    cached = Engine(
        POLICY_SET, plain.org, cache_size=data.draw(st.integers(1, 4)), index=plain.index
    )
    order = data.draw(st.lists(st.integers(0, len(asks) - 1), max_size=16))
    for n in order + list(range(len(asks))):
        probe = data.draw(st.booleans())
        request = Request(**asks[n])
        assert cached.decide(request, probe=probe) == plain.decide(request, probe=probe)
    requests = [Request(**a) for a in asks]
    assert cached.decide_many(requests) == plain.decide_many(requests)
