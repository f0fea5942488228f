"""The decision log's masking rule, and that masking never changes the request it reads."""

from __future__ import annotations

import copy
import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suite_authz.engine.core.errors import AuthzError
from suite_authz.engine.serving.decision_log import _CREDENTIAL, DecisionLog, _credential, mask

KEY = b"k" * 32


def test_sensitive_values_are_hashed_at_any_depth_and_the_input_is_untouched() -> None:
    request = {
        "subject": {"type": "user", "id": "fay", "properties": {"Email": "fay@x.example"}},
        "context": {"sender": "boss@x.example", "acting_as": "olivia", "channel": "crm"},
        "evaluations": [{"context": {"api_token": "t0k"}}, {"resource": {"type": "invoice"}}],
    }
    before = copy.deepcopy(request)
    out = mask(request, KEY)
    assert request == before
    assert out["subject"]["properties"]["Email"].startswith("sha256:")
    assert out["context"]["sender"].startswith("sha256:")
    assert out["context"]["acting_as"].startswith("sha256:")
    assert out["context"]["channel"] == "crm"
    assert out["evaluations"][0]["context"]["api_token"].startswith("sha256:")
    assert out["evaluations"][1] is request["evaluations"][1]  # nothing to mask: not copied
    assert mask({"sender": "a"}, KEY) == mask({"sender": "a"}, KEY) != mask({"sender": "b"}, KEY)


def test_what_holds_nothing_sensitive_comes_back_as_it_is() -> None:
    request = {"subject": {"type": "user", "id": "asha"}, "action": {"name": "view"}}
    assert mask(request, KEY) is request


def test_what_orjson_cannot_encode_is_still_written() -> None:
    from suite_authz.engine.core import strict_loads
    from suite_authz.engine.serving import json_bytes

    line = json_bytes({"n": 2**70 + 1, "s": "é"})
    assert str(2**70 + 1).encode() in line and strict_loads(line)["s"] == "é"


def test_masked_values_are_keyed_so_a_dictionary_of_names_does_not_reverse_them() -> None:
    """The unsalted 12-hex sha256 of `asha` matched the log."""
    import hashlib
    import json

    masked = mask({"acting_as": "asha"}, KEY)["acting_as"]
    plain = hashlib.sha256(json.dumps("asha").encode()).hexdigest()
    assert plain[:12] not in masked and plain[:16] not in masked
    assert mask({"acting_as": "asha"}, b"another-deployment") != {"acting_as": masked}


def test_the_log_looks_for_rotation_at_most_once_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stat(2) per line cost more than the line (seen in a profile of the sidecar)."""
    log = DecisionLog(tmp_path / "d.jsonl", KEY)
    stats = 0
    real = os.stat

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal stats
        stats += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(os, "stat", counted)
    log._checked -= 5  # a second has passed since it opened
    for n in range(200):
        log.write(f"r{n}", {"n": n}, {"decision": True}, "v", 0.1)
    assert stats == 1
    assert len((tmp_path / "d.jsonl").read_text().splitlines()) == 200


def test_reopen_starts_a_new_file_at_the_next_line(tmp_path: Path) -> None:
    """What SIGHUP does (authz serve): after logrotate's move, lines go to a new file at once."""
    path = tmp_path / "d.jsonl"
    log = DecisionLog(path, KEY)
    log.write("before", {}, {"decision": True}, "v", 0.1)
    path.rename(tmp_path / "d.jsonl.1")
    log.reopen()
    log.write("after", {}, {"decision": True}, "v", 0.1)
    assert '"after"' in path.read_text() and '"after"' not in (tmp_path / "d.jsonl.1").read_text()


