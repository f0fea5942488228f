from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from suite_authz.engine.core import Engine
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet, load_policies

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
DEMO = POLICIES / "examples" / "demo-org.json"
DATA = Path(__file__).resolve().parent / "data"

# The default profile keeps `make test` quick; `make prove` runs the deep one.
settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "deep",
    max_examples=20_000,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
# Between the two: a spot check of new properties in minutes rather than hours.
settings.register_profile(
    "medium", max_examples=2_000, deadline=None, suppress_health_check=list(HealthCheck)
)
# Any count, to time a property (`HYPOTHESIS_EXAMPLES=300 HYPOTHESIS_PROFILE=sized ...`).
settings.register_profile(
    "sized",
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Generated orgs per property, reported at the end of the run (make prove quotes them), and
# the seconds each property's own checks took (where several share an org: test_prove.py).
GENERATED: Counter[str] = Counter()
SECONDS: Counter[str] = Counter()
# The keys of a serialised decision, in order: pinned by the engine's and the CLI's tests.
DECISION_KEYS = [
    "decision",
    "rules",
    "policies",
    "reasons",
    "missing",
    "acting_as",
    "sender",
    "redact_fields",
    "policy_version",
    "errors",
]


_COUNTS = "SUITE_AUTHZ_COUNTS"


def pytest_configure(config: Any) -> None:
    # xdist workers inherit this, write their counts there, and the controller adds them up.
    if not hasattr(config, "workerinput") and _COUNTS not in os.environ:
        os.environ[_COUNTS] = tempfile.mkdtemp(prefix="suite-authz-counts-")


def pytest_sessionfinish(session: Any) -> None:
    worker = getattr(session.config, "workerinput", {}).get("workerid", "main")
    if GENERATED:
        Path(os.environ[_COUNTS]).mkdir(parents=True, exist_ok=True)
        (Path(os.environ[_COUNTS]) / f"{worker}.json").write_text(json.dumps(GENERATED))
    if SECONDS:
        Path(os.environ[_COUNTS]).mkdir(parents=True, exist_ok=True)
        (Path(os.environ[_COUNTS]) / f"{worker}.seconds").write_text(json.dumps(SECONDS))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if hasattr(terminalreporter.config, "workerinput"):
        return
    total: Counter[str] = Counter()
    folder = Path(os.environ.get(_COUNTS, "/nonexistent"))
    for part in folder.glob("*.json"):
        total.update(json.loads(part.read_text()))
    seconds: Counter[str] = Counter()
    for part in folder.glob("*.seconds"):
        seconds.update(json.loads(part.read_text()))
    if total:
        terminalreporter.write_sep("-", "generated orgs per property")
        for name, count in sorted(total.items()):
            took = f", {seconds[name]:,.0f} s in its own checks" if name in seconds else ""
            terminalreporter.write_line(f"{name}: {count:,} orgs{took}")
        terminalreporter.write_line(f"total: {sum(total.values()):,} orgs")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def policies() -> PolicySet:
    return load_policies(POLICIES)


@pytest.fixture(scope="session")
def demo_raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEMO.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def demo(policies: PolicySet) -> Engine:
    return Engine(policies, load_org(DEMO, policies.catalogue))


@pytest.fixture
def demo_with(
    policies: PolicySet, demo_raw: dict[str, Any]
) -> Callable[[Callable[[dict[str, Any]], None]], Engine]:
    """An engine over a copy of the demo org, changed by `change` first."""

    def make(change: Callable[[dict[str, Any]], None]) -> Engine:
        data = copy.deepcopy(demo_raw)
        change(data)
        return Engine(policies, load_org(data, policies.catalogue))

    return make


def user(data: dict[str, Any], uid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(u for u in data["users"] if u["id"] == uid)
    return found


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL store's URL in a schema of its own (tests/postgres.py)."""
    from tests.postgres import fresh_schema

    with fresh_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Where a new store lives, once per engine: the store's tests run on both, so that
    SQLite and PostgreSQL cannot drift apart."""
    if request.param == "sqlite":
        yield tmp_path / "s.sqlite3"
        return
    from tests.postgres import fresh_schema

    with fresh_schema() as url:
        yield url
