"""Issue 11: no allow by mistake at the sidecar's edges (each test failed on 4b6dd84)."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server.state import State
from tests.api.conftest import evaluation


def _migration(value: object) -> dict[str, object]:
    return evaluation("olivia", "run_migration", "org:demo", enrolments=value)


@pytest.mark.parametrize("value", [True, 1.0, "1"])
def test_a_cached_allow_never_answers_an_equal_value_of_another_type(
    served: tuple[TestClient, State, Path], value: object
) -> None:
    client = served[0]
    first = client.post("/access/v1/evaluation", json=_migration(1))
    assert first.status_code == 200 and first.json()["decision"] is True
    second = client.post("/access/v1/evaluation", json=_migration(value))
    assert second.status_code == 400, second.text
    again = client.post("/access/v1/evaluations", json={"evaluations": [_migration(value)]})
    assert again.json()["evaluations"][0]["decision"] is False


def test_a_cached_refusal_never_answers_the_valid_integer(
    served: tuple[TestClient, State, Path],
) -> None:
    client = served[0]
    assert client.post("/access/v1/evaluation", json=_migration(True)).status_code == 400
    valid = client.post("/access/v1/evaluation", json=_migration(1))
    assert valid.status_code == 200 and valid.json()["decision"] is True