def test_credentials_are_hashed_by_their_key_name_or_by_their_look() -> None:
    """An `Authorization: Bearer` pasted into a body was logged in clear."""
    request = {
        "context": {
            "Authorization": "Bearer abc",
            "set-cookie": "sid=1",
            "x_bearer": "abc",
            "note": "bearer abc.def",
            "basic": "Basic dXNlcjpwYXNz",
            "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            "list": ["Bearer abc", "plain"],
            "channel": "crm",
            "reason": "a bearer of good news",
        }
    }
    out = mask(request, KEY)["context"]
    for k in ("Authorization", "set-cookie", "x_bearer", "note", "basic", "jwt"):
        assert out[k].startswith("sha256:"), k
    assert out["list"][0].startswith("sha256:") and out["list"][1] == "plain"
    assert out["channel"] == "crm" and out["reason"] == "a bearer of good news"


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_log_that_is_no_regular_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    """Opening a FIFO for writing waits for a reader: `authz serve --decision-log FIFO` hung at
    start. It is refused by what it is, before anything is answered."""
    path = tmp_path / "decisions.jsonl"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    done = threading.Event()
    raised: list[BaseException] = []

    def open_it() -> None:
        try:
            DecisionLog(path, b"k")
        except BaseException as exc:
            raised.append(exc)
        done.set()

    threading.Thread(target=open_it, daemon=True).start()
    finished = done.wait(30)
    if not finished and kind == "fifo":  # release the blocked open before failing
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    assert finished, "opening the decision log waited on a FIFO"
    assert raised and isinstance(raised[0], AuthzError)
    assert str(raised[0]).startswith(f"{path}: cannot open the decision log: not a regular file")
    if kind == "fifo":
        assert "a FIFO" in str(raised[0])


def _raw(path: Path) -> list[bytes]:
    """The lines byte for byte, but for their time."""
    return [re.sub(rb'^\{"time":[^,]+,', b"", line) for line in path.read_bytes().splitlines()]


@pytest.mark.parametrize(
    "context",
    [
        {"channel": "crm"},
        {"channel": "crm", "sender": "asha@acme.example", "acting_as": "dana"},
        # the marker a page's line is built around, sent in by a caller: the long way
        {"channel": "crm", "note": "\x00record id\x00"},
        # what only the standard library encodes (its bytes differ from orjson's)
        {"channel": "crm", "n": 2**70},
        {"channel": "crm", "f": float("nan")},
    ],
)
def test_a_search_pages_lines_are_the_lines_of_each_result(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    """write_results builds a page's lines from pieces; each must be the line write_many
    writes for that result's own request, masking included (an id that looks like a
    credential is hashed as any value would be)."""
    template = {
        "subject": {"type": "user", "id": "zo\u00eb"},
        "action": {"name": "view"},
        "resource": {"type": "invoice", "id": "#new", "properties": {"fields": ["amount"]}},
        "context": context,
    }
    allow = {"decision": True, "context": {"rules": ["D4"], "policy_version": "v1"}}
    other = {"decision": True, "context": {"rules": ["D4", "D7"], "policy_version": "v1"}}
    ids = ["inv-1", "Bearer abc.def", 'quote"d', "inv-\u00e9", "eyJhbGc.eyJzdWI", "inv-\ud800"]
    results = [(rid, allow if n % 2 else other) for n, rid in enumerate(ids)]
    fast, slow = DecisionLog(tmp_path / "fast.log", KEY), DecisionLog(tmp_path / "slow.log", KEY)
    fast.write_results("r1", template, results, "v1", 0.5)
    slow.write_many(
        "r1",
        [
            ({**template, "resource": {**template["resource"], "id": rid}}, answer, "v1")
            for rid, answer in results
        ],
        0.5,
    )
    assert _raw(tmp_path / "fast.log") == _raw(tmp_path / "slow.log")
    assert "Bearer abc.def" not in (tmp_path / "fast.log").read_text()


# Spellings of the words the credential pattern reads, as a value may hold them: cases, the
# long s (an `s` to the pattern), the Kelvin sign, a dotless i, credentials whole.
_WORDS = ["bearer", "Basic", "DIGEST", "eyJ", "EYj", "ba\u017fic", "bearer\u212a", "d\u0131gest",
          "Bearer abc.def", "  basic QWxhZGRpbjpvcGVu ", "eyJhbGci.eyJzdWIi", "Digest x",
          "crm", "asha", "invoice-1", "x\x00y", "\u00e9t\u00e9", " ", "."]  # fmt: skip
_values = st.lists(st.sampled_from(_WORDS) | st.text(max_size=8), max_size=4).map("".join)


@settings(max_examples=1000, deadline=None)
@given(value=_values)
def test_the_quick_look_for_a_credential_is_the_pattern_s_verdict(value: str) -> None:
    """The words checked before the regex (for speed) never let past what it matches."""
    assert _credential(value) == (_CREDENTIAL.search(value) is not None)


def test_the_quick_look_sees_each_kind_of_credential() -> None:
    for value in ("Bearer abc.def", "basic QWxh", "x eyJhbGci.eyJzdWIi", "ba\u017fic x"):
        assert _credential(value), value
    assert mask({"id": "ba\u017fic x"}, KEY)["id"].startswith("sha256:")
