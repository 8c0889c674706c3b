"""api-version rules, and above all which HTTP request cancels a job.

Up to 2024-10-01-preview, Jobs_Cancel is ``DELETE .../jobs/{jobId}``. From 2025-12-01-preview on,
Jobs_Cancel is ``POST .../jobs/{jobId}:cancel`` and ``DELETE .../jobs/{jobId}`` became Jobs_Delete,
which deletes the job. So DELETE is chosen only for an explicit list of published legacy
versions; any other version must be on or after 2025-12-01 to be used at all. A version in the
gap, or a malformed one, is refused: guessing wrong there would delete a customer's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .errors import UnsupportedApiVersion

DEFAULT_API_VERSION = "2026-01-15-preview"

# Published data-plane versions whose Jobs_Cancel is DELETE (Azure/azure-rest-api-specs,
# specification/quantum/data-plane/Microsoft.Quantum/preview/).
LEGACY_DELETE_CANCEL_VERSIONS: frozenset[str] = frozenset(
    {
        "2022-09-12-preview",
        "2023-11-13-preview",
        "2024-03-01-preview",
        "2024-10-01-preview",
        "2025-09-01-preview",
    }
)
# The first version with POST .../jobs/{jobId}:cancel (and DELETE meaning Jobs_Delete).
POST_CANCEL_SINCE = "2025-12-01"

_FORM = re.compile(r"(\d{4})-(\d{2})-(\d{2})(-preview)?")

CancelVerb = Literal["DELETE", "POST"]


@dataclass(frozen=True)
class CancelRequest:
    """How to cancel a job under one api-version: the verb and what follows the job's path."""

    method: CancelVerb
    path_suffix: str


def api_version_problem(api_version: object) -> str | None:
    """Say why ``api_version`` cannot be used, or None when it can."""
    if not isinstance(api_version, str):
        return "must be a string such as 2026-01-15-preview"
    match = _FORM.fullmatch(api_version)
    if not match:
        return "must have the form YYYY-MM-DD or YYYY-MM-DD-preview"
    if api_version in LEGACY_DELETE_CANCEL_VERSIONS:
        return None
    date = "-".join(match.group(1, 2, 3))
    if date < POST_CANCEL_SINCE:
        return (
            f"is not supported: use one of {', '.join(sorted(LEGACY_DELETE_CANCEL_VERSIONS))}, "
            f"or a version from {POST_CANCEL_SINCE}-preview on"
        )
    return None


def require_supported(api_version: str, operation: str) -> None:
    """Raise UnsupportedApiVersion (for ``operation``) unless ``api_version`` can be used."""
    problem = api_version_problem(api_version)
    if problem:
        raise UnsupportedApiVersion(operation, f"api-version {api_version!r} {problem}")


def cancel_request(api_version: str) -> CancelRequest:
    """Return the request that is Jobs_Cancel under ``api_version``.

    Raises UnsupportedApiVersion for any version not known to be safe, so DELETE can never be
    sent where it means Jobs_Delete.
    """
    require_supported(api_version, "Jobs_Cancel")
    if api_version in LEGACY_DELETE_CANCEL_VERSIONS:
        return CancelRequest("DELETE", "")
    return CancelRequest("POST", ":cancel")
