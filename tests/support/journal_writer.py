"""A child process that journals taps as fast as it can, printing each finished tap id.

`python -m tests.support.journal_writer PATH` — the crash test kills it with SIGKILL.
"""

from __future__ import annotations

import sys
from pathlib import Path

from readers.journal import Journal


def main() -> None:
    with Journal(Path(sys.argv[1])) as journal:
        n = 0
        while True:
            n += 1
            tap_id = journal.begin_tap("04A1B2C3D4E5F6", n, {"amount": 8000, "n": n})
            journal.finish_tap(tap_id, {"amount": 8000, "n": n})
            print(tap_id, flush=True)
            if n % 7 == 0:
                journal.acknowledge([tap_id])


if __name__ == "__main__":
    main()
