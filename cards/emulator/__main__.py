"""Entry point of `python -m cards.emulator` (the arguments are in `cards.emulator.cli`)."""

import sys

from cards.emulator.cli import main

if __name__ == "__main__":
    sys.exit(main())
