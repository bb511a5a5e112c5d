"""A service a test needs: started for it, or the test is skipped — except in CI, where a
missing service fails the run loudly instead of letting it pass with nothing tested."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, Protocol, TypeVar

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = "/usr/bin/chromium"


class Stoppable(Protocol):
    def stop(self) -> None: ...


Service = TypeVar("Service", bound=Stoppable)


def missing(what: str, reason: str) -> NoReturn:
    """Skip the test, or in CI fail it: `what` is needed and could not be had."""
    if IN_CI:
        pytest.fail(f"{what} is needed in CI: {reason}")
    pytest.skip(reason)


@contextmanager
def running(
    what: str, start: Callable[[], Service], unavailable: type[Exception]
) -> Iterator[Service]:
    """The started service for the `with` block, stopped after it."""
    try:
        service = start()
    except unavailable as error:
        missing(what, str(error))
    try:
        yield service
    finally:
        service.stop()


def chromium() -> str:
    """The path of Debian's Chromium, which Playwright and the headless checks drive."""
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found is None:
        missing("Chromium (Debian package 'chromium')", "Chromium is not installed")
    return found


def program(name: str, package: str) -> str:
    """The path of the program `name` from the Debian package `package` (also looked for in
    /usr/sbin, which a user's PATH may lack)."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])
    found = shutil.which(name, path=search)
    if found is None:
        missing(f"{name} (Debian package '{package}')", f"{name} is not installed ({package})")
    return found
