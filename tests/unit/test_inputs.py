"""strict_loads: orjson's speed, and still no duplicate key and no deep nesting gets through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suite_authz.engine.core import InvalidOrg, PolicySet, load_org
from suite_authz.engine.core.reading import LIMIT_ENV, MAX_DEPTH, JsonRefused, strict_loads
from tests.cli.runner import run
from tests.conftest import DEMO


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "a": 2}',
        b'{"a": {"b": 1, "b": 2}}',
        b'[{"x": 1}, {"y": 1, "y": 1}]',
        b'{"a" : 1, "a" : 2}',
        # a spaced duplicate behind a `\\":` inside a string: equal counts of plain `":`
        b'{"a" : 1, "a" : 2, "s":"\\":"}',
        b'{"a"\n:\t1, "a"\r\n:2}',
    ],
)
def test_every_duplicate_key_is_refused_by_name(raw: bytes) -> None:
    with pytest.raises(JsonRefused, match="duplicate key"):
        strict_loads(raw)
    with pytest.raises(JsonRefused, match="duplicate key"):
        strict_loads(raw.decode())


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"a": "x\\":y", "b": 1}', {"a": 'x":y', "b": 1}),
        (b'{"k": "\\" :", "l": ["\\":"]}', {"k": '" :', "l": ['":']}),
        (b'{"a" : {"b" :[1, {"c":2}]}}', {"a": {"b": [1, {"c": 2}]}}),
        (b"[]", []),
        (b'"text"', "text"),
    ],
)
def test_text_that_only_looks_like_keys_is_read(raw: bytes, value: object) -> None:
    assert strict_loads(raw) == value


def test_nesting_is_refused_past_the_limit_and_taken_at_it() -> None:
    at = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert strict_loads(at) is not None
    with pytest.raises(JsonRefused, match="nested deeper"):
        strict_loads(b"[" + at + b"]")
    with pytest.raises(ValueError):
        strict_loads(b"[" * 5000 + b"]" * 5000)


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": "\xff"}', rb'{"a": "\ud800"}', b"{"])
def test_what_orjson_refuses_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        strict_loads(raw)


def test_an_integer_beyond_64_bits_is_never_an_integer() -> None:
    """orjson reads it as a float: a request's `enrolments` refuses it (must be int)."""
    assert isinstance(strict_loads(b'{"a": ' + b"9" * 30 + b"}")["a"], float)


# -- bounded reads: a FIFO, a device or /dev/zero must not hang or fill memory ------------------


def test_read_limited_stops_one_chunk_past_the_limit(tmp_path: Path) -> None:
    from suite_authz.engine.core.errors import InvalidOrg
    from suite_authz.engine.core.reading import read_limited

    path = tmp_path / "big"
    path.write_bytes(b"x" * 11)
    assert read_limited(path, "a file", InvalidOrg, limit=11) == b"x" * 11
    with pytest.raises(InvalidOrg, match="larger than 10 bytes"):
        read_limited(path, "a file", InvalidOrg, limit=10)


@pytest.mark.parametrize(("where", "kind"), [("/dev/null", "character device"), ("/", "directory")])
def test_read_file_refuses_what_is_not_a_regular_file_by_name(where: str, kind: str) -> None:
    from suite_authz.engine.core.errors import InvalidOrg
    from suite_authz.engine.core.reading import read_file

    with pytest.raises(InvalidOrg, match=f"{where}: org snapshot is a {kind}"):
        read_file(Path(where), "org snapshot", InvalidOrg)


def test_read_limited_private_refuses_a_file_the_group_may_read(tmp_path: Path) -> None:
    from suite_authz.engine.core.errors import AuthzError
    from suite_authz.engine.core.reading import read_limited

    path = tmp_path / "secret"
    path.write_bytes(b"s")
    path.chmod(0o640)
    with pytest.raises(AuthzError, match="0640"):
        read_limited(path, "the token", AuthzError, 4096, private=True)
    path.chmod(0o600)
    assert read_limited(path, "the token", AuthzError, 4096, private=True) == b"s"


def test_the_size_limit_is_a_setting_refusing_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policies: PolicySet
) -> None:
    """$AUTHZ_MAX_INPUT_MB raises (or lowers) the largest snapshot read, by the CLI and a
    sidecar alike; a bad value is refused naming the variable, never taken as no limit."""
    big = json.loads(DEMO.read_text())
    big["name"] = "x" * (1 << 20)  # a snapshot of just over 1 MiB
    path = tmp_path / "big.json"
    path.write_text(json.dumps(big))
    assert load_org(path, policies.catalogue).name == big["name"]  # 64 MiB by default
    monkeypatch.setenv(LIMIT_ENV, "1")
    with pytest.raises(InvalidOrg, match=rf"larger than 1 MiB \(the limit; \${LIMIT_ENV} raises"):
        load_org(path, policies.catalogue)
    with pytest.raises(InvalidOrg, match=rf"larger than 1 MiB \(the limit; \${LIMIT_ENV}"):
        load_org(json.dumps(big), policies.catalogue)  # a text (a stored row) too
    monkeypatch.setenv(LIMIT_ENV, "2")
    assert load_org(path, policies.catalogue).name == big["name"]
    for bad, why in (
        ("lots", "not a whole number"),
        ("0", "not between 1 and"),
        ("-3", "not between"),
    ):
        monkeypatch.setenv(LIMIT_ENV, bad)
        with pytest.raises(InvalidOrg, match=rf"\${LIMIT_ENV}: .*{why}"):
            load_org(path, policies.catalogue)
    code, _, err = run("org", "import", str(path), "--store", str(tmp_path / "s.sqlite3"))
    assert code == 2 and f"${LIMIT_ENV}: -3 MiB is not between 1 and" in err
