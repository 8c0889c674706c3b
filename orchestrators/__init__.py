"""Orchestrator functions: deterministic decisions, no I/O, time only from the context."""
