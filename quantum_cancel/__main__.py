"""``python -m quantum_cancel``: the same as the ``quantum-cancel`` console script."""

import sys

from quantum_cancel.cli import main

if __name__ == "__main__":
    sys.exit(main())
