"""suite-authz: decide each CRM action on finance-suite data under the acting user's own rights."""

from engine.decision import ActingAs, Decision
from engine.engine import Engine
from engine.errors import AuthzError, InvalidOrg, InvalidRequest, PolicyError
from engine.request import Request

__all__ = [
    "ActingAs",
    "AuthzError",
    "Decision",
    "Engine",
    "InvalidOrg",
    "InvalidRequest",
    "PolicyError",
    "Request",
]
