"""The fleet soak's parts (tests/api/test_fleet_soak.py): a generated org and the requests asked
of it, the sidecars (one can be killed with -9 and started again), the timeline of what the
store served, the reference engine that judges every answer against that timeline, and the
figures a run reports.

Why a timeline and not one expected state: a change (an activation, an import) lands on each
sidecar at its own moment. Each change is recorded from the moment its command started until
every live sidecar was seen serving it, so a request that ran from `begun` to `ended` may
rightly have been answered under any state current at some moment of that span, and under no
other. An allow that no such state allows is an unexpected allow.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.genorg import generate
from suite_authz.engine.core import Engine, PolicySet, Request, load_org
from tests.api.processes import serving
from tests.api.test_fleet import AUTH

ORG = "big"
NEW = "#new"
ACTIONS = ("view", "create", "edit", "delete", "approve", "send_email", "submit")


@dataclass(frozen=True)
class State:
    """What the store serves: the active policy version, and whose Books seat is revoked."""

    policy: str
    revoked: str | None = None


def snapshot(base: dict[str, Any], revoked: str | None) -> dict[str, Any]:
    """The org with `revoked`'s Books seat taken away (enrolment and membership)."""
    org: dict[str, Any] = json.loads(json.dumps(base))
    if revoked is not None:
        user = next(u for u in org["users"] if u["id"] == revoked)
        for seat in ("enrolments", "memberships"):
            if seat in user:
                user[seat] = [s for s in user[seat] if s["product"] != "books"]
    return org


class Reference:
    """suite_authz.engine.Engine over the same policy sets and the org as each state has it:
    what a sidecar should have answered."""

    def __init__(self, base: dict[str, Any], sets: dict[str, PolicySet]) -> None:
        self.base, self.sets = base, sets
        self._engines: dict[State, Engine] = {}
        self._lock = threading.Lock()

    def engine(self, state: State) -> Engine:
        with self._lock:
            if state not in self._engines:
                policies = self.sets[state.policy]
                org = load_org(snapshot(self.base, state.revoked), policies.catalogue)
                self._engines[state] = Engine(policies, org)
            return self._engines[state]

    def allows(self, state: State, request: Request) -> bool:
        return self.engine(state).decide(request, probe=False).allowed


@dataclass
class Change:
    begun: float  # the command that made it started
    settled: float  # every live sidecar was seen serving it
    state: State


class Timeline:
    def __init__(self, first: State) -> None:
        self.changes = [Change(float("-inf"), float("-inf"), first)]
        self._lock = threading.Lock()

    @property
    def now(self) -> State:
        return self.changes[-1].state

    def add(self, begun: float, settled: float, state: State) -> None:
        with self._lock:
            self.changes.append(Change(begun, settled, state))

    def during(self, begun: float, ended: float) -> list[State]:
        """Every state a sidecar may have served at some moment from `begun` to `ended`: one
        whose change had started by `ended` and was not yet replaced everywhere at `begun`."""
        with self._lock:
            changes = list(self.changes)
        out = []
        for n, change in enumerate(changes):
            replaced = changes[n + 1].settled if n + 1 < len(changes) else float("inf")
            if change.begun <= ended and replaced >= begun:
                out.append(change.state)
        return out


@dataclass
class Asked:
    """One request of the traffic and what came of it. `checks`: (request, answer, policy
    version or None) for each decision the answer carried."""

    kind: str
    rid: str
    port: int
    begun: float
    ended: float
    status: int  # 0: no HTTP answer (refused, reset: the sidecar killed)
    checks: list[tuple[Request, bool, str | None]] = field(default_factory=list)


