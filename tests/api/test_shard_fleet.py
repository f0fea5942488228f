"""A sharded fleet: three `authz serve --shard I/3` on one PostgreSQL store. Each serves the
orgs `authz fleet route` names for it and refuses the others naming the shard that serves
them (a misrouted request is a 400, never another shard's answer); an org imported later is
served by its shard alone, pushed (LISTEN), without a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import evaluation
from tests.api.processes import serving
from tests.api.test_fleet import call
from tests.cli.runner import run
from tests.conftest import DEMO
from tests.postgres import fresh_schema

pytestmark = pytest.mark.slow

TOKEN = "fleet-token-0123456789"
ORGS = [f"tenant-{n:02d}" for n in range(9)]
SETTLE = 20.0


def _write(directory: Path, org_id: str) -> Path:
    data = json.loads(DEMO.read_text())
    data["id"] = org_id
    path = directory / f"{org_id}.json"
    path.write_text(json.dumps(data))
    return path


def _route(*orgs: str) -> dict[str, int]:
    code, out, err = run("fleet", "route", *orgs, "--shards", "3", "--format", "json")
    assert code == 0, err
    return {row["org"]: row["shard"] for row in json.loads(out)}


def _ask(port: int, org: str) -> tuple[int, Any]:
    return call(port, "/access/v1/evaluation",
                {**evaluation("eli", "create", "estimate"), "context": {"org": org}})  # fmt: skip


def test_three_shards_serve_each_org_once_and_name_the_right_one(tmp_path: Path) -> None:
    orgs = tmp_path / "orgs"
    orgs.mkdir()
    for org_id in ORGS:
        _write(orgs, org_id)
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    with fresh_schema() as url:
        assert run("org", "import", str(orgs), "--store", url)[0] == 0
        assert run("policy", "publish", "--store", url, "--as", "shard-test")[0] == 0
        shard = _route(*ORGS)
        assert set(shard.values()) == {1, 2, 3}  # nine orgs reach every shard
        args = ("--store", url, "--token-file", str(token))
        with (
            serving(*args, "--shard", "1/3") as one,
            serving(*args, "--shard", "2/3") as two,
            serving(*args, "--shard", "3/3") as three,
        ):
            ports = {1: one, 2: two, 3: three}
            for number, port in ports.items():  # each says its shard, and holds only its orgs
                _, ready = call(port, "/readyz")
                assert ready["shard"] == f"{number}/3"
                assert set(ready["orgs"]) == {o for o in ORGS if shard[o] == number}
            for org_id in ORGS:
                for number, port in ports.items():
                    status, body = _ask(port, org_id)
                    if number == shard[org_id]:
                        assert status == 200 and body["decision"] is True, (org_id, body)
                    else:
                        assert status == 400, (org_id, number, body)
                        said = f"served by shard {shard[org_id]}/3, this is {number}/3"
                        assert said in json.dumps(body), body
            # the per-org base URL goes through the same routing
            first = ORGS[0]
            status, body = call(ports[shard[first]], f"/{first}/access/v1/evaluation",
                                evaluation("eli", "create", "estimate"))  # fmt: skip
            assert status == 200 and body["decision"] is True

            # its metadata: named by its own shard, a 404 naming the right one elsewhere
            wrong = next(n for n in ports if n != shard[first])
            status, body = call(ports[shard[first]], f"/.well-known/authzen-configuration/{first}")
            assert status == 200 and body["policy_decision_point"].endswith(f"/{first}")
            status, body = call(ports[wrong], f"/.well-known/authzen-configuration/{first}")
            assert status == 404 and f"served by shard {shard[first]}/3" in json.dumps(body)

            # an org imported now: served by its shard once the notice arrives, by no other
            late = "tenant-late"
            home = _route(late)[late]
            assert run("org", "import", str(_write(tmp_path, late)), "--store", url)[0] == 0
            deadline = time.monotonic() + SETTLE
            while _ask(ports[home], late)[0] != 200:
                assert time.monotonic() < deadline, "the new org never reached its shard"
                time.sleep(0.05)
            for number, port in ports.items():
                if number != home:
                    assert _ask(port, late)[0] == 400


def test_with_the_fleet_given_the_metadata_of_another_shards_org_names_its_sidecar(
    tmp_path: Path,
) -> None:
    """AuthZEN's per-tenant metadata is where a client learns an org's PDP: a sidecar told the
    fleet (`--fleet URL...`, in shard order) answers it for any org, naming the sidecar of the
    org's shard (computed from the id alone, so token or not, it says nothing of which orgs
    exist); its own orgs' as before."""
    from starlette.testclient import TestClient

    from suite_authz.server.main import ServeConfig, build

    store = tmp_path / "orgs.sqlite3"
    assert (
        run("org", "import", *(str(_write(tmp_path, o)) for o in ORGS), "--store", str(store))[0]
        == 0
    )
    shard = _route(*ORGS)
    fleet = ("https://one.example", "https://two.example/authz", "https://three.example")
    config = ServeConfig(store=str(store), shard="1/3", fleet=fleet, reload_interval=0)
    app, _ = build(config.validate())
    with TestClient(app) as client:
        for org in ORGS:
            body = client.get(f"/.well-known/authzen-configuration/{org}").json()
            pdp = body["policy_decision_point"]
            if shard[org] == 1:
                assert pdp == f"http://testserver/{org}" or pdp.endswith(f"/{org}")
                assert not pdp.startswith("https://two") and not pdp.startswith("https://three")
            else:
                assert pdp == f"{fleet[shard[org] - 1]}/{org}", (org, pdp)
                assert body["access_evaluation_endpoint"].startswith(pdp)
