"""Plants the defect named in QUANTUM_TEST_PLANT (tests/support/plants.py) in this process.

Only on the path of a test's subprocess that asked for a plant; never installed, never
deployed (tests/ is in .funcignore).
"""

import os
import sys
from pathlib import Path

_NAME = os.environ.get("QUANTUM_TEST_PLANT", "")
if _NAME:
    _ROOT = str(Path(__file__).resolve().parents[3])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)
    from tests.support.plants import apply

    apply(_NAME)
