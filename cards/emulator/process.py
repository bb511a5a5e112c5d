"""A virtual card in its own process, as a test, a benchmark or a demo lays one on a reader."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import cards

# The folder that holds the project's packages, where `python -m` finds them.
SOURCE_ROOT = Path(cards.__file__).resolve().parents[1]


def start_card_process(module: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
    """Run `python -m module args` (`cards.emulator`, or a test's own card) in its own process."""
    return subprocess.Popen(  # noqa: S603  the project's own module, with arguments given here
        [sys.executable, "-m", module, *args],
        cwd=SOURCE_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
