"""What /readyz says beyond "ready": kept current by hearing each swap, so that a probe reads
what was last served rather than working it out from the reloader's insides.

Whether each org's policy set plans (query plans, /access/v1/plan/resource) is read from its
policies and backend once per served engine, when first asked (engine/serving/planning.py);
a request that did not plan since then, in a search or a plan request, replaces what that
check said."""

from __future__ import annotations

import threading

from suite_authz.engine.core import Engine
from suite_authz.engine.serving import OrgSelection, PlanStatus, ServedSet, plan_status
from suite_authz.server.reload import Reloader


class Readiness:
    def __init__(self, reloader: Reloader) -> None:
        self.reloader = reloader
        self.served: ServedSet | None = None
        self.last_error: str | None = None  # every refusal in the served set, or None
        # per org: the engine checked or seen not to plan, and what was found
        self._plans: dict[str, tuple[Engine, PlanStatus]] = {}
        self._plans_lock = threading.Lock()

    def swapped(self, old: ServedSet | None, new: ServedSet) -> None:
        self.served = new
        with self._plans_lock:
            self._plans = {}
        refused = new.refused
        self.last_error = "; ".join(f"{k}: {v}" for k, v in sorted(refused.items())) or None

    def unplannable(self, org: str, engine: Engine, reason: str) -> None:
        """A request on this org's engine did not plan: /readyz says why from now on."""
        served = self.served
        if served is None or served.engines.get(org) is not engine:
            return  # an engine swapped out meanwhile: what it did no longer describes the set
        with self._plans_lock:
            self._plans[org] = (engine, PlanStatus(False, reason))

    def plans(self) -> dict[str, dict[str, object]]:
        """Per org served, whether its policy set plans (checked when first asked)."""
        served = self.served
        out: dict[str, dict[str, object]] = {}
        for org, engine in sorted(served.engines.items() if served else ()):
            with self._plans_lock:
                known = self._plans.get(org)
            if known is None or known[0] is not engine:
                known = (engine, plan_status(engine))
                with self._plans_lock:
                    now = self._plans.get(org)
                    if now is not None and now[0] is engine:
                        known = now  # a request seen meanwhile, not to be hidden by the check
                    else:
                        self._plans[org] = known
            out[org] = {"on": known[1].on, "reason": known[1].reason}
        return out

    def problem(self, log_healthy: bool) -> str | None:
        """Why this server is not ready, or None."""
        if self.served is None:
            return "policies and org data are not loaded"
        if self.reloader.stalled():
            return "the reload watcher has stalled"
        if not log_healthy:
            return "the decision log cannot be written"
        return None

    def status(self) -> str:
        """Degraded: the store does not answer; what was loaded is served (still ready, so
        that a fleet's load balancer does not take every sidecar out for one database)."""
        return "ready" if self.reloader.degraded_since is None else "degraded"

    def details(self) -> dict[str, object]:
        """For a caller with the token: the details name orgs and versions."""
        served = self.served
        assert served is not None
        return {
            "status": self.status(),
            "store": self.reloader.store_status(),
            "policy_version": served.policies.version,
            "policy_source": served.source,
            "orgs": {i: v for i, v in sorted(served.org_versions.items())},
            "shard": self.shard(),
            "changes_overlaid": self.overlaid(served),
            "refused": dict(sorted(served.refused.items())),
            "last_reload_error": self.last_error,
            "class_cache": {
                org: {"on": s.on, "reason": s.reason}
                for org, s in ((org, e.class_cache()) for org, e in sorted(served.engines.items()))
            },
            "plans": self.plans(),
        }

    def shard(self) -> str | None:
        """`I/N`: the shard of the orgs this sidecar serves (`--shard`), or None."""
        wanted = self.reloader.orgs
        shard = wanted.shard if isinstance(wanted, OrgSelection) else None
        return None if shard is None else f"{shard.number}/{shard.count}"

    @staticmethod
    def overlaid(served: ServedSet) -> dict[str, dict[str, object]]:
        """Per org answered over change sets since it was last parsed whole (`authz org
        apply`): how many entities changed, and whether a shared one did (every request is
        then answered from the entities it reaches until the org is parsed again)."""
        out: dict[str, dict[str, object]] = {}
        for org, engine in sorted(served.engines.items()):
            overlay = engine.overlay()
            if overlay is not None:
                out[org] = {"entities": len(overlay.dirty), "shared": overlay.everything}
        return out
