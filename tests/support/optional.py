"""Dev requirements that a local checkout may lack: skipped there, a failure in CI.

``requirements-dev.txt`` lists them, so CI (where ``CI=true``) always has them: a missing one
there means the environment is broken, and the tests that need it must fail rather than skip
in silence.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

CI_VARIABLE = "CI"


def in_ci() -> bool:
    """Whether this run is CI's (``CI`` set to true, as CI services and .ci/run set it)."""
    return os.environ.get(CI_VARIABLE, "").strip().lower() in ("true", "1", "yes")


def dev_requirement(name: str) -> ModuleType:
    """Import ``name`` for a test module: skip the module when it is missing locally; fail it
    (a collection error) when it is missing in CI."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        message = f"{name} is missing ({exc}); it is a dev requirement (requirements-dev.txt)"
        if in_ci():
            pytest.fail(f"{message}, and CI must have it", pytrace=False)
        pytest.skip(message, allow_module_level=True)
