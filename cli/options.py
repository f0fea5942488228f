"""Options several commands share, spelled once."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from suite_authz.cli.exits import CommandFailed
from suite_authz.cli.loading import ORG, ORG_RULE
from suite_authz.engine.core import AuthzError, context_value
from suite_authz.engine.sources import PolicyRef, check_directory
from suite_authz.engine.store import store_location

# Which policy set a command works on, as a PolicyRef (engine/sources/policy_ref.py resolves it).
#
# A review command (validate, lint, fmt, test, verify, crosscheck) checks --policies DIR,
# --shipped, or the policies/ of the directory it runs in (a user's repository, where
# pre-commit runs its hooks), and nothing else: with none of them it exits 2 saying what to
# pass, since a review that passed on the shipped set while the user's own policies were
# missing would be a false green.
#
# A command that decides as the sidecar does (explain, org import, migrate, serve) defaults to
# what a sidecar over the store serves: the store's active version, else the shipped set; it
# prints which in its output.
HERE = Path("policies")


def review_ref(explicit: Path | None, shipped: bool) -> PolicyRef:
    """The set a review command checks (see above); a named directory must exist and hold
    .cedar files."""
    if explicit is not None and shipped:
        raise click.UsageError("--policies and --shipped name two sets: give one")
    if shipped:
        return PolicyRef.shipped()
    if explicit is None:
        if not HERE.is_dir():
            raise CommandFailed(
                f"no policies/ here ({Path.cwd()}): pass --policies DIR, or --shipped for "
                "the set shipped with authz"
            )
        explicit = HERE
    check_directory(explicit)
    return PolicyRef.directory(explicit)


def served_ref(explicit: Path | None, shipped: bool) -> PolicyRef:
    """The set a deciding command uses: --policies DIR, --shipped, else the store's active
    version (the shipped set while the store has none)."""
    if explicit is not None and shipped:
        raise click.UsageError("--policies and --shipped name two sets: give one")
    if shipped:
        return PolicyRef.shipped()
    if explicit is not None:
        check_directory(explicit)
        return PolicyRef.directory(explicit)
    return PolicyRef.active()


def _policy_flags(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option("--shipped", is_flag=True, help="Use the policy set shipped with authz.")(
            f
        )
        return click.option(
            "--policies",
            "policies_dir",
            type=click.Path(path_type=Path),
            default=None,
            help=help,
        )(f)

    return decorate


def policies_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--policies DIR and --shipped for a review command, resolved into its `policies` (a
    PolicyRef naming a directory or the shipped set)."""

    @_policy_flags("Policy directory (default: ./policies; none there is an error).")
    @functools.wraps(f)
    def wrapper(*args: Any, policies_dir: Path | None, shipped: bool, **kwargs: Any) -> Any:
        return f(*args, policies=review_ref(policies_dir, shipped), **kwargs)

    return wrapper


def served_policies_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--policies DIR and --shipped for a command that decides as the sidecar does, resolved
    into its `policies` (a PolicyRef; by default the store's active version)."""

    @_policy_flags(
        "Policy directory (default: what a sidecar over the store serves: its active "
        "published version, else the shipped set; the output says which)."
    )
    @functools.wraps(f)
    def wrapper(*args: Any, policies_dir: Path | None, shipped: bool, **kwargs: Any) -> Any:
        return f(*args, policies=served_ref(policies_dir, shipped), **kwargs)

    return wrapper


class StoreType(click.ParamType):
    """A SQLite file's path, or a postgresql:// URL (kept a string: a Path folds its `//`)."""

    name = "PATH|URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str | Path) or not str(value):
            self.fail("needs a SQLite file's path or a postgresql:// URL", param, ctx)
        return store_location(value)


store_option = click.option(
    "--store",
    "store_path",
    type=StoreType(),
    default=None,
    help="The org store: a SQLite file, or a postgresql:// URL shared by a fleet (default: "
    "$AUTHZ_STORE, else .authz/orgs.sqlite3).",
)


def org_option(required: bool, help: str) -> click.decorators.FC:  # type: ignore[name-defined]
    """--org ORG: an id in the store or a snapshot file, the same in every command."""
    return click.option(
        "--org", "org", required=required, type=ORG, help=f"{help} ORG is {ORG_RULE}."
    )


def decision_log_option(help: str) -> click.decorators.FC:  # type: ignore[name-defined]
    return click.option("--decision-log", type=click.Path(path_type=Path), default=None, help=help)


def stored_org_option(why: str, *, multiple: bool = False, help: str) -> Any:
    """--org for a command that works on the store only: an id; a file is refused saying how
    to import it (the same flag, the same reading, as everywhere else)."""

    def ids(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return value
        if multiple:
            return tuple(ref.stored_id(why) for ref in value)
        return value.stored_id(why)

    return click.option(
        "--org",
        "org_ids" if multiple else "org_id",
        type=ORG,
        multiple=multiple,
        required=not multiple,
        callback=ids,
        help=help,
    )


def format_option(*formats: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--format text|json (and any other `formats`), with --json as its short form, into the
    command's `output_format`. Every command that prints a result has it; the JSON is documented
    in docs/cli.md ("JSON output")."""
    choices = ("text", "json", *formats)

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        @click.option(
            "--format",
            "output_format",
            type=click.Choice(choices),
            default=None,
            help="How to print the result (default: text).",
        )
        @click.option("--json", "as_json", is_flag=True, help="Short for --format json.")
        @functools.wraps(f)
        def wrapper(*args: Any, output_format: str | None, as_json: bool, **kwargs: Any) -> Any:
            if as_json and output_format not in (None, "json"):
                raise click.UsageError(f"--json and --format {output_format} ask for two formats")
            chosen = "json" if as_json else (output_format or "text")
            return f(*args, output_format=chosen, **kwargs)

        return wrapper

    return decorate


def context_pairs(pairs: tuple[str, ...]) -> dict[str, object]:
    """--context KEY=VALUE pairs, each value read as the key's type (engine/core/request.py)."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandFailed(f"--context: `{pair}` is not KEY=VALUE")
        try:
            out[key] = context_value(key, value)
        except AuthzError as exc:
            raise CommandFailed(exc) from None
    return out
