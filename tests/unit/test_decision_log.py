"""The decision log's masking rule, and that masking never changes the request it reads."""

from __future__ import annotations

import copy

from engine.decision_log import mask

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
    from server.jsonio import dumps, loads

    line = dumps({"n": 2**70 + 1, "s": "é"})
    assert str(2**70 + 1).encode() in line and loads(line)["s"] == "é"


def test_masked_values_are_keyed_so_a_dictionary_of_names_does_not_reverse_them() -> None:
    """Issue 11, finding 10: the unsalted 12-hex sha256 of `asha` matched the log."""
    import hashlib
    import json

    masked = mask({"acting_as": "asha"}, KEY)["acting_as"]
    plain = hashlib.sha256(json.dumps("asha").encode()).hexdigest()
    assert plain[:12] not in masked and plain[:16] not in masked
    assert mask({"acting_as": "asha"}, b"another-deployment") != {"acting_as": masked}
