"""The two evaluation routes' work: AuthZEN JSON in, engine decisions, AuthZEN JSON out."""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError

from suite_authz.engine.core import AuthzError, Engine
from suite_authz.server.authzen import BadRequest, decision_body, merged, parse_evaluation
from suite_authz.server.recording import Entry, Recorder
from suite_authz.server.state import State
from suite_authz.server.wire import Evaluations, problem


def _item_error(message: str) -> dict[str, Any]:
    return {"decision": False, "context": {"error": {"status": 400, "message": message}}}


class Evaluator:
    def __init__(self, state: State, recorder: Recorder) -> None:
        self.state = state
        self.recorder = recorder

    def engine(self, context: dict[str, Any], path_org: str | None, where: str = "") -> Engine:
        """The org's engine: the path's (one base URL per org), or context.org's on the root
        paths. A body naming another org than its path's is refused: a tenant's URL never
        reaches another tenant's data."""
        if path_org is None:
            return self.state.engine_for(context.get("org"))
        if "org" in context and context["org"] != path_org:
            raise BadRequest(f"{where}context.org: names another org than this URL's")
        return self.state.engine_for(path_org)

    def one(self, body: dict[str, Any], rid: str, org: str | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        request, context = parse_evaluation(body)
        engine = self.engine(context, org)
        explain = context.get("explain") is True
        decision = engine.decide(engine.validate(request), probe=explain)
        answer = decision_body(decision, explain)
        elapsed = time.perf_counter() - started
        self.recorder.record(rid, [(body, answer, decision.policy_version)], elapsed)
        return answer

    def many(self, body: dict[str, Any], rid: str, org: str | None = None) -> dict[str, Any]:
        try:  # the payload's shape (defaults, options, items as objects): else one 400
            shape = Evaluations.model_validate(body)
        except ValidationError as exc:
            raise BadRequest(problem(exc)) from None
        items = shape.evaluations
        semantic = shape.options.evaluations_semantic if shape.options else "execute_all"
        if items is None or items == []:  # no array, or an empty one: a single evaluation
            return self.one(body, rid, org)
        started = time.perf_counter()
        out: list[dict[str, Any] | None] = [None] * len(items)
        groups: dict[tuple[int, bool], tuple[Engine, list[tuple[int, Any, Any]]]] = {}
        for n, item in enumerate(items):
            try:
                merged_item = merged(body, item, n)
                wanted, context = parse_evaluation(merged_item, f"evaluations[{n}]")
                engine = self.engine(context, org, f"evaluations[{n}].")
            except (BadRequest, AuthzError) as exc:
                out[n] = _item_error(str(exc))  # false, never a failed batch
                continue
            try:
                engine.validate(wanted)
            except AuthzError as exc:
                out[n] = _item_error(f"evaluations[{n}].{exc}")
                continue
            explain = context.get("explain") is True
            groups.setdefault((id(engine), explain), (engine, []))[1].append(
                (n, merged_item, wanted)
            )
        entries: list[Entry] = []
        for (_, explain), (engine, members) in groups.items():
            # one backend call for the whole group: cheaper per decision than one call each
            decisions = engine.decide_many([m[2] for m in members], probe=explain)
            for (n, merged_item, _), decision in zip(members, decisions, strict=True):
                answer = decision_body(decision, explain)
                out[n] = answer
                entries.append((merged_item, answer, decision.policy_version))
        self.recorder.record(rid, entries, time.perf_counter() - started, "evaluations")
        answers = [a for a in out if a is not None]
        if semantic != "execute_all":
            stop = semantic == "permit_on_first_permit"
            for n, answer in enumerate(answers):
                if answer["decision"] is stop:
                    answers = answers[: n + 1]
                    break
        return {"evaluations": answers}
