"""A plan is never wrong, whatever the policies say: on seeded random mutants of the shipped
set (tests/mutants.py: conditions added, dropped, negated, operators flipped, paths re-rooted,
`like` and other constructs outside the planner), each over the demo org planted with what the
mutant names, every plan the planner gives admits exactly the records the mutant's engine
allows one by one; and when the static check (engine/review/plannable.py) says a set plans,
the planner never refuses it. And users of one class share a plan only where it is each one's
own (on an org whose users fall into classes, every user's plan with the class cache on equals
the one planned afresh)."""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

from suite_authz.engine.core import RECORD_ACTIONS, Engine, Request, Unplannable
from suite_authz.engine.core.model import load_org
from suite_authz.engine.review.plannable import why_unplannable
from suite_authz.engine.review.scope import changed_policies
from tests.conftest import GENERATED
from tests.mutants import Literals, Tally, example_orgs, plant
from tests.property.test_plan import (
    every_question,
    generated_engine,
    mismatches,
    shared_mismatches,
)
from tests.property.test_prover_mutants import random_mutants

# `make prove` runs more (AUTHZ_PLAN_MUTANTS); CI's share of the 20 minutes keeps it at a few
MUTANTS = int(os.environ.get("AUTHZ_PLAN_MUTANTS", "4"))
USERS = 4  # of the planted demo org, the first ones (its admins, members, integration users)


def test_plans_of_mutated_policies_match_their_decisions(tmp_path: Path) -> None:
    rng = random.Random(32)
    seen: Counter[str] = Counter()
    for built in random_mutants(MUTANTS, 20261207, tmp_path, Tally()):
        GENERATED["plan mutants"] += 1
        head = built.head
        literals = Literals.of(changed_policies(built.base, head))
        org = plant(example_orgs()[0], literals, head.catalogue, rng)
        engine = Engine(head, load_org(org, head.catalogue))
        static = why_unplannable(head.deciding.items())
        kinds = sorted({r.type for r in engine.org.records})
        for user in [u.id for u in engine.org.users][:USERS]:
            for action in sorted(RECORD_ACTIONS):
                for kind in kinds:
                    template = Request(user, action, kind)
                    try:
                        found = mismatches(engine, None, template)
                    except Unplannable as exc:
                        assert static is not None, f"{built.mutant.label()}: {exc}"
                        seen["refused"] += 1
                        continue
                    assert found == [], built.mutant.label()
                    seen["planned"] += 1
        if static is None:
            many = generated_engine(head)
            assert shared_mismatches(many, every_question(many)) == [], built.mutant.label()
            seen["shared"] += many.plan_classes.shared
    print(dict(seen))
    assert seen["planned"] > 0
