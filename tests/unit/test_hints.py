"""Did-you-mean: one close spelling, case aside; cheap however many ids an org has."""

from __future__ import annotations

import pytest

from suite_authz.engine.core.suggestions import SCAN_UP_TO, did_you_mean, did_you_mean_id


@pytest.mark.parametrize(
    ("value", "choices", "hint"),
    [
        ("veiw", ("view", "edit"), "view"),  # difflib's ratio
        ("estimates", ("estimate", "invoice"), "estimate"),  # a plural
        ("Discount", ("discount", "total"), "discount"),  # case
        ("crn", ("crm", "direct"), "crm"),  # one letter wrong, too short for the ratio
        ("fya", ("fay", "gil"), "fay"),  # two letters swapped
        ("inv-10", ("INV-1", "est-1"), "INV-1"),  # suggested as it is spelt
    ],
)
def test_one_close_spelling_is_suggested(value: str, choices: tuple[str, ...], hint: str) -> None:
    assert did_you_mean(value, choices) == f"; did you mean `{hint}`?"


@pytest.mark.parametrize("value", ["fax", "nobody", "", "x" * 10_000])
def test_nothing_close_gets_no_guess(value: str) -> None:
    assert did_you_mean(value, ("crm", "direct", "asha", "olivia", "x" * 256)) == ""


def _ids(n: int) -> set[str]:
    return {f"user-{i:06d}" for i in range(n)}


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("user-00123x", "user-001230"),  # a letter wrong: the first in sorted order
        ("user-0012345", "user-001234"),  # one too many
        ("usr-000001", "user-000001"),  # one missing
        ("USER-000001", "user-000001"),  # case
        ("uesr-000001", "user-000001"),  # two letters swapped
        ("zed", None),
        ("u" * 1_000_000, None),  # no id is that long; refused without work
    ],
)
def test_among_many_ids_only_those_one_edit_away_are_looked_up(
    value: str, hint: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _ids(SCAN_UP_TO * 4)

    def scan(*args: object, **kwargs: object) -> list[str]:
        raise AssertionError("compared one by one")

    monkeypatch.setattr("difflib.get_close_matches", scan)
    assert did_you_mean_id(value, ids) == ("" if hint is None else f"; did you mean `{hint}`?")


def test_among_few_ids_the_hint_is_did_you_mean_s() -> None:
    ids = _ids(SCAN_UP_TO)
    for value in ("user-00012x", "usr-0001", "asha", "User-000100"):
        assert did_you_mean_id(value, ids) == did_you_mean(value, ids)
