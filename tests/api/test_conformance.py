"""AuthZEN Authorization API 1.0, point by point: each test names the section of the spec
(openid/authzen, api/authorization-api-1_0.md) whose normative statement it checks.

The one documented extension: `resource.id` "#new" asks about a new record of the type (no
real record id can start with `#`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.conftest import evaluation
from tests.cli.runner import run

EVAL = "/access/v1/evaluation"
EVALS = "/access/v1/evaluations"


def _ask(subject: str, action: str, kind: str, rid: str = "#new", **ctx: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": {"type": kind, "id": rid},
    }
    if ctx:
        body["context"] = ctx
    return body


# --- 4 Information Model -------------------------------------------------------------------


def test_resource_id_is_required_and_a_missing_one_says_how_to_ask_about_a_new_record(
    client: TestClient,
) -> None:
    """Section 4.2 (Resource): `id` REQUIRED; Section 9.1.1: an omitted required attribute is
    a 400."""
    body = _ask("asha", "create", "estimate")
    del body["resource"]["id"]
    r = client.post(EVAL, json=body)
    assert r.status_code == 400
    assert "resource.id: required" in r.json()["message"] and '"#new"' in r.json()["message"]


def test_the_new_record_id_asks_about_a_new_record(client: TestClient) -> None:
    """The extension: "#new" is the id of a record not yet created."""
    r = client.post(EVAL, json=_ask("asha", "create", "estimate"))
    assert r.status_code == 200 and r.json()["decision"] is True
    r = client.post(EVAL, json=_ask("chen", "create", "estimate"))
    assert r.status_code == 200 and r.json()["decision"] is False


@pytest.mark.parametrize("part", ["subject", "action", "resource"])
def test_every_required_entity_is_required(client: TestClient, part: str) -> None:
    """Sections 6.1 and 9.1.1: subject, action and resource are REQUIRED: 400 without one."""
    body = _ask("asha", "view", "estimate", "est-1")
    del body[part]
    r = client.post(EVAL, json=body)
    assert r.status_code == 400 and part in r.json()["message"]


def test_a_deny_is_200_with_decision_false(client: TestClient) -> None:
    """Section 9.1.2: a deny is 200 with `decision: false`, never an error status."""
    r = client.post(EVAL, json=_ask("asha", "delete", "estimate", "est-1"))
    assert r.status_code == 200 and r.json()["decision"] is False


def test_unknown_fields_are_ignored(client: TestClient) -> None:
    """Section 9.1.1: receivers MUST ignore unknown fields."""
    body = {**_ask("asha", "view", "estimate", "est-1"), "extra": {"x": 1}}
    body["subject"]["properties"] = {"department": "sales"}
    r = client.post(EVAL, json=body)
    assert r.status_code == 200 and r.json()["decision"] is True


# --- 7 Access Evaluations API -----------------------------------------------------------------


def test_an_empty_evaluations_array_behaves_as_a_single_evaluation(client: TestClient) -> None:
    """Section 7.1: an absent or empty `evaluations` array behaves as the single Access
    Evaluation request."""
    for body in (
        _ask("asha", "view", "estimate", "est-1"),
        {**_ask("asha", "view", "estimate", "est-1"), "evaluations": []},
    ):
        r = client.post(EVALS, json=body)
        assert r.status_code == 200
        assert r.json()["decision"] is True and "evaluations" not in r.json()


def test_defaults_apply_and_an_item_overrides_them(client: TestClient) -> None:
    """Section 7.1.1: top-level values are defaults for each item; an item's own wins."""
    body = {
        "subject": {"type": "user", "id": "asha"},
        "action": {"name": "view"},
        "evaluations": [
            {"resource": {"type": "estimate", "id": "est-1"}},
            {"resource": {"type": "estimate", "id": "est-1"}, "action": {"name": "delete"}},
        ],
    }
    r = client.post(EVALS, json=body)
    assert [e["decision"] for e in r.json()["evaluations"]] == [True, False]


@pytest.mark.parametrize(
    ("semantic", "count"),
    [("execute_all", 3), ("deny_on_first_deny", 2), ("permit_on_first_permit", 1)],
)
def test_the_three_evaluation_semantics(client: TestClient, semantic: str, count: int) -> None:
    """Section 7.1.2.1: execute_all, deny_on_first_deny, permit_on_first_permit."""
    body = {
        "subject": {"type": "user", "id": "asha"},
        "resource": {"type": "estimate", "id": "est-1"},
        "evaluations": [
            {"action": {"name": "view"}},
            {"action": {"name": "delete"}},
            {"action": {"name": "edit"}},
        ],
        "options": {"evaluations_semantic": semantic},
    }
    assert len(client.post(EVALS, json=body).json()["evaluations"]) == count


