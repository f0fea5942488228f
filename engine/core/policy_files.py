"""Reading a policy directory into a PolicySource: the texts of one policy set, in memory.

Everything after this works on texts, never on files, so a set read once is the set validated,
versioned, published and served. The reader trusts nothing it finds in the directory: only
regular files (a FIFO named `x.cedar` would hang a reload for good, a symlink to `/dev/zero`
would fill memory), no symlink that leaves the directory, at most MAX_FILE_BYTES per file,
and UTF-8 text. Each refusal names the file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite_authz.engine.core.errors import PolicyError
from suite_authz.engine.core.reading import read_file

SCHEMA_FILE = "schema.cedarschema"
CATALOGUE_FILE = "modules.json"
POLAR_DIR = "polar"
# Our largest policy file is a few KB; a file far larger than any policy set is a mistake.
MAX_FILE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class PolicySource:
    """The texts of one policy set: schema, module catalogue, Cedar files, Polar files."""

    directory: Path  # where it was read from; for a stored set, a label naming its version
    schema: str
    catalogue: str
    cedar: dict[str, str]  # file name -> text
    polar: dict[str, str] = field(default_factory=dict)
    # False for a set that borrows its parent's schema (policies/legacy): compared against,
    # never served or published.
    servable: bool = True

    def digest(self) -> str:
        """The set's version: a hash of every text that decides, Polar's included."""
        h = hashlib.sha256()
        h.update(b"schema\0" + self.schema.encode() + b"\0catalogue\0" + self.catalogue.encode())
        for name in sorted(self.cedar):
            h.update(b"\0" + name.encode() + b"\0" + self.cedar[name].encode())
        for name in sorted(self.polar):
            h.update(b"\0polar/" + name.encode() + b"\0" + self.polar[name].encode())
        return h.hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "catalogue": self.catalogue,
            "cedar": dict(sorted(self.cedar.items())),
            "polar": dict(sorted(self.polar.items())),
        }

    @classmethod
    def from_json(cls, data: Any, label: Path) -> PolicySource:
        try:
            return cls(
                directory=label,
                schema=_text(data["schema"]),
                catalogue=_text(data["catalogue"]),
                cedar={_text(k): _text(v) for k, v in data["cedar"].items()},
                polar={_text(k): _text(v) for k, v in data["polar"].items()},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise PolicyError(f"{label}: not a stored policy set: {exc}") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def schema_home(directory: Path) -> Path:
    """Where a policy directory's schema and catalogue live: in it, or, for a set kept only to
    compare against (policies/legacy), in the directory above, so both are asked the same way."""
    if not (directory / SCHEMA_FILE).is_file() and (directory.parent / SCHEMA_FILE).is_file():
        return directory.parent
    return directory


def read_source(directory: Path) -> PolicySource:
    """Every text of the set in `directory`. Raises PolicyError naming the first bad file."""
    directory = directory.resolve()
    if not directory.is_dir():
        raise PolicyError(f"{directory}: not a directory of policies")
    home = schema_home(directory)
    cedar = {p.name: read_text(p, home) for p in _listed(directory, ".cedar")}
    if not cedar:
        raise PolicyError(f"{directory}: no .cedar files")
    polar_dir = directory / POLAR_DIR
    polar = (
        {p.name: read_text(p, home) for p in _listed(polar_dir, ".polar")}
        if polar_dir.is_dir()
        else {}
    )
    return PolicySource(
        directory=directory,
        schema=read_text(home / SCHEMA_FILE, home),
        catalogue=read_text(home / CATALOGUE_FILE, home),
        cedar=cedar,
        polar=polar,
        servable=home == directory,
    )


def policy_stamp(directory: Path) -> tuple[tuple[str, int, int, int], ...]:
    """What changes when a file of the set changes (name, size, mtime, inode, of the file a
    symlink names): cheap to poll."""
    directory = directory.resolve()
    home = schema_home(directory)
    paths = [home / SCHEMA_FILE, home / CATALOGUE_FILE, *_listed(directory, ".cedar")]
    if (directory / POLAR_DIR).is_dir():
        paths += _listed(directory / POLAR_DIR, ".polar")
    out = []
    for p in paths:
        try:
            st = os.stat(p)  # stat(2) never opens: a FIFO or device is safe to look at
        except OSError:
            out.append((str(p), -1, -1, -1))
            continue
        out.append((str(p), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(out)


def _listed(directory: Path, suffix: str) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if p.name.endswith(suffix))
    except OSError as exc:
        raise PolicyError(f"{directory}: cannot list: {exc.strerror}") from None


def read_text(path: Path, root: Path) -> str:
    """A regular file inside `root`, at most MAX_FILE_BYTES, as UTF-8 text (read as every file
    the engine is given is, engine/core/reading.py, once its real path is known to be inside)."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise PolicyError(f"{path}: missing, or a broken symlink") from None
    if real != root and root not in real.parents:
        raise PolicyError(f"{path}: a symlink to `{real}`, outside {root}: refused")
    return read_file(real, "a policy file", PolicyError, MAX_FILE_BYTES, nofollow=True)
