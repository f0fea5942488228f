"""Every decision the server answers is logged, then counted, before it leaves.

A decision that cannot be logged is not answered (503): an authorization service that cannot
keep its audit trail says so rather than deciding unseen. Metrics count only decisions that
were answered, so a failed write is counted as a log failure, never as a decision.
"""

from __future__ import annotations

from collections.abc import Callable
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
        log = self.log
        if log is not None:
            share = seconds / len(results) * 1000
            self._logged(lambda: log.write_results(request_id, template, results, version, share))
        self._counted([answer for _, answer in results], seconds, batch)

    def record(
        self, request_id: str, entries: list[Entry], seconds: float, batch: str | None = None
    ) -> None:
        """`seconds`: one evaluation's time, or (`batch` naming its kind) the whole batch's."""
        if not entries:
            return
        log = self.log
        if log is not None:
            # the log keeps a per-decision share, its field's meaning since the first release
            share = seconds / len(entries) if batch is not None else seconds
            self._logged(lambda: log.write_many(request_id, entries, share * 1000))
        self._counted([answer for _, answer, _ in entries], seconds, batch)

    def _logged(self, write: Callable[[], None]) -> None:
        try:
            write()
        except OSError:
            self.metrics.log_failed()
            raise HttpError(
                503, "the decision log cannot be written: no decision is answered unlogged"
            ) from None

    def _counted(self, answers: list[dict[str, Any]], seconds: float, batch: str | None) -> None:
        self.metrics.decisions_of(
            [(answer["decision"], answer["context"]["rules"]) for answer in answers],
            seconds,
            batch,
        )
