"""A review's base is the set the base branch holds, whatever the change under review adds:
a directory named like the base revision (`origin/main/` in the pull request) is not taken for
it, and the base's own `.gitattributes` cannot hide a policy file from the diff (`git archive`
honoured `export-ignore`, so a later change that deleted the hidden file read as no change)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from suite_authz.engine.core import AuthzError
from suite_authz.engine.sources import PolicyRef, Source, resolve_policies
from suite_authz.engine.sources.revisions import policy_dir
from tests.cli.runner import run
from tests.conftest import POLICIES


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main",
         *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose main holds the shipped set (without its history)."""
    repo = tmp_path / "repo"
    shutil.copytree(POLICIES, repo / "policies", ignore=shutil.ignore_patterns("history"))
    git(repo.parent, "init", "-q", str(repo))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    return repo


def test_a_directory_named_like_the_base_revision_is_not_taken_for_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    git(repo, "checkout", "-qb", "pr")
    (repo / "policies" / "rollout.cedar").unlink()  # the change: a whole file of rules gone
    shutil.copytree(repo / "policies", repo / "main")  # ... hidden behind a `main/` directory
    with pytest.raises(AuthzError, match=r"`main` is both a directory and a git revision"):
        PolicyRef.parse("main")
    named = PolicyRef.parse("git:main")
    assert named.kind is Source.GIT
    base = resolve_policies(named).policies
    assert "rollout.cedar" in {Path(f).name for f in base.texts}
    # a directory said as one is the directory
    assert PolicyRef.parse("./main").kind is Source.DIRECTORY
    code, _, err = run("diff", "main", "policies", "--format", "json")
    assert code == 2 and "both a directory and a git revision" in err, err


def test_the_base_revisions_gitattributes_cannot_hide_a_file(repo: Path) -> None:
    (repo / ".gitattributes").write_text("policies/rollout.cedar export-ignore\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "attributes")
    taken = policy_dir("HEAD", repo.parent / "work", repo)
    assert (taken / "rollout.cedar").is_file()
    assert sorted(p.name for p in taken.iterdir()) == sorted(
        p.name for p in (repo / "policies").iterdir()
    )


def test_a_symlink_in_a_revisions_policies_is_refused(repo: Path) -> None:
    (repo / "policies" / "outside.cedar").symlink_to("/etc/hostname")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "link")
    with pytest.raises(AuthzError, match=r"policies/outside.cedar.*symbolic link"):
        policy_dir("HEAD", repo.parent / "work", repo)


@pytest.mark.parametrize("spec", ["--output=/tmp/x", "-h"])
def test_a_revision_is_never_read_as_an_option(repo: Path, spec: str) -> None:
    with pytest.raises(AuthzError, match="nor a git revision"):
        policy_dir(spec, repo.parent / "work", repo)


def test_a_broken_base_is_said_to_be_the_base(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A base that does not parse is not the change's fault: the error names the side."""
    monkeypatch.chdir(repo)
    (repo / "policies" / "channel.cedar").write_text("permit(principal, action, resource\n")
    git(repo, "commit", "-qam", "broken on main")
    git(repo, "checkout", "-qb", "pr", "HEAD~1")
    code, _, err = run("diff", "main", "policies", "--format", "json")
    assert code == 2 and "authz: base: " in err and "channel.cedar" in err, err
