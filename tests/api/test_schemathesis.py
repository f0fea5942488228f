"""schemathesis against /openapi.json: requests generated from the published schema (which is
rendered from the models that validate requests, server/wire.py), stateless, bounded. Every
answer must be one the document describes: its status, its content type, its body's shape;
no 500 for any input."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from tests.conftest import DEMO


def _app() -> object:
    """The demo org served from a store in a directory of its own (module import time:
    schemathesis reads the schema while collecting)."""
    store = Path(tempfile.mkdtemp(prefix="authz-schemathesis-")) / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    app, _ = build(ServeConfig(store=str(store), reload_interval=0))
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.include(path_regex="^/(\\{org\\}/)?access/v1/").parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_the_authzen_routes_answer_as_documented(case: schemathesis.Case) -> None:
    if "org" in case.path_parameters if case.path_parameters else False:
        case.path_parameters["org"] = "demo"
    # A schema-valid request may still be refused (400) for what a schema cannot say: an
    # action or resource type the served catalogue lacks, an admin action on a record, a field
    # of another module. The reverse stays checked: what the schema refuses is refused.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
