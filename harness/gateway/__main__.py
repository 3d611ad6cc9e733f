"""``python -m harness.gateway``: serve the gateway (what ``chaosbench gateway`` runs)."""

from __future__ import annotations

import sys

from harness.gateway.server import main

if __name__ == "__main__":
    sys.exit(main())