def test_an_error_in_one_item_is_a_false_decision_with_its_error(client: TestClient) -> None:
    """Section 7.2.1: errors in individual evaluations default closed, with the error in the
    item's context."""
    body = {
        "evaluations": [
            _ask("asha", "view", "estimate", "est-1"),
            _ask("asha", "veiw", "estimate", "est-1"),
        ]
    }
    items = client.post(EVALS, json=body).json()["evaluations"]
    assert items[0]["decision"] is True
    assert items[1]["decision"] is False and items[1]["context"]["error"]["status"] == 400


# --- 8 Search APIs: pagination ---------------------------------------------------------------


def _search(client: TestClient, page: dict[str, Any]) -> Any:
    body = {**evaluation("asha", "view", "estimate"), "page": page}
    return client.post("/access/v1/search/resource", json=body)


def test_a_token_with_a_changed_limit_is_refused(client: TestClient) -> None:
    """Section 8.2: with a token, `limit` MUST be identical; the PDP SHOULD return an error."""
    first = _search(client, {"limit": 1}).json()
    token = first["page"]["next_token"]
    assert token
    r = _search(client, {"limit": 2, "token": token})
    assert r.status_code == 400 and "changed since this token was issued" in r.json()["message"]
    assert _search(client, {"limit": 1, "token": token}).status_code == 200


@pytest.mark.parametrize("key", ["next_token", "offset", "size"])
def test_an_unknown_page_key_is_refused_not_ignored(client: TestClient, key: str) -> None:
    """Section 8.2.1: keys beyond token, limit and properties MUST be defined by a registered
    capability, which this PDP declares none of: a request sending `page.next_token` would
    otherwise get page one again, for ever."""
    r = _search(client, {"limit": 1, key: "x"})
    assert r.status_code == 400 and f"page.{key}: unknown" in r.json()["message"]


def test_limit_zero_is_refused_rather_than_paged_for_ever(client: TestClient) -> None:
    """Section 8.2.1: a page of at most 0 results never moves on; refused with how to ask."""
    r = _search(client, {"limit": 0})
    assert r.status_code == 400 and "page.limit" in r.json()["message"]


def test_the_last_page_has_an_empty_next_token(client: TestClient) -> None:
    """Section 8.2.2: the last page's `next_token` MUST be an empty string."""
    token, pages = None, 0
    while True:
        page = {"limit": 1, **({"token": token} if token else {})}
        body = _search(client, page).json()
        pages += 1
        token = body["page"]["next_token"]
        if token == "":
            break
        assert pages < 50
    assert pages >= 2


# --- 9 Metadata ------------------------------------------------------------------------------


def test_metadata_names_the_configured_identifier_never_the_host_header(
    public: TestClient,
) -> None:
    """Section 9.1 and 9.2.3: `policy_decision_point` is the https identifier the metadata was
    fetched under, never what the request's Host says (mix-up protection)."""
    r = public.get("/.well-known/authzen-configuration", headers={"Host": "evil.example"})
    doc = r.json()
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert doc["policy_decision_point"] == "https://pdp.example.com"
    assert doc["access_evaluation_endpoint"] == "https://pdp.example.com/access/v1/evaluation"
    assert "evil" not in r.text


def test_metadata_lists_only_endpoints_that_answer(public: TestClient) -> None:
    """Section 9.1.1: a parameter present means the PDP serves that API."""
    doc = public.get("/.well-known/authzen-configuration").json()
    for key, url in doc.items():
        if key.endswith("_endpoint"):
            path = url.removeprefix("https://pdp.example.com")
            body = _ask("asha", "view", "estimate", "est-1")
            assert public.post(path, json=body).status_code != 404, key
    assert "capabilities" not in doc  # none declared: omitted, not empty


# --- 10 Transport ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [EVAL, EVALS, "/access/v1/search/resource"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_request_that_is_not_application_json_is_a_415(
    client: TestClient, path: str, content_type: str | None
) -> None:
    """Section 10.1: requests MUST carry `Content-Type: application/json`."""
    headers = {"content-type": content_type} if content_type else {}
    import json

    r = client.post(
        path, content=json.dumps(_ask("asha", "view", "estimate", "est-1")), headers=headers
    )
    assert r.status_code == 415
    assert "application/json" in r.json()["message"]
    assert r.headers["content-type"].startswith("application/json")


