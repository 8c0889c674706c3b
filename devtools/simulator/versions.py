"""Supported api-versions, which spec document governs each, and what differs between them.

Evidence (Azure/azure-rest-api-specs, specification/quantum/data-plane): the published
data-plane versions from 2022-09-12-preview on are 2022-09-12-preview, 2023-11-13-preview,
2024-03-01-preview, 2024-10-01-preview, 2025-09-01-preview, 2025-12-01-preview,
2026-01-15-preview and 2026-08-01-preview. Up to 2025-09-01-preview ``DELETE …/jobs/{jobId}``
is Jobs_Cancel and JobStatus has five values; from 2025-12-01-preview ``POST …:cancel`` is
Jobs_Cancel, ``DELETE`` is Jobs_Delete and JobStatus has ten values.
"""

from __future__ import annotations

from dataclasses import dataclass

SPEC_2024_10_01 = "2024-10-01-preview"
SPEC_2026_01_15 = "2026-01-15-preview"
SPEC_2026_08_01 = "2026-08-01-preview"


@dataclass(frozen=True)
class ApiVersion:
    """One supported api-version and the rules that follow from it."""

    name: str
    spec: str
    """The version of the spec document in specs/ that governs this api-version."""
    cancel_by_post: bool
    """True when Jobs_Cancel is ``POST …:cancel`` and ``DELETE`` really deletes."""
    full_status_enum: bool
    """True when JobStatus knows Queued, CancellationRequested, Cancelling, Finishing, Completed."""


SUPPORTED: tuple[ApiVersion, ...] = (
    ApiVersion("2022-09-12-preview", SPEC_2024_10_01, False, False),
    ApiVersion("2023-11-13-preview", SPEC_2024_10_01, False, False),
    ApiVersion("2024-03-01-preview", SPEC_2024_10_01, False, False),
    ApiVersion("2024-10-01-preview", SPEC_2024_10_01, False, False),
    # Same cancel verb and five-value JobStatus as 2024-10-01-preview, so that document governs.
    ApiVersion("2025-09-01-preview", SPEC_2024_10_01, False, False),
    ApiVersion("2025-12-01-preview", SPEC_2026_01_15, True, True),
    ApiVersion("2026-01-15-preview", SPEC_2026_01_15, True, True),
    ApiVersion("2026-08-01-preview", SPEC_2026_08_01, True, True),
)

_BY_NAME = {version.name: version for version in SUPPORTED}

# The simulator's assumption for versions whose JobStatus lacks the newer values: the service
# reports the nearest old value. Values not listed (unknown ones included) pass through.
_OLD_STATUS = {
    "Queued": "Waiting",
    "CancellationRequested": "Executing",
    "Cancelling": "Executing",
    "Finishing": "Executing",
    "Completed": "Succeeded",
}


def supported_names() -> list[str]:
    """The supported api-version strings, oldest first."""
    return [version.name for version in SUPPORTED]


def lookup(name: str) -> ApiVersion | None:
    """The supported api-version called ``name`` (exact match), or None."""
    return _BY_NAME.get(name)


def reported_status(version: ApiVersion, status: str) -> str:
    """The job status as ``version`` reports it."""
    if version.full_status_enum:
        return status
    return _OLD_STATUS.get(status, status)
