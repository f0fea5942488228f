"""The doors agree: every way in asks the same question and gets the same
answer.

For three generated orgs (tests/strategies.py) under three policy sources, 270 requests
each go through every door (the two CLI doors: every other one, see CLI_EVERY):

- `authz explain --format json` (the CLI, through click's runner);
- the sidecar's /access/v1/evaluation and /access/v1/evaluations, with context.explain;
- the admin page's explain view, and the `authz explain` command line it shows (run again,
  exactly as shown, in the working directory the sidecar was started in: the page must
  reproduce its own answer);
- the Python client (suite_authz.client.AuthzClient.check), without the explanation, as a CRM
  asks.

The policy sources: the shipped set (a fresh store, nothing published); an older version
published into the store (policies/history/2025-05, made active); a directory with one edit
(`--policies DIR`). Each door's output is read into one Answer (allowed, rules, acting_as,
sender, redact_fields, policy_version) and every door must give the sidecar's.
"""

from __future__ import annotations

import contextlib
import html
import json
import random
import re
import shlex
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from starlette.testclient import TestClient

from suite_authz.cli.main import cli
from suite_authz.client import AuthzClient, Decision
from suite_authz.engine.core import Engine, Request
from suite_authz.engine.core.catalogue import RECORD_ACTIONS
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet, load_policies
from suite_authz.engine.store.org_store import STORE_ENV, OrgStore
from suite_authz.server.main import ServeConfig, build
from tests.conftest import POLICIES
from tests.strategies import FIELDS, MODULES, TRANSACTIONS, orgs

SHIPPED, PUBLISHED, EDITED = "shipped", "published 2025-05", "edited directory"
SOURCES = (SHIPPED, PUBLISHED, EDITED)
HISTORY = POLICIES / "history" / "2025-05"
# The one edit of the edited directory: members of Books may no longer edit, whatever their
# role grants (D6 narrowed), so that decisions really change.
EDIT = (
    "member_roles.cedar",
    '(action != Action::"approve" || resource.module.approval_by.contains(Product::"books"))',
    '(action != Action::"approve" || resource.module.approval_by.contains(Product::"books")) &&\n'
    '  action != Action::"edit"',
)

ORGS = 3  # generated orgs, asked under every source
CANDIDATES = 25  # generated orgs to choose them from (the same every run: derandomized)
ASKS_PER_ORG = 60  # the sidecar's three doors and the client answer every one
# The two CLI doors answer every other ask: each `authz explain` parses the policy set again
# (80-100 ms), and the whole file must stay within about a minute on two cores.
CLI_EVERY = 2
SHOWN_PER_GROUP, SHOWN = 3, 15  # disagreements spelled out in a failure (all are counted)

CLI, SIDECAR, BATCH, PAGE, PAGE_COMMAND, CLIENT = (
    "cli `authz explain --format json`",
    "sidecar /access/v1/evaluation",
    "sidecar /access/v1/evaluations",
    "admin page /ui/orgs/ORG/explain",
    "the admin page's own command line",
    "client AuthzClient.check",
)
DOORS = (CLI, SIDECAR, BATCH, PAGE, PAGE_COMMAND, CLIENT)
REFERENCE = SIDECAR  # every other door is compared with it


