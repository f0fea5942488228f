"""Every decision the server answers is logged, then counted, before it leaves.

A decision that cannot be logged is not answered (503): an authorization service that cannot
keep its audit trail says so rather than deciding unseen. Metrics count only decisions that
were answered, so a failed write is counted as a log failure, never as a decision.
"""

from __future__ import annotations

from typing import Any

from suite_authz.engine.serving import DecisionLog
from suite_authz.server.authzen import HttpError
from suite_authz.server.metrics import Metrics

Entry = tuple[Any, dict[str, Any], str]  # (the request as asked, the answer, policy version)


class Recorder:
    def __init__(self, metrics: Metrics, log: DecisionLog | None) -> None:
        self.metrics = metrics
        self.log = log

    @property
    def healthy(self) -> bool:
        return self.log is None or self.log.healthy

    def record_results(
        self,
        request_id: str,
        template: dict[str, Any],
        results: list[tuple[str, dict[str, Any]]],
        version: str,
        seconds: float,
        batch: str,
    ) -> None:
        """A record search page: each (record id, answer) logged as `record` logs `template`
        with that id (DecisionLog.write_results), then counted."""
        if not results:
            return
        if self.log is not None:
            try:
                self.log.write_results(
                    request_id, template, results, version, seconds / len(results) * 1000
                )
            except OSError:
                self.metrics.log_failed()
                raise HttpError(
                    503, "the decision log cannot be written: no decision is answered unlogged"
                ) from None
        self.metrics.decisions_of(
            [(answer["decision"], answer["context"]["rules"]) for _, answer in results],
            seconds,
            batch,
        )

    def record(
        self, request_id: str, entries: list[Entry], seconds: float, batch: str | None = None
    ) -> None:
        """`seconds`: one evaluation's time, or (`batch` naming its kind) the whole batch's."""
        if not entries:
            return
        if self.log is not None:
            # the log keeps a per-decision share, its field's meaning since the first release
            share = seconds / len(entries) if batch is not None else seconds
            try:
                self.log.write_many(request_id, entries, share * 1000)
            except OSError:
                self.metrics.log_failed()
                raise HttpError(
                    503, "the decision log cannot be written: no decision is answered unlogged"
                ) from None
        self.metrics.decisions_of(
            [(answer["decision"], answer["context"]["rules"]) for _, answer, _ in entries],
            seconds,
            batch,
        )
