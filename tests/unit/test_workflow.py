"""The policy-review workflow and the pre-commit files: what docs/policies.md promises of them.
(`make lint` runs actionlint over the workflow and pre-commit's own checks over both files.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "policy-review.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, object]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_it_runs_when_anything_that_decides_changes(workflow: dict[str, object]) -> None:
    paths = workflow[True]["pull_request"]["paths"]  # type: ignore[index]  # YAML's `on`
    for needed in ("policies/**", "engine/**", "pyproject.toml"):
        assert needed in paths


def test_it_asks_for_no_more_than_it_needs(workflow: dict[str, object]) -> None:
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_no_expression_is_pasted_into_a_shell_script(workflow: dict[str, object]) -> None:
    steps = workflow["jobs"]["review"]["steps"]  # type: ignore[index]
    for step in steps:
        assert "${{" not in step.get("run", ""), step.get("name")


def test_the_diff_is_posted_as_one_comment_updated_in_place(
    workflow: dict[str, object],
) -> None:
    steps = workflow["jobs"]["review"]["steps"]  # type: ignore[index]
    review = next(s for s in steps if s.get("id") == "review")
    assert '"${expect[@]}"' in review["run"] and '"git:origin/$BASE_REF"' in review["run"]
    # authz review runs verify, and proves the diff (the enumerated diff misses what no
    # request of its space shows: the proof does not)
    assert "authz review " in review["run"] and "--no-prove" not in review["run"]
    comment = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))
    script = comment["with"]["script"]
    assert "updateComment" in script and "createComment" in script and "marker" in script
    # the review's verdict still fails the job, after the comment is posted
    assert any("steps.review.outputs.status" in str(s.get("if", "")) for s in steps)


@pytest.mark.slow
def test_the_repositorys_own_pre_commit_config_passes_on_a_fresh_clone(tmp_path: Path) -> None:
    """As docs/policies.md sets a contributor up: a clone, the project's .venv, pre-commit
    install."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(PRE_COMMIT_HOME=str(tmp_path / "pre-commit"), NO_COLOR="1")
    pre_commit = str(Path(sys.executable).parent / "pre-commit")
    installed = subprocess.run(
        [pre_commit, "install"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr
    ran = subprocess.run(
        [pre_commit, "run", "--all-files"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    passed = re.findall(r"^(.+?)\.{3,}Passed$", ran.stdout, re.MULTILINE)
    assert len(passed) == 6, ran.stdout
