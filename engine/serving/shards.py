"""Orgs spread over a fleet of sidecars: which shard serves an org, and which orgs a sidecar
serves (the orgs it was named, the orgs of its shard, or both).

An org's shard is rendezvous hashing (highest random weight) over the shard numbers: each
shard weighs the org by SHA-256 of the pair and the heaviest takes it. The same on every
machine and in every process (Python's own hash is salted per process), needing nothing but
the org id and the number of shards; adding a shard moves only the orgs the new one wins,
about 1/(n+1) of them, and removing one moves only its own (a modulo would move nearly all).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from suite_authz.engine.core.errors import AuthzError

MAX_SHARDS = 1024
_SHARD = re.compile(r"([0-9]{1,4})/([0-9]{1,4})")


# kept: a sidecar's watcher asks it of every org in the store on each poll (N hashes each)
@functools.lru_cache(maxsize=1 << 16)
def shard_of(org_id: str, count: int) -> int:
    """The shard (1 to `count`) that serves `org_id`."""
    if not 1 <= count <= MAX_SHARDS:
        raise AuthzError(f"shards: between 1 and {MAX_SHARDS}, not {count}")
    key = org_id.encode("utf-8", "surrogatepass")
    return max(
        range(1, count + 1),
        key=lambda n: hashlib.sha256(n.to_bytes(2, "big") + key).digest(),
    )


@dataclass(frozen=True, slots=True)
class Shard:
    number: int  # 1 to count
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`I/N`: the I-th of N shards, 1 <= I <= N <= MAX_SHARDS."""
        found = _SHARD.fullmatch(text.strip())
        if found is not None:
            number, count = int(found[1]), int(found[2])
            if 1 <= number <= count <= MAX_SHARDS:
                return cls(number, count)
        raise AuthzError(
            f"--shard {text}: give I/N, the I-th of N shards (1 <= I <= N <= {MAX_SHARDS})"
        )

    def holds(self, org_id: str) -> bool:
        return shard_of(org_id, self.count) == self.number

    def __str__(self) -> str:
        return f"{self.number}/{self.count}"


@dataclass(frozen=True, slots=True)
class OrgSelection:
    """The orgs a server serves: those named (none named: every org of the store), and of
    them those of its shard, if it has one."""

    ids: tuple[str, ...] = ()
    shard: Shard | None = None

    @classmethod
    def of(cls, ids: Iterable[str] | None = None, shard: Shard | None = None) -> OrgSelection:
        return cls(tuple(ids or ()), shard)

    def selects(self, org_id: str) -> bool:
        if self.ids and org_id not in self.ids:
            return False
        return self.shard is None or self.shard.holds(org_id)

    def among(self, stored: Iterable[str]) -> list[str]:
        """The selected orgs: the named ones (held or not: a named org the store lacks is
        refused by name when loaded), else those of `stored`, each in the shard."""
        return [i for i in (self.ids or stored) if self.selects(i)]

    def misrouted(self, org_id: str) -> str | None:
        """Why a request naming `org_id` reached the wrong sidecar, when it did: the shard
        that serves it (computed from the id alone, so it says nothing of whether the org
        exists)."""
        if self.shard is None or self.shard.holds(org_id):
            return None
        right = shard_of(org_id, self.shard.count)
        return f"org `{org_id}` is served by shard {right}/{self.shard.count}, this is {self.shard}"
