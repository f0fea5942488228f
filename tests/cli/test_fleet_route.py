"""`authz fleet route`: an org's shard (and sidecar), the whole table from a store, and the
nginx map a load balancer routes by; bad input refused by name."""

from __future__ import annotations

import json
from pathlib import Path

from suite_authz.engine.serving import shard_of
from tests.cli.runner import run
from tests.conftest import DEMO


def test_an_org_s_shard_and_sidecar() -> None:
    code, out, _ = run("fleet", "route", "demo", "tenant-02", "--shards", "3")
    assert code == 0 and out.splitlines() == ["demo\t2/3", "tenant-02\t1/3"]
    urls = [f"--sidecar=https://pdp-{n}.example/" for n in (1, 2, 3)]
    code, out, _ = run("fleet", "route", "demo", "--shards", "3", *urls, "--json")
    assert code == 0
    assert json.loads(out) == [
        {"org": "demo", "shard": 2, "shards": 3, "sidecar": "https://pdp-2.example/demo"}
    ]


def test_the_table_of_a_store_as_an_nginx_map(tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite3")
    assert run("org", "import", str(DEMO), "--store", store)[0] == 0
    code, out, _ = run("fleet", "route", "--all-orgs", "--store", store, "--shards", "4",
                       "--format", "nginx")  # fmt: skip
    assert code == 0
    assert out.splitlines() == [
        "map $authz_org $authz_shard {",
        "    default 1;",
        f'    "demo" {shard_of("demo", 4)};',
        "}",
    ]


def test_bad_input_is_refused_by_name() -> None:
    code, _, err = run("fleet", "route", "demo", "--shards", "3", "--sidecar", "http://a")
    assert code == 2 and "--sidecar: give one URL per shard, 3, not 1" in err
    code, _, err = run("fleet", "route", "--shards", "3")
    assert code == 2 and "name the orgs (ORG_IDS) or ask for --all-orgs" in err
    code, _, err = run("fleet", "route", "demo", "--shards", "0")
    assert code == 2 and "--shards" in err
    code, _, err = run("fleet", "route", "a;b", "--shards", "2", "--format", "nginx")
    assert code == 2 and "org `a;b`: an id nginx cannot route on as it is" in err
    code, out, _ = run("fleet", "route", 'a"b', "--shards", "2", "--format", "nginx")
    assert code == 0 and '    "a\\"b"' in out