def test_json_with_a_charset_is_json(client: TestClient) -> None:
    import json

    r = client.post(
        EVAL,
        content=json.dumps(_ask("asha", "view", "estimate", "est-1")),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 200


def test_a_401_carries_www_authenticate_bearer(guarded: TestClient) -> None:
    """Section 10.1.2 (401) with RFC 6750: the challenge names the Bearer scheme."""
    for path in (EVAL, "/access/v1/search/resource"):
        r = guarded.post(path, json=_ask("asha", "view", "estimate", "est-1"))
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


def test_the_request_id_is_echoed(client: TestClient) -> None:
    """Section 10.1.3: the same X-Request-ID comes back."""
    r = client.post(EVAL, json=_ask("asha", "view", "estimate", "est-1"),
                    headers={"X-Request-ID": "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"})  # fmt: skip
    assert r.headers["x-request-id"] == "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"
    arbitrary = 'crm job 42 / "retry" ?x=1&y=<2>'  # an arbitrary string: the same comes back
    r = client.post(EVAL, json=_ask("asha", "view", "estimate", "est-1"),
                    headers={"X-Request-ID": arbitrary})  # fmt: skip
    assert r.headers["x-request-id"] == arbitrary


# --- 9.2 Multiple tenants: one base URL per org ----------------------------------------------


def test_each_org_has_its_own_identifier_metadata_and_endpoints(two_orgs: TestClient) -> None:
    """Section 9.2: a tenant's metadata at /.well-known/authzen-configuration/{tenant}, naming
    its own identifier and endpoints."""
    doc = two_orgs.get("/.well-known/authzen-configuration/demo").json()
    assert doc["policy_decision_point"] == "https://pdp.example.com/demo"
    assert doc["access_evaluation_endpoint"] == "https://pdp.example.com/demo/access/v1/evaluation"
    r = two_orgs.post("/demo/access/v1/evaluation", json=_ask("asha", "view", "estimate", "est-1"))
    assert r.status_code == 200 and r.json()["decision"] is True
    assert two_orgs.get("/.well-known/authzen-configuration/nope").status_code == 404


def test_an_orgs_path_never_reaches_another_orgs_data(two_orgs: TestClient) -> None:
    """The org is the path's: a body naming another org is refused, in a batch item too."""
    asks_other = _ask("asha", "view", "estimate", "est-1", org="legacy")
    r = two_orgs.post("/demo/access/v1/evaluation", json=asks_other)
    assert r.status_code == 400 and "context.org" in r.json()["message"]
    items = two_orgs.post("/demo/access/v1/evaluations", json={"evaluations": [asks_other]})
    assert items.json()["evaluations"][0]["decision"] is False
    # legacy's users are not demo's: asking demo's path about them finds nobody
    r = two_orgs.post("/demo/access/v1/evaluation", json=_ask("ivy", "view", "estimate"))
    assert r.json()["decision"] is False
    r = two_orgs.post("/legacy/access/v1/evaluation", json=_ask("ivy", "view", "estimate"))
    assert r.json()["decision"] is True
    r = two_orgs.post(
        "/demo/access/v1/search/subject",
        json={"subject": {"type": "user"}, "action": {"name": "view"},
              "resource": {"type": "estimate", "id": "#new"}},
    )  # fmt: skip
    found = {x["id"] for x in r.json()["results"]}
    assert found and found.isdisjoint({"olga", "arun", "ivy"})
    assert two_orgs.post("/nope/access/v1/evaluation", json=asks_other).status_code == 404


def test_the_root_paths_still_route_on_context_org(two_orgs: TestClient) -> None:
    r = two_orgs.post(EVAL, json=_ask("ivy", "view", "estimate", org="legacy"))
    assert r.status_code == 200 and r.json()["decision"] is True


def test_beyond_loopback_the_pdp_identifier_must_be_configured(tmp_path: Path) -> None:
    """Section 9.1: `policy_decision_point` is an https URL; the server never makes it up
    from the request when it is reachable from elsewhere."""
    token = tmp_path / "token"
    token.write_text("t" * 40)
    token.chmod(0o600)
    store = str(tmp_path / "s.sqlite3")
    code, _, err = run("serve", "--host", "0.0.0.0", "--token-file", str(token), "--store", store)
    assert code == 2 and "--public-url https://" in err
    for bad in ("http://pdp.example.com", "https://pdp.example.com/?x=1", "ftp://pdp"):
        code, _, err = run("serve", "--public-url", bad, "--store", store, "--port", "1")
        assert code == 2 and f"--public-url {bad}" in err, err
