"""Policy review in a user's own repository: the hooks and `authz` check the user's policies/,
never the shipped set, and fail on a broken policy there (a pass on the shipped set would be a
false green)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from suite_authz.engine.core import is_installed_copy
from tests.cli.runner import BIN, run, shell, user_env
from tests.conftest import DEMO, POLICIES, ROOT

AUTHZ = str(BIN / "authz")
PRE_COMMIT = BIN / "pre-commit"
# Unannotated and not in Cedar's format: five lint findings, a validate failure, a fmt change,
# and a permit of everything that makes the suites fail.
BAD = "permit(principal,action,resource)   ;\n"


def _local_hooks() -> dict[str, object]:
    """Our published hooks, as a user's config would run them, with `authz` from this venv
    (language: system) so that the test needs no network to install the package."""
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    for hook in hooks:
        hook["language"] = "system"
    return {"repos": [{"repo": "local", "hooks": hooks}]}


@pytest.fixture
def user_repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    repo = tmp_path / "crm-policies"
    repo.mkdir()
    shutil.copytree(POLICIES, repo / "policies", ignore=shutil.ignore_patterns("history"))
    (repo / "policies" / "extra.cedar").write_text(BAD, encoding="utf-8")
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(_local_hooks()), "utf-8")
    env = user_env(tmp_path)
    for args in (["git", "init", "-q"], ["git", "add", "-A"]):
        assert shell(args, repo, env).returncode == 0
    return repo, env


@pytest.mark.slow
def test_hooks_fail_on_a_broken_policy_in_the_users_repository_and_pass_once_fixed(
    user_repo: tuple[Path, dict[str, str]],
) -> None:
    repo, env = user_repo
    before = shell([str(PRE_COMMIT), "run", "--all-files"], repo, env)
    assert before.returncode != 0, before.stdout
    for hook in ("authz validate", "authz lint", "authz fmt --check", "authz test"):
        line = next(x for x in before.stdout.splitlines() if x.startswith(hook))
        assert line.endswith("Failed"), before.stdout

    (repo / "policies" / "extra.cedar").unlink()
    assert shell(["git", "add", "-A"], repo, env).returncode == 0
    after = shell([str(PRE_COMMIT), "run", "--all-files"], repo, env)
    assert after.returncode == 0, after.stdout + after.stderr


def test_authz_in_the_users_repository_checks_its_policies(
    user_repo: tuple[Path, dict[str, str]],
) -> None:
    repo, env = user_repo
    lint = shell([AUTHZ, "lint"], repo, env)
    assert lint.returncode == 1, lint.stdout
    # every finding in one run, not only the missing @id
    assert lint.stdout.splitlines() == [
        "extra.cedar:1: policy #1 has no @id",
        "extra.cedar:1: policy #1: @rule must name rules D1-D12 of docs/rules.md, got ``",
        "extra.cedar:1: policy #1: a permit needs @product and @seat "
        "(member, integration, admin, borrowed)",
        "extra.cedar:1: policy #1: a permit with no condition on principal or resource",
        "extra.cedar:1: policy #1: no @reason",
        "5 findings",
    ]
    validate = shell([AUTHZ, "validate"], repo, env)
    assert validate.returncode == 2 and "extra.cedar:1" in validate.stderr
    check = shell([AUTHZ, "fmt", "--check"], repo, env)
    assert check.returncode == 1 and "extra.cedar" in check.stdout
    diff = shell([AUTHZ, "fmt", "--diff"], repo, env)
    assert diff.returncode == 1
    assert "-permit(principal,action,resource)   ;\n+permit (principal, action, resource);" in (
        diff.stdout
    )
    assert (repo / "policies" / "extra.cedar").read_text(encoding="utf-8") == BAD


def test_fmt_writes_the_users_file_and_nothing_of_the_shipped_set(
    user_repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, env = user_repo
    shipped = {p: p.read_bytes() for p in POLICIES.rglob("*.cedar")}
    fmt = shell([AUTHZ, "fmt"], repo, env)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    assert (repo / "policies" / "extra.cedar").read_text(encoding="utf-8") != BAD
    assert {p: p.read_bytes() for p in POLICIES.rglob("*.cedar")} == shipped

    elsewhere = tmp_path / "no-policies-here"
    elsewhere.mkdir()
    refused = shell([AUTHZ, "fmt"], elsewhere, env)
    assert refused.returncode == 2
    assert "no policies/ here" in refused.stderr
    assert {p: p.read_bytes() for p in POLICIES.rglob("*.cedar")} == shipped


def test_fmt_never_rewrites_the_installed_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package laid out as installed (a real suite_authz/policies, not the checkout's
    link to the repository's policies/): neither --shipped nor its path may be rewritten."""
    package = tmp_path / "site" / "suite_authz"
    shutil.copytree(POLICIES, package / "policies", ignore=shutil.ignore_patterns("history"))
    (package / "policies" / "extra.cedar").write_text(BAD, encoding="utf-8")
    monkeypatch.setattr("suite_authz.engine.core.policies.PACKAGE_DIR", package)
    for args in (["--shipped"], ["--policies", str(package / "policies")]):
        code, _, err = run("fmt", *args)
        assert code == 2 and "not yours to rewrite" in err, err
    assert (package / "policies" / "extra.cedar").read_text(encoding="utf-8") == BAD
    # the checkout's own policies/ are the developer's to format
    assert not is_installed_copy(POLICIES)


