"""Entry point of `python -m fares`."""

import sys

from fares.cli import main

if __name__ == "__main__":
    sys.exit(main())
