"""The sidecar's routes, each declared once: its path, methods, handler, whether it needs the
token, whether it is answered on the raw ASGI fast path (server/fastpath.py) rather than
through Starlette's router, and whether it also has a per-org form, `/{org}{path}` (AuthZEN
9.2: one base URL per org). Both pipelines are generated from this table and run the same
guard (server/guard.py), so a route cannot be checked one way here and another way there.

A fast route's handler is `(body, request id, org or None) -> answer`, called with the body
already read; any other route's is `async (request, request id) -> answer or Response`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import BaseRoute, Route

Handler = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class RouteSpec:
    path: str
    methods: tuple[str, ...]
    handler: Handler
    token: bool = True
    fast: bool = False
    per_org: bool = False
    # what the guard admits (HEAD with GET, as HTTP has it) and the 405's Allow header
    accepts: frozenset[str] = field(init=False)
    allow: str = field(init=False)

    def __post_init__(self) -> None:
        methods = (*self.methods, "HEAD") if "GET" in self.methods else self.methods
        object.__setattr__(self, "accepts", frozenset(methods))
        object.__setattr__(self, "allow", ", ".join(methods))


class RouteTable:
    def __init__(self, specs: Iterable[RouteSpec]) -> None:
        self.specs = tuple(specs)
        paths = [p for s in self.specs for p in (s.path, *([f"/{{org}}{s.path}"] * s.per_org))]
        twice = sorted({p for p in paths if paths.count(p) > 1})
        if twice:
            raise ValueError(f"routes declared twice: {', '.join(twice)}")
        self._fast = {s.path: s for s in self.specs if s.fast}

    def __iter__(self) -> Iterator[RouteSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def fast_route(self, path: str) -> tuple[RouteSpec, str | None] | None:
        """The fast route a path names, and the org its per-org form names (None on the root
        path); None for a path the fast path does not answer. The ASGI path is decoded once
        already: it is never decoded again (a second decoding made `%2564emo` `demo`)."""
        spec = self._fast.get(path)
        if spec is not None:
            return spec, None
        head, sep, tail = path[1:].partition("/")
        spec = self._fast.get("/" + tail) if sep and head else None
        return (spec, head) if spec is not None and spec.per_org else None

    def starlette_routes(self, wrap: Callable[[RouteSpec, bool], Any]) -> list[BaseRoute]:
        """The routes Starlette serves; `wrap(spec, per_org)` puts the guard around each. No
        methods are given to Starlette: the guard answers a wrong one as the fast path does."""
        routes: list[BaseRoute] = []
        for spec in self.specs:
            if spec.fast:
                continue
            routes.append(Route(spec.path, wrap(spec, False)))
            if spec.per_org:
                routes.append(Route(f"/{{org}}{spec.path}", wrap(spec, True)))
        return routes