REVIEWS = (["validate"], ["lint"], ["fmt", "--check"], ["test"], ["verify"],
           ["crosscheck", "--org", str(DEMO)])  # fmt: skip


@pytest.mark.parametrize("review", REVIEWS, ids=lambda r: r[0])
def test_without_policies_here_a_review_exits_2_saying_what_to_pass(
    user_repo: tuple[Path, dict[str, str]], tmp_path: Path, review: list[str]
) -> None:
    """No silent fallback to the shipped set: a review that passed on it while the user's
    own policies were not there would be a false green."""
    _, env = user_repo
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    done = shell([AUTHZ, *review], elsewhere, env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert "no policies/ here" in done.stderr and "--policies DIR, or --shipped" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("review", REVIEWS, ids=lambda r: r[0])
@pytest.mark.parametrize("bad", ["missing", "a-file", "empty"])
def test_a_policies_path_that_is_no_policy_directory_exits_2(
    tmp_path: Path, review: list[str], bad: str
) -> None:
    """A typo in a path is never a green build: a path that does not exist, is a file, or
    holds no .cedar file is bad input, named."""
    path = tmp_path / bad
    if bad == "a-file":
        path.write_text("permit (principal, action, resource);\n", encoding="utf-8")
    elif bad == "empty":
        path.mkdir()
    done = shell([AUTHZ, *review, "--policies", str(path)], tmp_path, user_env(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    said = {"missing": "no such directory", "a-file": "not a directory", "empty": "no .cedar"}
    assert f"authz: {path}: " in done.stderr and said[bad] in done.stderr, done.stderr


@pytest.mark.slow
def test_from_an_installed_wheel_the_shipped_set_is_never_rewritten(tmp_path: Path) -> None:
    """As `pip install` lays it out (one top-level package, `suite_authz`, the policies inside
    it), run from a directory with no policies/ and from a user repository with one."""
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("suite_authz-*.whl"))
    installed = subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
                               capture_output=True, text=True, check=False)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    for clash in ("engine", "cli", "server", "client", "authz_client"):
        assert not (site / clash).exists(), f"the wheel installs a top-level `{clash}`"
    top = {p.name for p in site.iterdir() if not p.name.endswith(".dist-info")} - {"bin"}
    assert top == {"suite_authz"}
    shipped = site / "suite_authz" / "policies"
    before = {p: p.read_bytes() for p in shipped.rglob("*.cedar")}
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages")
    env = user_env(tmp_path) | {"PYTHONPATH": f"{site}{os.pathsep}{deps}"}
    authz = [sys.executable, "-m", "suite_authz.cli.main"]

    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    refused = shell([*authz, "fmt", "--shipped"], nowhere, env)
    assert refused.returncode == 2 and "not yours to rewrite" in refused.stderr
    lint = shell([*authz, "lint"], nowhere, env)
    assert lint.returncode == 2 and "no policies/ here" in lint.stderr
    lint = shell([*authz, "lint", "--shipped"], nowhere, env)
    assert lint.returncode == 0, lint.stderr
    version = shell([*authz, "--version"], nowhere, env)
    assert f"shipped policies: {shipped}\n" in version.stdout
    examples = shell([*authz, "policy", "path", "examples"], nowhere, env).stdout.strip()
    assert Path(examples) == shipped / "examples"
    asked = ["--subject", "asha", "--action", "view", "--resource", "estimate:est-1"]
    explained = shell(
        [*authz, "explain", "--org", f"{examples}/demo-org.json", *asked], nowhere, env
    )
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.startswith("ALLOW  asha · view · estimate `est-1`")

    repo = tmp_path / "repo"
    shutil.copytree(shipped, repo / "policies", ignore=shutil.ignore_patterns("history"))
    (repo / "policies" / "extra.cedar").write_text(BAD, encoding="utf-8")
    assert shell([*authz, "lint"], repo, env).returncode == 1
    assert shell([*authz, "fmt"], repo, env).returncode == 0
    assert (repo / "policies" / "extra.cedar").read_text(encoding="utf-8") != BAD
    assert {p: p.read_bytes() for p in shipped.rglob("*.cedar")} == before
