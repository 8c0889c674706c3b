"""Exceptions raised by the durable engine stand-in."""

from __future__ import annotations


class DurableEngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class UnknownFunctionError(DurableEngineError, LookupError):
    """No orchestrator (or activity) with that name is registered on the app."""


class InstanceAlreadyExistsError(DurableEngineError):
    """start_new refused: an instance with that id is Pending or Running.

    Mirrors host.json `overridableExistingInstanceStates = NonRunningStates`: only a
    finished instance (Completed, Failed, Terminated) may be replaced by a new start.
    """


class InstanceNotFoundError(DurableEngineError, LookupError):
    """No instance with that id exists in the store."""


class InstanceNotRunningError(DurableEngineError):
    """The operation needs a Pending/Running instance (terminate) or a finished one (purge)."""


class NonDeterminismError(DurableEngineError):
    """An orchestrator replay produced actions that contradict its recorded history.

    The instance has already been failed (as the extension does) when this is raised;
    the engine raises it only when built with ``raise_on_nondeterminism=True``.
    """


class SimulatedCrash(DurableEngineError):
    """Raised at a crash point chosen by the test; the engine object is then unusable."""


class StepBudgetExceeded(DurableEngineError):
    """run_until_idle did not reach idle within its step budget (a runaway loop?)."""


class EngineCrashedError(DurableEngineError):
    """The engine object crashed earlier; build a new one from the same store."""
