"""One family of errors. Every message names where: file and line, or the JSON path."""


class AuthzError(Exception):
    """Bad input of any kind. Never an allow: callers turn it into a deny or exit code 2.

    Each kind of error carries what every adapter answers for it, so that the CLI (exit
    code) and the server (HTTP status) map it in one place each and agree on its meaning:
    bad input 2/400, a conflict with what is stored 1/409, an act refused 1/403, a store
    that does not answer 2/503 (nothing was decided; try again)."""

    exit_code = 2
    http_status = 400

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = problems or (message,)


class Conflict(AuthzError):
    """What was asked conflicts with what is stored (a stale plan, an org going back in
    time): nothing was written."""

    exit_code = 1
    http_status = 409


class Refused(AuthzError):
    """An act the actor may not perform (a migration by a non-admin): refused and audited."""

    exit_code = 1
    http_status = 403


class Unavailable(AuthzError):
    """A store that does not answer: nothing was read or written, try again."""

    exit_code = 2
    http_status = 503


class InvalidOrg(AuthzError):
    """An org snapshot that does not validate; nothing of it is loaded."""


class InvalidRequest(AuthzError):
    """A request that cannot be evaluated (unknown action or type, wrong context)."""


class PolicyError(AuthzError):
    """A policy set that does not parse or validate against the schema."""


def one_line(kind: str, problems: list[str]) -> str:
    """One line for the first problem, and a count of the rest."""
    if len(problems) == 1:
        return f"{kind}: {problems[0]}"
    return f"{kind}: {problems[0]} (and {len(problems) - 1} more)"
