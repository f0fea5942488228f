"""What `authz init` writes into a user's repository, from the templates beside this file (they
ship inside the package): the policies, an example suite, a pre-commit config and the review
workflow. The project's own workflow (.github/workflows/policy-review.yml) is made by
`workflow` too, with what only this repository needs (tools/policy_review_workflow.py)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path

HERE = Path(__file__).parent
WORKFLOW = Path(".github/workflows/authz-review.yml")
PRE_COMMIT = Path(".pre-commit-config.yaml")
SUITE = Path("policies/tests/example.yaml")

# What the shipped set holds that a user's repository should not start from: this project's
# history and legacy set, their orgs, its own suites (init writes one example instead), and the
# Polar encoding (a second encoding to keep in step; crosscheck is this project's test of it).
NOT_COPIED = ("history", "legacy", "tests", "polar", "legacy-*", "__pycache__")
# --empty: what a set that serves cannot go without (the schema and catalogue, the forbids of
# D1 and D11, the obligations that say how a decision hides fields and names a mail's sender)
# and the demo org the example suite asks; no permit of a right.
EMPTY_KEEPS = (
    "schema.cedarschema",
    "modules.json",
    "identity.cedar",
    "obligations.cedar",
    "examples/demo-org.json",
)

# The published hooks (.pre-commit-hooks.yaml, which tests/cli/test_init.py holds this to),
# run as pre-commit installs a local python hook: suite-authz from the package index.
HOOKS = (
    ("authz-validate", "authz validate", "authz validate", "^policies/"),
    ("authz-lint", "authz lint", "authz lint", "^policies/"),
    ("authz-fmt", "authz fmt --check", "authz fmt --check", r"\.cedar$"),
    ("authz-test", "authz test", "authz test --coverage", "^policies/"),
)


def package_version() -> str:
    return installed_version("suite-authz")


@dataclass(frozen=True)
class Flavour:
    """What differs between a user's workflow and this project's own."""

    name: str
    header: str  # the comment lines at the top
    paths: tuple[tuple[str, str], ...]  # (glob, why) the pull request must touch
    install: str  # the install step's `run:`, `authz` on the PATH after it
    review_args: str  # what `authz review` is asked besides BASE and --format
    extra_steps: str = ""  # steps after the review's, indented as steps are

    @property
    def file(self) -> Path:
        return Path(f".github/workflows/{self.name}.yml")


def user_flavour(version: str) -> Flavour:
    return Flavour(
        name="authz-review",
        header=(
            f"# Made by `authz init` (suite-authz {version}): review every change to policies/ "
            "as its\n# reviewer needs it. Upgrading suite-authz is changing the version below."
        ),
        paths=(
            ("policies/**", "the policies, the schema, the catalogue and the suites"),
            (".github/workflows/authz-review.yml", ""),
        ),
        install=f'python -m pip install "suite-authz=={version}"',
        review_args="--fail-on non-member-gain",
    )


def workflow(flavour: Flavour) -> str:
    paths = "\n".join(
        f'      - "{glob}"' + (f"  # {why}" if why else "") for glob, why in flavour.paths
    )
    text = (
        _template("workflow.yml.in")
        .replace("@HEADER@", flavour.header)
        .replace("@NAME@", flavour.name)
        .replace("@PATHS@", paths)
        .replace("@INSTALL@", flavour.install)
        .replace("@REVIEW_ARGS@", flavour.review_args)
        .replace("@EXTRA_STEPS@", flavour.extra_steps)
    )
    return text.rstrip("\n") + "\n"


def pre_commit_config(version: str) -> str:
    hooks = "".join(
        f"      - id: {hook_id}\n"
        f"        name: {name}\n"
        f"        entry: {entry}\n"
        "        language: python\n"
        f'        additional_dependencies: ["suite-authz=={version}"]\n'
        f"        files: {_quoted(files)}\n"
        "        pass_filenames: false\n"
        for hook_id, name, entry, files in HOOKS
    )
    return (
        _template("pre-commit-config.yaml.in")
        .replace("@VERSION@", version)
        .replace("@HOOKS@\n", hooks)
    )


def planned(shipped: Path, empty: bool, version: str) -> dict[Path, str | Path]:
    """Every file init writes, relative to the repository: its text, or the shipped file to
    copy."""
    out: dict[Path, str | Path] = {}
    policies = Path("policies")
    if empty:
        for name in EMPTY_KEEPS:
            out[policies / name] = shipped / name
    else:
        for path in sorted(shipped.rglob("*")):
            relative = path.relative_to(shipped)
            if path.is_file() and not any(
                part.startswith(("__",)) or _excluded(part) for part in relative.parts
            ):
                out[policies / relative] = path
    out[SUITE] = _template("empty-suite.yaml" if empty else "example-suite.yaml")
    out[PRE_COMMIT] = pre_commit_config(version)
    out[WORKFLOW] = workflow(user_flavour(version))
    return out


def write(root: Path, plan: dict[Path, str | Path]) -> None:
    for relative, what in plan.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(what, Path):
            shutil.copyfile(what, target)
        else:
            target.write_text(what, encoding="utf-8")


def _excluded(part: str) -> bool:
    from fnmatch import fnmatch

    return any(fnmatch(part, pattern) for pattern in NOT_COPIED)


def _quoted(pattern: str) -> str:
    return f"'{pattern}'"


def _template(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")
