"""Azure Quantum data-plane simulator for tests and the local demo.

Start it with ``python -m devtools.simulator --port 8090`` or in-process with
:class:`SimulatorServer`. Standard library only.
"""

from .clock import SimulatorClock
from .core import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    Simulator,
)
from .lifecycles import PRESETS, TERMINAL
from .options import Options
from .server import SimulatorServer
from .versions import SUPPORTED, supported_names

__all__ = [
    "DEFAULT_RESOURCE_GROUP",
    "DEFAULT_SUBSCRIPTION_ID",
    "DEFAULT_WORKSPACE",
    "PRESETS",
    "SUPPORTED",
    "TERMINAL",
    "Options",
    "Simulator",
    "SimulatorClock",
    "SimulatorServer",
    "supported_names",
]
