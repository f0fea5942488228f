"""suite-authz: decide each CRM action on finance-suite data under the acting user's own rights.

This is the library's surface: what `cli/` and `server/` (the adapters) may import, and
all they may import (tests/unit/test_layers.py checks it). Everything else in `engine` is
its own business and may change without notice.
"""

import ast
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The surface is imported lazily: a name's module is loaded when the name is first used, so a
# command that explains one decision never pays for z3 (the prover), oso (Polar) or the store's
# drivers (tests/cli/test_startup.py). The imports below are the one list of the surface: type
# checkers read them, and at run time __getattr__ reads the same lines (no second table to
# drift from them).
if TYPE_CHECKING:
    from suite_authz.engine.backends.cedar_eval import ClassCacheStatus
    from suite_authz.engine.cache import DecisionCache
    from suite_authz.engine.catalogue import RECORD_ACTIONS, Catalogue
    from suite_authz.engine.crosscheck import crosscheck as run_crosscheck
    from suite_authz.engine.crosscheck import space_size
    from suite_authz.engine.decision import ActingAs, Decision
    from suite_authz.engine.decision_log import (
        DecisionLog,
        as_evaluation,
        decision_sink,
        json_bytes,
    )
    from suite_authz.engine.diff import DiffReport, default_orgs, load_expected
    from suite_authz.engine.diff import Group as DiffGroup
    from suite_authz.engine.diff import diff as semantic_diff
    from suite_authz.engine.diff import unexpected as unexpected_changes
    from suite_authz.engine.engine import BACKENDS, Engine
    from suite_authz.engine.errors import (
        AuthzError,
        Conflict,
        InvalidOrg,
        InvalidRequest,
        PolicyError,
        Refused,
        Unavailable,
        joined,
    )
    from suite_authz.engine.fmt import unformatted
    from suite_authz.engine.inputs import read_file, strict_loads
    from suite_authz.engine.lint import lint as lint_policies
    from suite_authz.engine.migration import MigrationRefused, StalePlan
    from suite_authz.engine.migration.apply import apply_plan
    from suite_authz.engine.migration.run import history as migration_history
    from suite_authz.engine.migration.run import plan_org
    from suite_authz.engine.model import Org, load_org
    from suite_authz.engine.policies import (
        PolicySet,
        build_policies,
        default_policies_dir,
        is_installed_copy,
        load_policies,
    )
    from suite_authz.engine.policy_files import read_source
    from suite_authz.engine.policy_files import stamp as policy_stamp
    from suite_authz.engine.policy_ref import (
        PolicyRef,
        Resolved,
        Source,
        check_directory,
        history_names,
        resolve_catalogue,
        resolve_policies,
    )
    from suite_authz.engine.publication import (
        PolicyVersion,
        active_version,
        check_signed,
        policy_signature,
        stored_source,
    )
    from suite_authz.engine.publication import activate as activate_policy_version
    from suite_authz.engine.publication import publish as publish_policies
    from suite_authz.engine.publication import resolve as resolve_policy_version
    from suite_authz.engine.publication import versions as policy_versions
    from suite_authz.engine.request import NEW_RECORD_ID, Request, context_value, parse_resource
    from suite_authz.engine.search import search_page
    from suite_authz.engine.served import (
        Cause,
        LoadOptions,
        NotServed,
        Refusal,
        ServedSet,
        load_served,
        next_orgs,
        next_policies,
    )
    from suite_authz.engine.signing import (
        KeyFileError,
        Signer,
        UnverifiedRow,
        Verifier,
        generate_keys,
        load_signer,
        load_verifier,
    )
    from suite_authz.engine.store import (
        STORE_ENV,
        OrgStore,
        StaleSnapshot,
        StoreLocation,
        StoreSchemaError,
        default_store_path,
        store_location,
    )
    from suite_authz.engine.store_check import StoreReport, check_store
    from suite_authz.engine.store_db import PoolSettings, StoreError, StoreUnreachable
    from suite_authz.engine.store_schema import CURRENT as STORE_SCHEMA
    from suite_authz.engine.suites import SuiteRun, junit_xml, run_suites
    from suite_authz.engine.symbolic.review import judged, proven_diff
    from suite_authz.engine.symbolic.theorems import verify as verify_theorems


def _surface() -> dict[str, tuple[str, str]]:
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If))
    names: dict[str, tuple[str, str]] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module is not None
        for alias in node.names:
            names[alias.asname or alias.name] = (node.module, alias.name)
    return names


_SURFACE = _surface()


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _SURFACE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value  # the next use is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "BACKENDS",
    "NEW_RECORD_ID",
    "RECORD_ACTIONS",
    "STORE_ENV",
    "STORE_SCHEMA",
    "ActingAs",
    "AuthzError",
    "Catalogue",
    "Cause",
    "ClassCacheStatus",
    "Conflict",
    "Decision",
    "DecisionCache",
    "DecisionLog",
    "DiffGroup",
    "DiffReport",
    "Engine",
    "InvalidOrg",
    "InvalidRequest",
    "KeyFileError",
    "LoadOptions",
    "MigrationRefused",
    "NotServed",
    "Org",
    "OrgStore",
    "PolicyError",
    "PolicyRef",
    "PolicySet",
    "PolicyVersion",
    "PoolSettings",
    "Refusal",
    "Refused",
    "Request",
    "Resolved",
    "ServedSet",
    "Signer",
    "Source",
    "StalePlan",
    "StaleSnapshot",
    "StoreError",
    "StoreLocation",
    "StoreReport",
    "StoreSchemaError",
    "StoreUnreachable",
    "SuiteRun",
    "Unavailable",
    "UnverifiedRow",
    "Verifier",
    "activate_policy_version",
    "active_version",
    "apply_plan",
    "as_evaluation",
    "build_policies",
    "check_directory",
    "check_signed",
    "check_store",
    "context_value",
    "decision_sink",
    "default_orgs",
    "default_policies_dir",
    "default_store_path",
    "generate_keys",
    "history_names",
    "is_installed_copy",
    "joined",
    "json_bytes",
    "judged",
    "junit_xml",
    "lint_policies",
    "load_expected",
    "load_org",
    "load_policies",
    "load_served",
    "load_signer",
    "load_verifier",
    "migration_history",
    "next_orgs",
    "next_policies",
    "parse_resource",
    "plan_org",
    "policy_signature",
    "policy_stamp",
    "policy_versions",
    "proven_diff",
    "publish_policies",
    "read_file",
    "read_source",
    "resolve_catalogue",
    "resolve_policies",
    "resolve_policy_version",
    "run_crosscheck",
    "run_suites",
    "search_page",
    "semantic_diff",
    "space_size",
    "store_location",
    "stored_source",
    "strict_loads",
    "unexpected_changes",
    "unformatted",
    "verify_theorems",
]
