"""What /readyz says beyond "ready": kept current by hearing each swap, so that a probe reads
what was last served rather than working it out from the reloader's insides."""

from __future__ import annotations

from suite_authz.engine.serving import ServedSet
from suite_authz.server.reload import Reloader


class Readiness:
    def __init__(self, reloader: Reloader) -> None:
        self.reloader = reloader
        self.served: ServedSet | None = None
        self.last_error: str | None = None  # every refusal in the served set, or None

    def swapped(self, old: ServedSet | None, new: ServedSet) -> None:
        self.served = new
        refused = new.refused
        self.last_error = "; ".join(f"{k}: {v}" for k, v in sorted(refused.items())) or None

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
            "refused": dict(sorted(served.refused.items())),
            "last_reload_error": self.last_error,
            "class_cache": {
                org: {"on": s.on, "reason": s.reason}
                for org, s in ((org, e.class_cache()) for org, e in sorted(served.engines.items()))
            },
        }
