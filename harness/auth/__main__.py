"""``python -m harness.auth``: keygen, mint, audit (see :mod:`harness.auth.cli`)."""

from __future__ import annotations

import sys

from harness.auth.cli import main

if __name__ == "__main__":
    sys.exit(main())
