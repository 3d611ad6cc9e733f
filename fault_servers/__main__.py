"""Entry point for ``python -m fault_servers``; see `fault_servers.cli`."""

import sys

from fault_servers.cli import main

if __name__ == "__main__":
    sys.exit(main())
