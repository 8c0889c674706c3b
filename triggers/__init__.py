"""Entry points: the HTTP API and the Event Grid trigger, both starting the same orchestration."""
