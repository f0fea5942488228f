"""Policy sets by name for a review: a git revision's `policies/`, read from git's objects
(the only place the engine runs git). Not `git archive`: it honours the revision's own
`.gitattributes`, so a base whose attributes said `export-ignore` hid that file from every
later diff. The revision is resolved to one commit first and never read as an option."""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

from suite_authz.engine.core.errors import AuthzError

# what a review reads of one revision's policies/: far above any real set, a bound on memory
MAX_BYTES = 64 * 1024 * 1024
BLOB_MODES = ("100644", "100755")


def is_revision(spec: str, repo: Path | None = None) -> bool:
    """True when git, run in `repo` (else here), names a commit by `spec`."""
    if spec.startswith("-"):
        return False
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}"], repo or Path.cwd())
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def policy_dir(spec: str, workdir: Path, repo: Path | None = None) -> Path:
    """A git revision's `policies/`, written under workdir from the commit's own tree."""
    cwd = repo or Path.cwd()
    if spec.startswith("-"):
        raise AuthzError(
            f"`{spec}` is neither a policy directory nor a git revision (a revision never "
            "starts with `-`)"
        )
    neither = f"`{spec}` is neither a policy directory nor a git revision with policies/"
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], cwd).decode().strip())
    except (OSError, subprocess.CalledProcessError) as exc:
        raise AuthzError(f"{neither} ({_git_said(exc)})") from None
    if not is_revision(spec, top):
        raise AuthzError(f"{neither} (git knows no commit `{spec}` here)")
    try:
        commit = _git(["rev-parse", "--verify", f"{spec}^{{commit}}"], top).decode().strip()
        listing = _git(["ls-tree", "-r", "-z", "-l", "--full-tree", commit, "--", "policies"], top)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise AuthzError(f"{neither} ({_git_said(exc)})") from None
    entries = _blobs(spec, listing)
    if not entries:
        raise AuthzError(
            f"`{spec}` is neither a policy directory nor a git revision with policies/ "
            "(the revision has no policies/)"
        )
    target = workdir / f"rev-{commit}"
    contents = _contents(top, [sha for sha, _ in entries])
    for (_, path), data in zip(entries, contents, strict=True):
        out = target / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    return target / "policies"


def _blobs(spec: str, listing: bytes) -> list[tuple[str, PurePosixPath]]:
    """(object id, path) of each file of `git ls-tree -l` output; a link, a submodule, a path
    that leaves policies/ or a set over MAX_BYTES refused by name."""
    entries, total = [], 0
    for record in listing.decode("utf-8", "surrogateescape").split("\0"):
        if not record:
            continue
        meta, _, name = record.partition("\t")
        mode, kind, sha, size = meta.split()
        path = PurePosixPath(name)
        where = f"`{spec}`: {name}"
        if mode == "120000":
            raise AuthzError(f"{where} is a symbolic link: a revision's policies are files")
        if kind != "blob" or mode not in BLOB_MODES:
            raise AuthzError(f"{where} is not a file ({kind}, mode {mode})")
        if path.parts[0] != "policies" or ".." in path.parts or path.is_absolute():
            raise AuthzError(f"{where}: not a path inside policies/")
        total += int(size)
        if total > MAX_BYTES:
            raise AuthzError(f"`{spec}`: policies/ is larger than {MAX_BYTES} bytes")
        entries.append((sha, path))
    return entries


def _contents(top: Path, shas: list[str]) -> list[bytes]:
    """The objects' bytes, in order, from one `git cat-file --batch`."""
    out = _git(["cat-file", "--batch"], top, stdin="".join(f"{s}\n" for s in shas).encode())
    contents, at = [], 0
    for sha in shas:
        header_end = out.index(b"\n", at)
        got, kind, size = out[at:header_end].decode().split()
        if got != sha or kind != "blob":
            raise AuthzError(f"git cat-file answered {got} {kind} for {sha}")
        start = header_end + 1
        contents.append(out[start : start + int(size)])
        at = start + int(size) + 1
    return contents


def _git(args: list[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, check=True, capture_output=True
    ).stdout


def _git_said(exc: OSError | subprocess.CalledProcessError) -> str:
    """git's own reason, one line, as text (its stderr is bytes or text by the call)."""
    said = getattr(exc, "stderr", None) or str(exc)
    if isinstance(said, bytes):
        said = said.decode("utf-8", "replace")
    lines = [x.strip() for x in said.splitlines() if x.strip()]
    return (lines[0] if lines else str(exc)).removeprefix("fatal: ")
