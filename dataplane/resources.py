"""Job coordinates: the four path parameters that name a job, checked and turned into paths.

The patterns and lengths are those of the data-plane specs. Values are checked before any
request is built and percent-encoded when they go into a path, so no input can add a path
segment, a query or a fragment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from .errors import InvalidParameter


@dataclass(frozen=True)
class ParameterRule:
    """The spec's constraints on one path parameter."""

    pattern: re.Pattern[str]
    min_length: int
    max_length: int
    description: str


#: A GUID in any case (the spec's jobId pattern); subscription ids are folded to lower case.
GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")

PATH_PARAMETER_RULES: dict[str, ParameterRule] = {
    "subscriptionId": ParameterRule(
        re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}"), 36, 36, "a GUID"
    ),
    "resourceGroupName": ParameterRule(
        re.compile(r"[a-zA-Z][a-zA-Z0-9\-_\.]*"),
        1,
        90,
        "1-90 characters: a letter, then letters, digits, '-', '_' or '.'",
    ),
    "workspaceName": ParameterRule(
        re.compile(r"[a-zA-Z][a-zA-Z0-9\-_]*"),
        2,
        50,
        "2-50 characters: a letter, then letters, digits, '-' or '_'",
    ),
    "jobId": ParameterRule(GUID, 36, 36, "a GUID"),
}
WORKSPACE_PARAMETERS = ("subscriptionId", "resourceGroupName", "workspaceName")


def normalize_path_parameter(name: str, value: str) -> str:
    """Return ``value`` in the form the app uses: GUIDs of subscriptions are lower-cased.

    The spec's subscriptionId pattern is lower-case only, while GUIDs are case-insensitive and
    the portal shows them either way, so an upper-case subscription id is accepted and folded.
    """
    return value.lower() if name == "subscriptionId" else value


def path_parameter_problem(name: str, value: object) -> str | None:
    """Say what is wrong with ``value`` for path parameter ``name``, or None when it is valid."""
    rule = PATH_PARAMETER_RULES[name]
    if not isinstance(value, str):
        return f"must be a string ({rule.description})"
    value = normalize_path_parameter(name, value)
    if not rule.min_length <= len(value) <= rule.max_length or not rule.pattern.fullmatch(value):
        return f"must be {rule.description}"
    return None


def parameter_problems(values: Mapping[str, object], names: tuple[str, ...]) -> dict[str, str]:
    """The problem of each of ``names`` in ``values`` that is missing or breaks its rule."""
    problems: dict[str, str] = {}
    for name in names:
        value = values.get(name)
        if value is None:
            problems[name] = "is required"
            continue
        problem = path_parameter_problem(name, value)
        if problem:
            problems[name] = problem
    return problems


@dataclass(frozen=True)
class WorkspaceRef:
    """The coordinates of one Azure Quantum workspace."""

    subscription_id: str
    resource_group_name: str
    workspace_name: str

    def path(self) -> str:
        """The workspace's path prefix, every segment percent-encoded."""
        return (
            f"/subscriptions/{_segment(self.subscription_id)}"
            f"/resourceGroups/{_segment(self.resource_group_name)}"
            f"/providers/Microsoft.Quantum/workspaces/{_segment(self.workspace_name)}"
        )

    def jobs_path(self) -> str:
        """The path of the workspace's job collection."""
        return f"{self.path()}/jobs"

    def session_path(self, session_id: str) -> str:
        """The path of one session (its id must be a GUID, as the spec says)."""
        if not GUID.fullmatch(session_id):
            raise InvalidParameter("Sessions", "sessionId", "must be a GUID")
        return f"{self.path()}/sessions/{_segment(session_id)}"

    def parameters(self) -> dict[str, str]:
        """The path parameters by their spec names."""
        return {
            "subscriptionId": self.subscription_id,
            "resourceGroupName": self.resource_group_name,
            "workspaceName": self.workspace_name,
        }

    def require_valid(self, operation: str) -> None:
        """Raise InvalidParameter for the first parameter the spec forbids, so a reference
        built without checks can still never reach the wire."""
        for name, problem in parameter_problems(self.parameters(), WORKSPACE_PARAMETERS).items():
            raise InvalidParameter(operation, name, problem)


@dataclass(frozen=True)
class JobRef:
    """The coordinates of one job: its workspace and its id."""

    workspace: WorkspaceRef
    job_id: str

    @classmethod
    def checked(
        cls,
        subscription_id: object,
        resource_group_name: object,
        workspace_name: object,
        job_id: object,
        operation: str = "Jobs_Get",
    ) -> JobRef:
        """Build a JobRef, raising InvalidParameter for the first value the spec forbids."""
        values = {
            "subscriptionId": subscription_id,
            "resourceGroupName": resource_group_name,
            "workspaceName": workspace_name,
            "jobId": job_id,
        }
        for name, problem in parameter_problems(values, tuple(PATH_PARAMETER_RULES)).items():
            raise InvalidParameter(operation, name, problem)
        checked = {name: normalize_path_parameter(name, str(v)) for name, v in values.items()}
        workspace = WorkspaceRef(
            checked["subscriptionId"], checked["resourceGroupName"], checked["workspaceName"]
        )
        return cls(workspace, checked["jobId"])

    def require_valid(self, operation: str) -> None:
        """Raise InvalidParameter for the first parameter the spec forbids (see WorkspaceRef)."""
        self.workspace.require_valid(operation)
        problem = path_parameter_problem("jobId", self.job_id)
        if problem:
            raise InvalidParameter(operation, "jobId", problem)

    def path(self) -> str:
        """The job's path, every segment percent-encoded."""
        return f"{self.workspace.jobs_path()}/{_segment(self.job_id)}"


def _segment(value: str) -> str:
    # safe="" so that '/', '?', '#' and '%' can never act as URL syntax.
    return quote(value, safe="")