# -- answers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """What a door said, read into one shape: (allowed, rules, acting_as, sender,
    redact_fields, policy_version), compared whole. `allowed` None: refused as bad input (CLI
    exit 2, HTTP 400, a batch item's error), which no generated request should be; `why`
    (never compared) says what the door said then."""

    allowed: bool | None
    rules: tuple[str, ...]
    acting_as: tuple[str, str] | None  # (user, product id)
    sender: str | None
    redact_fields: tuple[str, ...]
    policy_version: str
    why: str = field(default="", compare=False)

    def __str__(self) -> str:
        if self.allowed is None:
            return f"REFUSED: {self.why}"
        acting = "@".join(self.acting_as) if self.acting_as else "-"
        return (
            f"{'ALLOW' if self.allowed else 'DENY'} rules={','.join(self.rules) or '-'} "
            f"acting_as={acting} sender={self.sender or '-'} "
            f"redact={','.join(self.redact_fields) or '-'} version={self.policy_version}"
        )


def refused(why: str) -> Answer:
    said = " | ".join(line.strip() for line in why.splitlines() if line.strip())
    return Answer(None, (), None, None, (), "", said[:400])


@dataclass(frozen=True, slots=True)
class Ask:
    """One question, as the doors each spell it."""

    org: str
    subject: str
    action: str
    kind: str
    record: str | None  # None: a record not created yet
    channel: str = "crm"
    fields: tuple[str, ...] = ()
    acting_as: str | None = None
    sender: str | None = None

    def __str__(self) -> str:
        resource = f"{self.kind}:{self.record or '#new'}"
        words = [f"org={self.org}", self.subject, self.action, resource, f"channel={self.channel}"]
        if self.fields:
            words.append(f"fields={','.join(self.fields)}")
        if self.acting_as:
            words.append(f"acting_as={self.acting_as}")
        if self.sender:
            words.append(f"sender={self.sender}")
        return " ".join(words)

    def context(self) -> dict[str, str]:
        return {k: v for k, v in (("acting_as", self.acting_as), ("sender", self.sender)) if v}

    def authzen(self) -> dict[str, Any]:
        """The AuthZEN evaluation, with the full explanation, named org on the root path."""
        resource: dict[str, Any] = {"type": self.kind, "id": self.record or "#new"}
        if self.fields:
            resource["properties"] = {"fields": list(self.fields)}
        return {
            "subject": {"type": "user", "id": self.subject},
            "action": {"name": self.action},
            "resource": resource,
            "context": {
                "org": self.org,
                "explain": True,
                "channel": self.channel,
                **self.context(),
            },
        }

    def cli_args(self) -> list[str]:
        words = ["--subject", self.subject, "--action", self.action]
        words += ["--resource", f"{self.kind}:{self.record or '#new'}", "--channel", self.channel]
        for f in self.fields:
            words += ["--field", f]
        for key, value in self.context().items():
            words += ["--context", f"{key}={value}"]
        return words

    def page_query(self) -> dict[str, str]:
        """The explain form's fields. A new record is given as the form says ("a type for a
        new one"); the CLI door spells it `TYPE:#new`, so both spellings are asked."""
        return {
            "subject": self.subject,
            "action": self.action,
            "resource": f"{self.kind}:{self.record}" if self.record else self.kind,
            "channel": self.channel,
            "fields": ",".join(self.fields),
            "acting_as": self.acting_as or "",
            "sender": self.sender or "",
        }


def _acting(value: Any) -> tuple[str, str] | None:
    return (value["user"], value["product"]) if value else None


def from_cli_json(data: dict[str, Any]) -> Answer:
    """`authz explain --format json`: {"request", **Decision.to_dict()}."""
    return Answer(
        data["decision"] == "allow",
        tuple(data["rules"]),
        _acting(data["acting_as"]),
        data["sender"],
        tuple(data["redact_fields"]),
        data["policy_version"],
    )


def from_authzen(item: dict[str, Any]) -> Answer:
    """An AuthZEN decision (server/authzen.py decision_body): with the full explanation, the
    context is Decision.to_dict() less "decision"; without it, the short form, which names
    acting_as, sender and redact_fields on an allow only."""
    context = item.get("context") or {}
    if "error" in context and context["error"].get("status") == 400:
        return refused(str(context["error"].get("message")))
    return Answer(
        item["decision"] is True,
        tuple(context["rules"]),
        _acting(context.get("acting_as")),
        context.get("sender"),
        tuple(context.get("redact_fields") or ()),
        context["policy_version"],
    )


def from_client(decision: Decision) -> Answer:
    if decision.error is not None:
        if "HTTP 400" in decision.error:
            return refused(decision.error)
        raise AssertionError(f"{CLIENT}: the sidecar could not be asked: {decision.error}")
    return from_authzen({"decision": decision.allowed, "context": decision.context})


def _dd(page: str, term: str) -> str | None:
    found = re.search(rf"<dt>{re.escape(term)}</dt><dd>(.*?)</dd>", page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip() if found else None


def from_page(page: str) -> tuple[Answer, str | None]:
    """The explain view (server/ui/templates/explain.html): the answer it shows, and the
    command line it offers for asking again."""
    command = re.search(r'id="as-command"[^>]*><code>(.*?)</code></pre>', page)
    shown = html.unescape(command.group(1)) if command else None
    if "Not a request this org can decide" in page:
        problem = re.search(r'<p role="alert" class="problem">(.*?)</p>', page, re.S)
        return refused(html.unescape(problem.group(1)) if problem else "?"), shown
    title = re.search(r'<h2 id="result-title" class="(allow|deny)">', page)
    assert title is not None, f"{PAGE}: no answer on the page:\n{page[-2000:]}"
    acting = _dd(page, "Acting as") or ""
    who = re.fullmatch(r"(.+) \((.+)\)", acting)
    rules, hidden = _dd(page, "Rules") or "", _dd(page, "Fields to hide") or ""
    answer = Answer(
        title.group(1) == "allow",
        () if rules == "none" else tuple(rules.split(", ")),
        None if acting == "nobody (not allowed)" or who is None else (who.group(1), who.group(2)),
        _dd(page, "Sender"),
        () if hidden == "none" else tuple(hidden.split(", ")),
        _dd(page, "Policy version") or "",
    )
    return answer, shown


def from_cli_text(out: str, products: dict[str, str]) -> Answer:
    """`authz explain`'s words (cli/render.py): a head line, then `  LABEL      value` rows.
    `products`: label -> product id (the text names a product by its label)."""
    lines = out.splitlines()
    rows: dict[str, str] = {}
    for line in lines[1:]:
        label, value = line[2:12].strip(), line[13:]
        rows.setdefault(label, value)
    acting = re.fullmatch(r"(\S+) in (.+) \(own identity, D1\)", rows.get("acting as", ""))
    sender = rows.get("sender", "").removesuffix(" (the user's own address, D11)")
    redact = rows.get("redact", "").removesuffix(" (hidden by the user's role, D7)")
    return Answer(
        lines[0].startswith("ALLOW"),
        tuple(rows["rules"].split(", ")) if "rules" in rows else (),
        (acting.group(1), products[acting.group(2)]) if acting else None,
        sender or None,
        tuple(redact.split(", ")) if redact else (),
        # `policy set VERSION`, then perhaps where the set came from, in brackets
        rows["version"].removeprefix("policy set ").split(" ", 1)[0],
    )


# -- the doors ------------------------------------------------------------------------------


def run_cli(args: Sequence[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"authz {shlex.join(args)} raised: {result.exception!r}")
    return result.exit_code, result.stdout, result.stderr


def _cli_answer(args: Sequence[str], read: Callable[[str], Answer], door: str) -> Answer:
    code, out, err = run_cli(args)
    if code == 2:
        return refused(err)
    assert code in (0, 1), f"{door}: authz {shlex.join(args)} exited {code}: {err}"
    answer = read(out)
    assert answer.allowed is (code == 0), f"{door}: exit {code} but {answer}"
    return answer


@dataclass
class World:
    """One policy source: a working directory with its store and, for the edited source, the
    edited policies (paths relative to it); a sidecar serving them (see `opened`)."""

    source: str
    workdir: Path
    store: Path
    policies: Path | None  # the directory served and given to the CLI (--policies)
    http: TestClient
    products: dict[str, str]  # label -> product id

    def cli(self, ask: Ask) -> Answer:
        args = ["explain", "--org", ask.org, "--store", str(self.store), *ask.cli_args()]
        args += ["--format", "json"]
        if self.policies is not None:
            args += ["--policies", str(self.policies)]
        return _cli_answer(args, lambda out: from_cli_json(json.loads(out)), CLI)

    def sidecar(self, ask: Ask) -> Answer:
        response = self.http.post("/access/v1/evaluation", json=ask.authzen())
        if response.status_code == 400:
            return refused(response.text)
        assert response.status_code == 200, f"{SIDECAR}: {response.status_code} {response.text}"
        return from_authzen(response.json())

    def batch(self, asks: Sequence[Ask]) -> list[Answer]:
        body = {"evaluations": [a.authzen() for a in asks]}
        response = self.http.post("/access/v1/evaluations", json=body)
        assert response.status_code == 200, f"{BATCH}: {response.status_code} {response.text}"
        items = response.json()["evaluations"]
        assert len(items) == len(asks), f"{BATCH}: {len(items)} answers to {len(asks)} asks"
        return [from_authzen(item) for item in items]

    def page(self, ask: Ask) -> tuple[Answer, str | None]:
        response = self.http.get(f"/ui/orgs/{ask.org}/explain", params=ask.page_query())
        assert response.status_code in (200, 400), f"{PAGE}: {response.status_code}"
        return from_page(response.text)

    def page_command(self, command: str) -> Answer:
        """The page's command line, run as it is shown, in the working directory the sidecar
        was started in."""
        words = shlex.split(command)
        assert words[0] == "authz", f"{PAGE}: not an authz command line: {command}"
        return _cli_answer(words[1:], lambda out: from_cli_text(out, self.products), PAGE_COMMAND)

    def client(self) -> Callable[[Ask], Answer]:
        """The client, through a transport that hands its requests to this world's sidecar;
        on the per-org base URL, as a CRM configures it."""

        def forward(request: httpx.Request) -> httpx.Response:
            answer = self.http.request(
                request.method,
                str(request.url),
                content=request.content,
                headers=dict(request.headers),
            )
            headers = {"content-type": answer.headers.get("content-type", "")}
            return httpx.Response(answer.status_code, headers=headers, content=answer.content)

        clients: dict[str, AuthzClient] = {}

        def check(ask: Ask) -> Answer:
            if ask.org not in clients:
                clients[ask.org] = AuthzClient(
                    f"http://testserver/{ask.org}", transport=httpx.MockTransport(forward)
                )
            context: dict[str, str] = dict(ask.context())
            if ask.channel != "crm":
                context["channel"] = ask.channel
            decision = clients[ask.org].check(
                ask.subject,
                ask.action,
                (ask.kind, ask.record),
                fields=ask.fields,
                context=context or None,
            )
            return from_client(decision)

        return check


def edited_copy(target: Path) -> Path:
    """The shipped policies (without history/) at `target`, with EDIT made."""
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("history"))
    name, before, after = EDIT
    text = (target / name).read_text(encoding="utf-8")
    assert text.count(before) == 1, f"{name}: the edited line moved; update EDIT"
    (target / name).write_text(text.replace(before, after), encoding="utf-8")
    return target


@contextlib.contextmanager
def opened(source: str, tmp_path: Path, snapshots: Sequence[str]) -> Iterator[World]:
    """A sidecar as `authz serve --store orgs.sqlite3 [--policies edited]` serves it, run in
    a working directory of its own (which the CLI doors run in too). Neither is where a plain
    `authz` looks by default (.authz/orgs.sqlite3, ./policies): the page's command line must
    say which store and policies it answered from."""
    workdir = tmp_path / source.replace(" ", "-")
    workdir.mkdir()
    with contextlib.chdir(workdir):
        store = Path("orgs.sqlite3")
        catalogue = load_policies(POLICIES).catalogue
        orgs_store = OrgStore(store)
        try:
            for text in snapshots:
                orgs_store.import_snapshot(text, catalogue)
        finally:
            orgs_store.close()
        policies = None
        if source == PUBLISHED:
            code, _, err = run_cli(
                ["policy", "publish", str(HISTORY), "--store", str(store), "--as", "test"]
            )
            assert code == 0, f"publishing {HISTORY}: {err}"
        elif source == EDITED:
            policies = edited_copy(Path("edited"))
        config = ServeConfig(
            store=str(store), policies=str(policies) if policies else None, reload_interval=0
        )
        app, _ = build(config)
        products = {label: pid for pid, label in catalogue.products.items()}
        with TestClient(app) as http:
            yield World(source, workdir, store, policies, http, products)


# -- the orgs and the questions -------------------------------------------------------------


def generated_orgs() -> list[dict[str, Any]]:
    """ORGS orgs from tests/strategies.py, the same every run: of CANDIDATES generated
    (derandomized), each given a record of every module it lacks, the ones whose answers show
    the most (_richness), one per data centre and edition (neighbouring examples are alike)."""
    found: list[dict[str, Any]] = []

    @settings(
        max_examples=CANDIDATES,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(orgs(min_users=4, max_users=6))
    def collect(org: dict[str, Any]) -> None:
        found.append(org)

    collect()
    policies = load_policies(POLICIES)
    for n, org in enumerate(found):
        _every_module(org, random.Random(f"records of {n}"))
    found.sort(key=lambda org: -_richness(org, policies))
    chosen: list[dict[str, Any]] = []
    for org in found:
        if (org["data_centre"], org["edition"]) not in {
            (o["data_centre"], o["edition"]) for o in chosen
        }:
            chosen.append(org)
    assert len(chosen) >= ORGS, f"{CANDIDATES} generated orgs are too alike"
    for n, org in enumerate(chosen[:ORGS]):
        org["id"] = f"gen{n}"
    return chosen[:ORGS]


def _richness(org: dict[str, Any], policies: PolicySet) -> int:
    """How much of the rule book the org's answers show, by the engine, over every user's
    view, create, edit and mail on a record of every module: views that redact (D7, rare in
    generated orgs), integration users' allows (D4, which 2025-05 differs in), mails that
    name a sender (D11), then allows of any kind."""
    engine = Engine(policies, load_org(json.dumps(org), policies.catalogue), "cedar")
    first: dict[str, str] = {}
    for rec in org["records"]:
        first.setdefault(rec["type"], rec["id"])
    asked = [
        Request(u["id"], action, kind, first[kind], "crm")
        for u in org["users"]
        for kind in MODULES
        for action in ("view", "create", "edit", "send_email")
    ]
    allowed = [d for d in engine.decide_many(asked, probe=False) if d.allowed]
    redacting = sum(bool(d.redact_fields) for d in allowed)
    integration = sum("D4" in d.rules for d in allowed)
    mails = sum(bool(d.sender) for d in allowed)
    return 10 * min(redacting, 3) + 4 * min(integration, 5) + 3 * min(mails, 3) + len(allowed)


def _every_module(org: dict[str, Any], rng: random.Random) -> None:
    """A record of each module the org has none of, made as tests/strategies.py makes them."""
    approval_on = {m for ms in org["approval"].values() for m in ms}
    users = [u["id"] for u in org["users"]]
    have = {r["type"] for r in org["records"]}
    for kind in MODULES:
        if kind in have:
            continue
        rec: dict[str, Any] = {"id": f"x-{kind}".replace("_", "-"), "type": kind}
        if kind in TRANSACTIONS:
            statuses = ["draft", "approved", "void"]
            if kind in approval_on:
                statuses.append("pending_approval")
            rec["status"] = rng.choice(statuses)
            if rec["status"] in ("pending_approval", "approved"):
                rec["submitted_by"] = rng.choice(users)
        if kind == "report":
            rec["folder"] = rng.choice(("Subscriptions Reports", "Sales Reports"))
        if kind in ("report", "dashboard"):
            rec["title"] = rng.choice(
                ("Subscriptions Overview", "Subscriptions Insights", "Pipeline")
            )
        org["records"].append(rec)


def _pointed(org: dict[str, Any]) -> list[Ask]:
    """Asks the org's data points at: a view by each user of each module their role or
    integration seat hides a field of (D7: a view redacts), and a new sales order, invoice
    and purchase order by each integration user of Books who is not its member (D4, the rule
    2025-05 differs in)."""
    roles = {r["id"]: r.get("fields") or {} for r in org["roles"]}
    seats = org["integration_user_fields"]
    first: dict[str, str] = {}
    for rec in org["records"]:
        first.setdefault(rec["type"], rec["id"])
    out = []
    for user in org["users"]:
        tables = [roles[m["role"]] for m in user.get("memberships", [])]
        tables += [seats.get(e["product"], {}) for e in user.get("enrolments", [])]
        hidden = {m for t in tables for m, fs in t.items() if "hidden" in fs.values()}
        out += [Ask(org["id"], user["id"], "view", m, first[m]) for m in sorted(hidden)]
        members = {m["product"] for m in user.get("memberships", [])}
        if any(e["product"] == "books" for e in user.get("enrolments", [])) and (
            "books" not in members
        ):
            out += [
                Ask(org["id"], user["id"], "create", m, None)
                for m in ("sales_order", "invoice", "purchase_order")
            ]
    return out


# Views (which redact) and mails (which name a sender) more often than the rest, and edits
# (which touch fields): the obligations are compared too.
ACTIONS = (*RECORD_ACTIONS, "view", "view", "edit", "send_email")


def asks_for(org: dict[str, Any], count: int) -> list[Ask]:
    """`count` questions on `org`, seeded by its id: first those its data points at
    (_pointed), then one on every record, then at random; about one in four on a new record;
    edits touching fields; acting_as and sender claims (often the subject's own); both
    channels."""
    rng = random.Random(f"asks of {org['id']}")
    users = [u["id"] for u in org["users"]]
    emails = {u["id"]: u["email"] for u in org["users"]}
    records = org["records"]
    out = _pointed(org)[: count // 4]
    unasked = list(records)
    while len(out) < count:
        subject = rng.choice(users)
        if rng.random() < 0.25:
            kind, record = rng.choice(tuple(MODULES)), None
        else:
            rec = unasked.pop(0) if unasked else rng.choice(records)
            kind, record = rec["type"], rec["id"]
        action = rng.choice(ACTIONS)
        fields: tuple[str, ...] = ()
        if action == "edit" and rng.random() < 0.6:
            fields = tuple(rng.sample(FIELDS[kind], rng.randint(1, 2)))
        claim = rng.random()
        acting_as = sender = None
        if claim < 0.15:
            acting_as = subject if rng.random() < 0.5 else rng.choice(users)
        elif claim < 0.3 or (action == "send_email" and claim < 0.7):
            sender = emails[subject if rng.random() < 0.5 else rng.choice(users)]
        channel = "direct" if rng.random() < 0.25 else "crm"
        out.append(
            Ask(org["id"], subject, action, kind, record, channel, fields, acting_as, sender)
        )
    return out


# -- asking every door, and comparing -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mismatch:
    source: str
    ask: Ask
    door: str
    answer: Answer
    reference: Answer

    def __str__(self) -> str:
        return (
            f"[{self.source}] {self.ask}\n    {self.door}: {self.answer}\n"
            f"    {REFERENCE}: {self.reference}"
        )


Answers = dict[str, list[Answer | None]]  # door -> its answer to each ask (None: not asked)


def ask_every_door(world: World, asks: Sequence[Ask]) -> Answers:
    """Each door's answer to each ask, in the asks' order; the CLI doors every CLI_EVERY-th."""
    answers: Answers = {door: [] for door in DOORS}
    check = world.client()
    for n, ask in enumerate(asks):
        answers[SIDECAR].append(world.sidecar(ask))
        answers[CLIENT].append(check(ask))
        shown, command = world.page(ask)
        answers[PAGE].append(shown)
        assert command is not None, f"{PAGE}: no command line for {ask}"
        by_cli = n % CLI_EVERY == 0
        answers[CLI].append(world.cli(ask) if by_cli else None)
        answers[PAGE_COMMAND].append(world.page_command(command) if by_cli else None)
    for org in dict.fromkeys(a.org for a in asks):
        answers[BATCH] += world.batch([a for a in asks if a.org == org])
    return answers


def disagreements(source: str, asks: Sequence[Ask], answers: Answers) -> list[Mismatch]:
    """Every answer of every door that is not the reference door's, in the asks' order."""
    found = []
    for n, ask in enumerate(asks):
        reference = answers[REFERENCE][n]
        assert reference is not None, f"{REFERENCE}: not asked {ask}"
        for door, said in answers.items():
            answer = said[n]
            if door != REFERENCE and answer is not None and answer != reference:
                found.append(Mismatch(source, ask, door, answer, reference))
    return found


def report(found: Sequence[Mismatch], asked: int) -> str:
    """How many answers differ, per source and door, then the first few of each (those that
    differ in the decision itself first)."""
    groups: dict[tuple[str, str], list[Mismatch]] = {}
    for m in found:
        groups.setdefault((m.source, m.door), []).append(m)
    counts = "\n".join(f"  {len(ms):4} [{s}] {door}" for (s, door), ms in groups.items())
    shown: list[Mismatch] = []
    for ms in groups.values():
        decided_first = sorted(ms, key=lambda m: m.answer.allowed == m.reference.allowed)
        shown += decided_first[:SHOWN_PER_GROUP]
    shown = shown[:SHOWN]
    first = "\n".join(str(m) for m in shown)
    return (
        f"{len(found)} answers to {asked} asks differ from the {REFERENCE}'s, per source "
        f"and door:\n{counts}\nthe first of each ({len(shown)}):\n{first}"
    )


@pytest.fixture(scope="module")
def generated() -> list[dict[str, Any]]:
    return generated_orgs()


@pytest.fixture(autouse=True)
def _no_store_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # the page's command line must name its store, not find it in the environment
    monkeypatch.delenv(STORE_ENV, raising=False)


@pytest.mark.slow
def test_every_door_gives_the_same_answer(tmp_path: Path, generated: list[dict[str, Any]]) -> None:
    snapshots = [json.dumps(org) for org in generated]
    asks = [ask for org in generated for ask in asks_for(org, ASKS_PER_ORG)]
    found: list[Mismatch] = []
    served: dict[str, list[Answer | None]] = {}
    for source in SOURCES:
        with opened(source, tmp_path, snapshots) as world:
            answers = ask_every_door(world, asks)
        served[source] = answers[REFERENCE]
        found += disagreements(source, asks, answers)
    # the sources are three different questions, or agreeing would prove little
    for source in (PUBLISHED, EDITED):
        changed = sum(
            a is not None and b is not None and a.allowed != b.allowed
            for a, b in zip(served[SHIPPED], served[source], strict=True)
        )
        assert changed, f"[{source}] decides every ask as [{SHIPPED}] does"
    bad = [
        f"{ask}: {a}"
        for ask, a in zip(asks, served[SHIPPED], strict=True)
        if a is None or a.allowed is None
    ]
    assert not bad, f"asks the {REFERENCE} refuses as bad input: {bad[:5]}"
    assert not found, report(found, len(asks) * len(SOURCES))


def test_the_comparison_finds_a_door_asking_another_policy_source(
    tmp_path: Path, generated: list[dict[str, Any]]
) -> None:
    """A door pointed at another source than the sidecar's is caught: the CLI is given the
    edited directory (--policies) while the sidecar serves the shipped set."""
    # edits of existing records: what the edit narrows (and no `#new`, which the CLI may
    # misread on its own)
    every = [a for org in generated for a in asks_for(org, ASKS_PER_ORG)]
    asks = [a for a in every if a.action == "edit" and a.record is not None][:40]
    with opened(SHIPPED, tmp_path, [json.dumps(org) for org in generated]) as world:
        world.policies = edited_copy(tmp_path / "edited")
        answers: Answers = {
            CLI: [world.cli(a) for a in asks],
            SIDECAR: [world.sidecar(a) for a in asks],
        }
    found = disagreements(SHIPPED, asks, answers)
    # another policy version on every answer, and another decision on some
    assert len(found) == len(asks), report(found, len(asks))
    assert any(m.answer.allowed != m.reference.allowed for m in found), report(found, len(asks))
    message = str(found[0])
    assert SHIPPED in message and CLI in message and REFERENCE in message
    assert str(found[0].ask) in message and str(found[0].answer) in message
