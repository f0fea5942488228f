"""The differential check can disagree on obligations: a deliberately wrong sender or redaction in
one encoding is caught by `authz crosscheck` and by the differential property.

Each mutation is one plausible mistake: Cedar's sender policy picking the integration owner's
address (the first of the four problems), and Polar's redaction reading a seat's hidden fields
of every module rather than the record's own.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from suite_authz.engine.core import Engine
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet, load_policies
from suite_authz.engine.review.crosscheck import run_crosscheck
from tests.conftest import DEMO, POLICIES
from tests.property.test_differential import check_agreement
from tests.strategies import orgs

MUTATIONS: dict[str, tuple[str, str, str]] = {
    # name: (file, text as shipped, text mutated)
    "cedar sender is the owner's": (
        "obligations.cedar",
        "when { context has sender && context.sender == principal.email };",
        "when { context has sender && context.sender != principal.email };",
    ),
    "polar redacts other modules' fields": (
        "polar/obligations.polar",
        "field in seat.hidden_of(rec.module);",
        "field in seat.hidden_fields;",
    ),
}


def mutated(tmp_path: Path, name: str) -> PolicySet:
    target = tmp_path / name.replace(" ", "-").replace("'", "")
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("history", "legacy", "tests"))
    file, shipped, wrong = MUTATIONS[name]
    text = (target / file).read_text(encoding="utf-8")
    assert text.count(shipped) == 1, f"{file}: the mutated line moved; update MUTATIONS"
    (target / file).write_text(text.replace(shipped, wrong), encoding="utf-8")
    return load_policies(target)


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_crosscheck_finds_a_wrong_obligation_in_one_encoding(tmp_path: Path, name: str) -> None:
    policies = mutated(tmp_path, name)
    org = load_org(DEMO, policies.catalogue)
    report = run_crosscheck(Engine(policies, org, "cedar"), Engine(policies, org, "polar"))
    assert report.disagreements, name
    # Allowed by both, carrying different senders or redactions (and, for the owner's own mail,
    # a sender Cedar cannot name at all, which fails closed).
    carried = [
        d
        for d in report.disagreements
        if d.first.allowed
        and d.second.allowed
        and (d.first.sender, d.first.redact_fields) != (d.second.sender, d.second.redact_fields)
    ]
    assert carried, report.disagreements[0]


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_the_differential_property_finds_a_wrong_obligation(tmp_path: Path, name: str) -> None:
    policies = mutated(tmp_path, name)
    agree: Callable[..., Any] = settings(
        max_examples=500,
        phases=[Phase.generate],  # the first counterexample is enough; no shrinking
        suppress_health_check=list(HealthCheck),
        database=None,
        deadline=None,
        # The same examples every run: a mutation some random runs missed (a hidden field of
        # another module that the viewed one also has is rare) is found, or never.
        derandomize=True,
    )(given(orgs(), st.data())(lambda org, data: check_agreement(policies, org, data)))
    with pytest.raises(AssertionError):
        agree()


def test_the_shipped_set_passes_the_same_check(tmp_path: Path) -> None:
    policies = load_policies(POLICIES)
    org = load_org(DEMO, policies.catalogue)
    report = run_crosscheck(Engine(policies, org, "cedar"), Engine(policies, org, "polar"))
    assert report.compared > 4000 and not report.disagreements
