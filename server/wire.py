"""The AuthZEN request and response shapes, as pydantic models: what validates a request is
what /openapi.json publishes (server/openapi.py renders these models' JSON Schema), so the
two cannot drift.

Receivers ignore unknown fields (AuthZEN 10.1.1): every entity model allows extra keys, but a
page, whose extra keys would silently change what a search returns, does not.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from suite_authz.engine.core import NEW_RECORD_ID

NonEmpty = Annotated[str, Field(min_length=1)]


class _Open(BaseModel):
    # strict: `enrolments: true` or `1.0` is not an integer, as the decision cache requires
    model_config = ConfigDict(extra="allow", strict=True)


class Subject(_Open):
    type: Literal["user"]
    id: NonEmpty
    properties: dict[str, Any] | None = None


class SearchedSubject(_Open):
    type: Literal["user"]
    id: str | None = None  # what a subject search looks for


class Action(_Open):
    name: NonEmpty
    properties: dict[str, Any] | None = None


class ResourceProperties(_Open):
    fields: list[str] = Field(
        default=[], description="The fields an edit touches, as policies/modules.json names them"
    )


class Resource(_Open):
    type: NonEmpty
    id: NonEmpty = Field(
        description=f'The record\'s id; "{NEW_RECORD_ID}" for a record not created yet (the '
        "one extension: no real record id starts with `#`)"
    )
    properties: ResourceProperties | None = None


class SearchedResource(_Open):
    type: NonEmpty
    id: str | None = None  # what a resource search looks for
    properties: ResourceProperties | None = None


class Context(_Open):
    channel: str = Field(default="crm", description="crm (default) or direct (D5)")
    org: str | None = Field(default=None, description="The org, on the root paths only")
    explain: bool = Field(default=False, description="true: the complete explanation")
    acting_as: str | None = Field(default=None, description="The identity asked for (D1)")
    sender: str | None = Field(default=None, description="The mail's sender (D11)")
    product: str | None = Field(default=None, description="enrol_integration_user's product")
    enrolments: int | None = Field(default=None, description="run_migration's new users")


class Evaluation(_Open):
    subject: Subject
    action: Action
    resource: Resource
    context: Context | None = None


class Options(_Open):
    evaluations_semantic: Literal["execute_all", "deny_on_first_deny", "permit_on_first_permit"] = (
        "execute_all"
    )


class Evaluations(_Open):
    """Top-level subject, action, resource and context are defaults for each item (7.1.1);
    no `evaluations`, or an empty one, is a single evaluation (7.1)."""

    subject: Subject | None = None
    action: Action | None = None
    resource: Resource | None = None
    context: Context | None = None
    evaluations: list[dict[str, Any]] | None = None
    options: Options | None = None


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    token: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    properties: dict[str, Any] | None = None


class SubjectSearch(_Open):
    subject: SearchedSubject
    action: Action
    resource: Resource
    context: Context | None = None
    page: Page | None = None


class ResourceSearch(_Open):
    subject: Subject
    action: Action
    resource: SearchedResource
    context: Context | None = None
    page: Page | None = None


class ActionSearch(_Open):
    subject: Subject
    action: dict[str, Any] | None = None  # what an action search looks for
    resource: Resource
    context: Context | None = None
    page: Page | None = None


class PlanRequest(_Open):
    """/access/v1/plan/resource: a resource search's body without its page."""

    subject: Subject
    action: Action
    resource: SearchedResource
    context: Context | None = None


class ErrorDetail(BaseModel):
    status: int
    message: str


class DecisionContext(_Open):
    rules: list[str] = []
    policy_version: str | None = None
    reasons: list[str] | None = None
    missing: list[str] | None = None
    acting_as: dict[str, str] | None = None
    sender: str | None = None
    redact_fields: list[str] | None = None
    error: ErrorDetail | None = None


class DecisionBody(BaseModel):
    decision: bool
    context: DecisionContext | None = None


class EvaluationsBody(BaseModel):
    evaluations: list[DecisionBody]


class PageOut(BaseModel):
    next_token: str
    count: int | None = None


class SearchBody(BaseModel):
    page: PageOut | None = None
    results: list[dict[str, Any]]


Scalar = str | bool | int
AttrPath = Annotated[str, Field(description="a record attribute, as the org snapshot names it")]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConstNode(_Node):
    """Every record (true) or none (false)."""

    op: Literal["true", "false"]


class EqNode(_Node):
    """The attribute equals the value (an absent attribute is null: equals nothing)."""

    op: Literal["eq"]
    path: AttrPath
    value: Scalar


class InNode(_Node):
    """The attribute equals one of the values."""

    op: Literal["in"]
    path: AttrPath
    values: list[Scalar]


class IsNullNode(_Node):
    """The record has no such attribute (or it is null)."""

    op: Literal["is_null"]
    path: AttrPath


class NotNode(_Node):
    """The condition does not hold (`not eq` admits a record without the attribute)."""

    op: Literal["not"]
    arg: Condition


class AllAnyNode(_Node):
    """Every one (and) or some one (or) of the conditions holds."""

    op: Literal["and", "or"]
    args: list[Condition]


Condition = Annotated[
    ConstNode | EqNode | InNode | IsNullNode | NotNode | AllAnyNode, Field(discriminator="op")
]


class PlanBody(BaseModel):
    """A query plan (docs/api.md): the records of the type admitted are those whose
    attributes meet `condition`."""

    kind: Literal["always", "never", "conditional"]
    subject: str
    action: str
    resource_type: str
    condition: Condition
    policy_version: str
    redact_fields: list[str] | None = Field(
        default=None, description="view only: the fields hidden in every record admitted (D7)"
    )
    reasons: list[str] | None = Field(default=None, description="never, when denied: why")
    missing: list[str] | None = None


class ErrorBody(BaseModel):
    status: int
    message: str


class Metadata(BaseModel):
    policy_decision_point: str
    access_evaluation_endpoint: str
    access_evaluations_endpoint: str | None = None
    search_subject_endpoint: str | None = None
    search_resource_endpoint: str | None = None
    search_action_endpoint: str | None = None


_WORDS = {
    "missing": "required",
    "string_too_short": "must be a non-empty string",
    "string_type": "must be a non-empty string",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "extra_forbidden": "unknown",
    "greater_than_equal": "too small",
    "less_than_equal": "too large",
}


def problem(exc: ValidationError, where: str = "") -> str:
    """The first problem, as `path: what is wrong`: one line naming the field."""
    err = exc.errors(include_url=False)[0]
    path = where
    for part in err["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    kind = err["type"]
    if kind == "literal_error":
        words = f"must be {err.get('ctx', {}).get('expected', '')}".replace("'", '"')
    else:
        words = _WORDS.get(kind, str(err["msg"]).lower())
    if path.endswith("resource.id") and kind == "missing":
        words += f'; to ask about a new record of the type, send "id": "{NEW_RECORD_ID}"'
    if path.endswith(".fields") or ".fields[" in path:
        path, words = path.split(".fields")[0] + ".fields", "must be a list of strings"
    return f"{path or 'body'}: {words}"