def post(port: int, path: str, body: Any, rid: str) -> tuple[int, Any]:
    """(status, parsed body); status 0 when no HTTP answer came at all."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "X-Request-ID": rid, **AUTH},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, http.client.HTTPException, ValueError):
        return 0, None


class Traffic:
    """Singles, batches and searches of many users and records of the generated org, from a
    few paced threads (the machine is shared: a closed loop with no pause would starve it)."""

    def __init__(
        self,
        org: dict[str, Any],
        hot: list[str],
        pairs: list[tuple[str, str]],
        focus: Callable[[], str | None],
    ) -> None:
        """`focus`: the user whose seat was revoked last, asked about often, since a sidecar
        that served a stale org would allow exactly them."""
        self.focus = focus
        self.users = [u["id"] for u in org["users"]]
        self.records = {t: [r["id"] for r in org["records"] if r["type"] == t] for t, _ in pairs}
        self.hot, self.pairs = hot, pairs  # hot: the users whose seats come and go
        self.asked: list[Asked] = []
        self.malformed: list[str] = []  # answers that could not be read as decisions
        self._lock = threading.Lock()

    def _question(self, rng: random.Random) -> Request:
        draw, focus = rng.random(), self.focus()
        if focus is not None and draw < 0.25:
            subject = focus
        else:
            subject = rng.choice(self.hot) if draw < 0.5 else rng.choice(self.users)
        kind, action = rng.choice(self.pairs)
        rid = None  # a new record: what `create` asks about
        if action != "create" and self.records[kind]:
            rid = rng.choice(self.records[kind])
        channel = "direct" if rng.random() < 0.1 else "crm"
        return Request(subject, action, kind, rid, channel)

    def run(self, kind: str, live: Callable[[], list[int]], stop: threading.Event,
            pause: float, seed: int) -> None:  # fmt: skip
        rng = random.Random(seed)
        ask = {"single": self._single, "batch": self._batch, "search": self._search}[kind]
        while not stop.is_set():
            ports = live()
            if ports:
                try:
                    asked = ask(rng, rng.choice(ports))
                except (AssertionError, KeyError, TypeError) as exc:
                    # fail closed: an answer not read as decisions fails the soak, and the
                    # thread goes on, so one such answer does not end the traffic quietly
                    with self._lock:
                        self.malformed.append(f"{kind}: {exc!r}")
                else:
                    with self._lock:
                        self.asked.append(asked)
            stop.wait(pause)  # pacing, not synchronisation

    def _send(self, kind: str, port: int, path: str, body: Any) -> tuple[Asked, Any]:
        rid = f"soak-{uuid.uuid4().hex}"
        begun = time.monotonic()
        status, answer = post(port, f"/{ORG}/access/v1/{path}", body, rid)
        return Asked(kind, rid, port, begun, time.monotonic(), status), answer

    def _single(self, rng: random.Random, port: int) -> Asked:
        request = self._question(rng)
        asked, answer = self._send("single", port, "evaluation", _body(request))
        if asked.status == 200:
            asked.checks = [_check(request, answer)]
        return asked

    def _batch(self, rng: random.Random, port: int) -> Asked:
        requests = [self._question(rng) for _ in range(8)]
        body = {"evaluations": [_body(r) for r in requests]}
        asked, answer = self._send("batch", port, "evaluations", body)
        if asked.status == 200:
            items = answer["evaluations"]
            # fail closed: an answer that is not one decision per item is a wrong answer
            assert len(items) == len(requests), f"batch {asked.rid}: {len(items)} answers"
            asked.checks = [_check(r, a) for r, a in zip(requests, items, strict=True)]
        return asked

    def _search(self, rng: random.Random, port: int) -> Asked:
        """A first page (a later page's token is refused once the org changes, by design)."""
        ask = self._question(rng)
        subject, action, kind, rid = ask.subject, ask.action, ask.resource_type, ask.resource_id
        record = rid or NEW
        which = rng.choice(("resource", "subject", "action"))
        user = {"type": "user", "id": subject}
        if which == "resource":
            body: dict[str, Any] = {"subject": user, "action": {"name": action},
                                    "resource": {"type": kind}}  # fmt: skip
        elif which == "subject":
            body = {"subject": {"type": "user"}, "action": {"name": action},
                    "resource": {"type": kind, "id": record}}  # fmt: skip
        else:
            body = {"subject": user, "resource": {"type": kind, "id": record}}
        body["page"] = {"limit": 20}
        asked, answer = self._send(f"search_{which}", port, f"search/{which}", body)
        if asked.status == 200:
            for found in answer["results"]:
                if which == "resource":
                    request = Request(subject, action, kind, found["id"])
                elif which == "subject":
                    request = Request(found["id"], action, kind, rid)
                else:
                    request = Request(subject, found["name"], kind, rid)
                asked.checks.append((request, True, None))  # every result is an allow
        return asked


def _body(request: Request) -> dict[str, Any]:
    return {
        "subject": {"type": "user", "id": request.subject},
        "action": {"name": request.action},
        "resource": {"type": request.resource_type, "id": request.resource_id or NEW},
        "context": {"channel": request.channel},
    }


def _check(request: Request, answer: dict[str, Any]) -> tuple[Request, bool, str | None]:
    decision = answer["decision"]
    assert isinstance(decision, bool), f"a decision that is not a boolean: {decision!r}"
    return request, decision, answer["context"].get("policy_version")


def generated_org(users: int, records: int) -> dict[str, Any]:
    return generate(users, records, seed=29)


def probe(user: str) -> dict[str, Any]:
    """Allowed while `user` holds a Books seat, under both policy versions: a new estimate."""
    return {
        "subject": {"type": "user", "id": user},
        "action": {"name": "create"},
        "resource": {"type": "estimate", "id": NEW},
        "context": {"org": ORG},
    }


def serving_pid(port: int) -> int:
    """The pid of the `authz serve` that tests/api/processes.py started on `port`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if "suite_authz.cli.main" in argv and argv[-3:-1] == ["--port", str(port)]:
                found.append(int(entry.name))
    assert len(found) == 1, f"`authz serve` on port {port}: found pids {found}"
    return found[0]


class Sidecars:
    """Three `authz serve` processes, each in a slot with a decision log of its own; a slot's
    sidecar can be killed with -9 and a new one started in its place (on a new port, with the
    same log, appended to)."""

    def __init__(self, args: tuple[str, ...], logs: list[Path]) -> None:
        self.args, self.logs = args, logs
        self._stacks: list[ExitStack | None] = [None] * len(logs)
        self._ports: list[int | None] = [None] * len(logs)
        self._lock = threading.Lock()

    def live(self) -> list[int]:
        with self._lock:
            return [p for p in self._ports if p is not None]

    def start(self, slot: int) -> int:
        stack = ExitStack()
        port = stack.enter_context(serving(*self.args, "--decision-log", str(self.logs[slot])))
        with self._lock:
            self._stacks[slot], self._ports[slot] = stack, port
        return port

    def kill(self, slot: int) -> int:
        """kill -9, under traffic: its in-flight requests get no answer. The port, gone."""
        port, stack = self._ports[slot], self._stacks[slot]
        assert port is not None and stack is not None
        os.kill(serving_pid(port), signal.SIGKILL)
        with self._lock:
            self._ports[slot] = None
        stack.close()  # reaps it (processes.py's clean-up finds it dead)
        return port

    def close(self) -> None:
        for stack in self._stacks:
            if stack is not None:
                stack.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
