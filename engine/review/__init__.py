"""Reviewing a policy change before it is served: lint, format, suites, diff, proofs.

lint (what Cedar accepts but a reviewer should not), formatter (the one layout of a policy
file), suites (the YAML test cases), diff (every decision a change alters, grouped), scope
(which requests a change can reach), crosscheck (Cedar and Polar agree), coverage_org (an org
that exercises every rule), symbolic (the same questions proven over every org with z3).

This `__init__` is the room's front door: the names adapters may import from it.
"""

from typing import TYPE_CHECKING

from suite_authz.engine.lazy_door import lazy_door

if TYPE_CHECKING:
    from suite_authz.engine.review.crosscheck import run_crosscheck, space_size
    from suite_authz.engine.review.diff import (
        DiffGroup,
        DiffReport,
        default_orgs,
        load_expected,
        semantic_diff,
        unexpected_changes,
    )
    from suite_authz.engine.review.formatter import unformatted
    from suite_authz.engine.review.lint import lint_policies
    from suite_authz.engine.review.plannable import why_unplannable
    from suite_authz.engine.review.suites import SuiteRun, junit_xml, run_suites
    from suite_authz.engine.review.symbolic.review import merged_report, proven_diff
    from suite_authz.engine.review.symbolic.theorems import verify_theorems

__getattr__, __dir__ = lazy_door(__name__, __file__)

__all__ = [
    "DiffGroup",
    "DiffReport",
    "SuiteRun",
    "default_orgs",
    "junit_xml",
    "lint_policies",
    "load_expected",
    "merged_report",
    "proven_diff",
    "run_crosscheck",
    "run_suites",
    "semantic_diff",
    "space_size",
    "unexpected_changes",
    "unformatted",
    "verify_theorems",
    "why_unplannable",
]
