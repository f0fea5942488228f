"""One family of errors. Every message names where: file and line, or the JSON path."""


class AuthzError(Exception):
    """Bad input of any kind. Never an allow: callers turn it into a deny or exit code 2."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = problems or (message,)


class InvalidOrg(AuthzError):
    """An org snapshot that does not validate; nothing of it is loaded."""


class InvalidRequest(AuthzError):
    """A request that cannot be evaluated (unknown action or type, wrong context)."""


class PolicyError(AuthzError):
    """A policy set that does not parse or validate against the schema."""


def joined(kind: str, problems: list[str]) -> str:
    """One line for the first problem, and a count of the rest."""
    if len(problems) == 1:
        return f"{kind}: {problems[0]}"
    return f"{kind}: {problems[0]} (and {len(problems) - 1} more)"
