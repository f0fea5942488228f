"""The admin page under /ui/: server-rendered HTML (Jinja2, autoescaped), read-only.

Access follows the API's token: with `--token-file`, a page needs the token, as a bearer
header or as the session cookie that /ui/login sets after checking it (sessions.py: signed,
one per login, idle and absolute expiry, ended by /ui/logout; HttpOnly, SameSite=Strict, for
/ui only: it opens the page, never the API). Before that nothing of what is served is shown,
not even the org ids or the policy version. Nothing is fetched from another host: the
stylesheet and the script are served from /ui/static.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from suite_authz.engine.core import RECORD_ACTIONS, AuthzError, Engine, InvalidRequest
from suite_authz.engine.sources import Source
from suite_authz.server.authzen import decision_body, parse_evaluation
from suite_authz.server.bodies import bounded, check_length
from suite_authz.server.errors import HANDLED, error_headers, status_of
from suite_authz.server.guard import bearer_matches
from suite_authz.server.state import State
from suite_authz.server.ui import views
from suite_authz.server.ui.diffs import RETRY_SECONDS, DiffJobs, Pending
from suite_authz.server.ui.records import user_records
from suite_authz.server.ui.rules import RULE_BOOK, abbr, cell_codes, cell_legend, in_order, rich
from suite_authz.server.ui.sessions import Clock, LoginLimit, Session, Sessions

HERE = Path(__file__).resolve().parent
COOKIE = "authz_ui"


@dataclass(frozen=True, slots=True)
class Access:
    """Who is looking, once let in: `session` is None on an open page or with a bearer header
    (nothing to refresh or sign out of)."""

    session: Session | None = None


class Ui:
    def __init__(
        self,
        state: State,
        token: str | None,
        *,
        clock: Clock = time.time,
        diffs: DiffJobs | None = None,
    ) -> None:
        self.state = state
        self.token = token
        self.sessions = Sessions(state.store.secret("ui-session"), token, clock) if token else None
        self.limit = LoginLimit(clock)
        self.diffs = diffs or DiffJobs(views.policy_change)
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["q"] = lambda d: urlencode(d)
        self.templates.filters["path"] = lambda s: quote(str(s), safe="")
        self.templates.filters["rich"] = rich
        self.templates.filters["rule"] = abbr
        self.templates.filters["codes"] = cell_codes
        self.templates.filters["legend"] = cell_legend
        self.templates.globals["rule_book"] = RULE_BOOK
        self.templates.globals["in_order"] = in_order

    def routes(self) -> list[BaseRoute]:
        page = self.page
        return [
            Mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static"),
            Route("/ui/login", self.login, methods=["GET", "POST"]),
            Route("/ui/logout", self.logout, methods=["POST"]),
            Route("/ui", _to("/ui/")),
            Route("/ui/", page(self.index)),
            Route("/ui/orgs/{org}/", self.org_home),
            Route("/ui/diff", page(self.diff)),
            Route("/ui/orgs/{org}/matrix", page(self.matrix)),
            Route("/ui/orgs/{org}/users/{user:path}", page(self.user_records)),
            Route("/ui/orgs/{org}/explain", page(self.explain)),
            Route("/ui/orgs/{org}/migration", page(self.migration), methods=["GET", "POST"]),
        ]

    # -- access ---------------------------------------------------------------------------

    def access(self, request: HttpRequest) -> Access | None:
        """None: not let in (no token, a wrong one, or no live session)."""
        if self.sessions is None:
            return Access()
        given = request.headers.get("authorization", "").encode("latin-1")
        if self.token and bearer_matches(given, self.token.encode()):
            return Access()
        session = self.sessions.read(request.cookies.get(COOKIE, ""))
        return None if session is None else Access(session)

    def page(
        self, fn: Callable[[HttpRequest], Awaitable[tuple[str, dict[str, Any]]]]
    ) -> Callable[[HttpRequest], Awaitable[Response]]:
        async def handle(request: HttpRequest) -> Response:
            access = self.access(request)
            if access is None:
                target = quote(
                    request.url.path + ("?" + request.url.query if request.url.query else "")
                )
                return RedirectResponse(f"/ui/login?next={target}", status_code=303)
            headers: dict[str, str] = {}
            try:
                template, values = await fn(request)
                status = int(values.pop("status", 200))
                headers = values.pop("headers", {})
            except HANDLED as exc:  # as the API maps it: bad input 400, the store away 503
                template, values, status = "error.html", {"message": str(exc)}, status_of(exc)
                headers = error_headers(status, exc)
            response = self.render(template, values, status, access)
            response.headers.update(headers)
            if access.session is not None and self.sessions is not None:
                # each use restarts the idle clock; a copy not used since still idles out
                self._set_session(response, request, self.sessions.issue(access.session))
            return response

        return handle

    def render(
        self, template: str, values: dict[str, Any], status: int, access: Access | None
    ) -> HTMLResponse:
        """A page; what is served (org ids, the policy version) only for who is let in."""
        served = self.state.served if access is not None else None
        session = access.session if access is not None else None
        common = {
            "signed_in": access is not None,
            "orgs": sorted(served.engines) if served else [],
            "policy_version": served.policies.version if served else "",
            "csrf": self.sessions.csrf(session) if self.sessions and session else None,
        }
        html = self.templates.get_template(template).render(**common, **values)
        response = HTMLResponse(html, status_code=status)
        # no script or style from anywhere but here; no framing
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    def _set_session(self, response: Response, request: HttpRequest, value: str) -> None:
        response.set_cookie(
            COOKIE, value, httponly=True, samesite="strict", path="/ui",
            secure=request.url.scheme == "https",
        )  # fmt: skip

    async def login(self, request: HttpRequest) -> Response:
        nxt = request.query_params.get("next", "/ui/")
        if not nxt.startswith("/ui/") or nxt.startswith("//"):
            nxt = "/ui/"  # never off this site
        if self.sessions is None:
            return RedirectResponse(nxt, status_code=303)
        if request.method == "GET":
            return self.render("login.html", {"next": nxt, "error": None}, 200, None)
        try:
            form = await _form(request)
        except HANDLED as exc:
            return self.render("error.html", {"message": str(exc)}, status_of(exc), None)
        address = request.client.host if request.client else None
        wait = self.limit.wait(address)
        if wait:  # before the token is looked at: a refused guess says nothing of it
            error = f"Too many wrong tokens from this address: try again in {wait} s."
            refused = self.render("login.html", {"next": nxt, "error": error}, 429, None)
            refused.headers["Retry-After"] = str(wait)
            return refused
        if not hmac.compare_digest(form.get("token", "").encode(), (self.token or "").encode()):
            self.limit.wrong(address)
            error = "That is not the token."
            return self.render("login.html", {"next": nxt, "error": error}, 401, None)
        self.limit.right(address)
        response = RedirectResponse(nxt, status_code=303)
        self._set_session(response, request, self.sessions.issue())
        return response

    async def logout(self, request: HttpRequest) -> Response:
        """POST only, with the session's own CSRF value: another site can neither send the
        cookie (SameSite=Strict) nor know the value."""
        done = RedirectResponse("/ui/login", status_code=303)
        done.delete_cookie(
            COOKIE, path="/ui", httponly=True, samesite="strict",
            secure=request.url.scheme == "https",
        )  # fmt: skip
        if self.sessions is None:
            return RedirectResponse("/ui/", status_code=303)
        try:
            form = await _form(request)
        except HANDLED as exc:
            return self.render("error.html", {"message": str(exc)}, status_of(exc), None)
        session = self.sessions.read(request.cookies.get(COOKIE, ""))
        if session is None:
            return done  # no live session: nothing to end
        given = form.get("csrf", "")
        if not hmac.compare_digest(given.encode(), self.sessions.csrf(session).encode()):
            problem = "missing" if not given else "not this session's"
            message = f"csrf: {problem} (sign out with the page's own button)"
            return self.render("error.html", {"message": message}, 400, Access(session))
        self.sessions.end(session)
        return done

    # -- pages ----------------------------------------------------------------------------

    async def org_home(self, request: HttpRequest) -> Response:
        return RedirectResponse(
            f"/ui/orgs/{quote(request.path_params['org'], safe='')}/matrix", status_code=303
        )

    def engine(self, request: HttpRequest) -> Engine:
        org = request.path_params["org"]
        served = self.state.served
        if served is None or org not in served.engines:
            raise AuthzError(f"org `{org}`: not served here")
        return served.engines[org]

    def served_flags(self) -> list[str]:
        """The flags that make `authz explain` decide with what this server serves."""
        flags = ["--store", str(self.state.store.where)]  # a URL without its password
        ref = self.state.policy_ref
        if ref.kind is Source.DIRECTORY:
            flags += ["--policies", ref.value]
        elif ref.kind is Source.SHIPPED:
            flags.append("--shipped")
        return flags

    async def index(self, request: HttpRequest) -> tuple[str, dict[str, Any]]:
        served = self.state.served
        legacy = []
        if served is not None:
            legacy = [o for o, e in served.engines.items() if _on_old_model(e)]
        names = {o: e.org.name for o, e in served.engines.items()} if served else {}
        return "index.html", {"legacy": legacy, "store": self.state.store.where, "names": names}

    async def matrix(self, request: HttpRequest) -> tuple[str, dict[str, Any]]:
        engine = self.engine(request)
        q = request.query_params
        filters = {k: q[k] for k in ("product", "seat", "role", "profile") if q.get(k)}
        module = q.get("module", next(iter(engine.policies.catalogue.modules)))
        page = _int(q.get("page", "1"), "page")
        if page < 1:
            raise AuthzError(f"page: `{page}` is not a page (they are numbered from 1)")
        made = await run_in_threadpool(
            views.matrix, engine, q.get("channel", "crm"), filters, module or None, page,
            q.get("record", ""),
        )  # fmt: skip
        return "matrix.html", {
            "m": made,
            "module": module,
            "modules": list(engine.policies.catalogue.modules),
        }

    async def user_records(self, request: HttpRequest) -> tuple[str, dict[str, Any]]:
        engine = self.engine(request)
        q = request.query_params
        module = q.get("module") or next(iter(engine.policies.catalogue.modules))
        page = _int(q.get("page", "1"), "page")
        made = await run_in_threadpool(
            user_records, engine, request.path_params["user"], module, q.get("channel", "crm"),
            page,
        )  # fmt: skip
        return "user.html", {"u": made}

    async def explain(self, request: HttpRequest) -> tuple[str, dict[str, Any]]:
        engine = self.engine(request)
        q = request.query_params
        asked = views.Asked(**{k: q.get(k, "").strip() for k in views.Asked.__dataclass_fields__})
        asked.channel = asked.channel or "crm"
        org = engine.org.id
        values: dict[str, Any] = {"org": org, "asked": asked, "choices": _choices(engine)}
        values["fragment"] = q.get("fragment") == "1"
        if asked.empty():
            return "explain.html", {**values, "result": None}
        problem = asked.problem()
        if problem is not None:  # named as the form names it, before any JSON is made
            result = views.Explained(asked, "", "", error=problem)
            return "explain.html", {**values, "result": result, "status": 400}
        body = asked.evaluation(org)
        result = views.Explained(
            asked, json.dumps(body, indent=2), asked.command(org, self.served_flags())
        )
        try:
            request_, _ = parse_evaluation(body)
            decision = await run_in_threadpool(lambda: engine.decide(engine.validate(request_)))
        except (InvalidRequest, AuthzError) as exc:
            result.error = str(exc)
            return "explain.html", {**values, "result": result, "status": 400}
        result.answer = decision_body(decision, True)["context"]
        result.allowed = decision.allowed
        return "explain.html", {**values, "result": result}

    async def diff(self, request: HttpRequest) -> tuple[str, dict[str, Any]]:
        store = self.state.store
        q = request.query_params
        sides = await run_in_threadpool(views.sides, store)
        base, head = q.get("base", "").strip(), q.get("head", "").strip()
        values: dict[str, Any] = {"sides": sides, "base": base, "head": head}
        values.update(change=None, pending=None)
        if not (base or head):
            return "diff.html", values
        for name, given, which in (("base", base, "from"), ("head", head, "to")):
            if not given:
                raise AuthzError(f"{name}: missing (choose the policy set to compare {which})")
        served = self.state.served
        ids = sorted(served.engines) if served else []
        asked = await run_in_threadpool(views.diff_question, store, base, head, ids)
        made = await self.diffs.ask(asked)
        if isinstance(made, Pending):
            values["pending"] = made
            if made.theirs:  # one comparison at a time: this one waits its turn
                values["status"] = 503
                values["headers"] = {"Retry-After": str(RETRY_SECONDS)}
            else:
                values["status"] = 202
        else:
            values["change"] = made
        return "diff.html", values

    async def migration(self, request: HttpRequest) -> tuple[str, dict[str, Any]]:
        engine = self.engine(request)
        form = await _form(request) if request.method == "POST" else {}
        as_of_text = form.get("as_of") or request.query_params.get("as_of") or ""
        try:
            as_of = date.fromisoformat(as_of_text) if as_of_text else datetime.now(UTC).date()
        except ValueError:
            raise AuthzError(f"as_of: `{as_of_text}` is not a date (YYYY-MM-DD)") from None
        usage = form.get("usage", "")
        served = self.state.served
        assert served is not None
        made = await run_in_threadpool(
            views.migration, self.state.store, served.policies, engine.org.id, usage, as_of
        )
        return "migration.html", {
            "org": engine.org.id,
            "plan": made,
            "usage": usage,
            "as_of": as_of,
        }


def _to(target: str) -> Callable[[HttpRequest], Awaitable[Response]]:
    async def redirect(request: HttpRequest) -> Response:
        return RedirectResponse(target, status_code=308)

    return redirect


def _on_old_model(engine: Engine) -> bool:
    """An org whose migration is not complete and that still has an integration owner to
    borrow from: what the migration page is for."""
    migration = engine.org.migration
    return migration.window_start is not None and migration.completed_on is None


def _choices(engine: Engine) -> dict[str, list[str]]:
    org = engine.org
    return {
        "subject": sorted(u.id for u in org.users),
        "action": list(RECORD_ACTIONS),
        "resource": sorted(f"{r.type}:{r.id}" for r in org.records)
        + sorted(engine.policies.catalogue.modules),
    }


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise AuthzError(f"{name}: `{text}` is not a number") from None


async def _form(request: HttpRequest) -> dict[str, str]:
    """A urlencoded form (the only kind these pages send), bounded as every API body is."""
    check_length(request.headers.get("content-length"))
    body = await bounded(request.stream())
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise AuthzError("the form is not UTF-8") from None
    return {k: v[-1] for k, v in fields.items()}
