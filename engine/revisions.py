"""Policy sets by name for a review: a directory as it is, or a git revision's `policies/`
taken out with `git archive` (the only place the engine runs git)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from suite_authz.engine.errors import AuthzError


def policy_dir(spec: str, workdir: Path, repo: Path | None = None) -> Path:
    """A directory as it is, or a git revision's `policies/` extracted under workdir."""
    path = Path(spec)
    if path.is_dir():
        return path
    cwd = repo or Path.cwd()
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=cwd,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        archive = subprocess.run(
            ["git", "archive", "--format=tar", spec, "policies"],
            cwd=top,
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise AuthzError(
            f"`{spec}` is neither a policy directory nor a git revision with policies/ "
            f"({_git_said(exc)})"
        ) from None
    target = workdir / spec.replace("/", "_")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "policies"


def _git_said(exc: OSError | subprocess.CalledProcessError) -> str:
    """git's own reason, one line, as text (its stderr is bytes or text by the call)."""
    said = getattr(exc, "stderr", None) or str(exc)
    if isinstance(said, bytes):
        said = said.decode("utf-8", "replace")
    lines = [x.strip() for x in said.splitlines() if x.strip()]
    return (lines[0] if lines else str(exc)).removeprefix("fatal: ")
