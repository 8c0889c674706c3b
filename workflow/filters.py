"""The service's filter text for a bulk selector, in the grammar the official SDK sends.

``Field eq 'value'`` per value, one field's values joined with ``or`` in parentheses, fields
joined with ``and``; ``startswith(Name, 'prefix')``; ``CreationTime ge|le <moment>``. Values were
checked to be plain names (workflow.bulk_inputs), so no quote can reach the text.
"""

from __future__ import annotations

from workflow.shapes import JobFilter

_FIELDS = (("status", "State"), ("target", "Target"), ("providerId", "ProviderId"))


def service_filter(chosen: JobFilter, *, with_status: bool = True) -> str | None:
    """The filter text (None when nothing is filtered); ``with_status=False`` leaves the
    status out, for a listing whose pages must not shift as jobs change status."""
    parts = [
        "(" + " or ".join(f"{field} eq '{value}'" for value in chosen[key]) + ")"  # type: ignore[literal-required]
        for key, field in _FIELDS
        if key in chosen and (with_status or key != "status")
    ]
    if "namePrefix" in chosen:
        parts.append(f"startswith(Name, '{chosen['namePrefix']}')")
    if "createdAfter" in chosen:
        parts.append(f"CreationTime ge {chosen['createdAfter']}")
    if "createdBefore" in chosen:
        parts.append(f"CreationTime le {chosen['createdBefore']}")
    return " and ".join(parts) if parts else None
