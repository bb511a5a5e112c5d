"""Headless Chromium for the browser tests: Debian's build, since no browser can be downloaded."""

from __future__ import annotations

from typing import Any

from tests.support.required import chromium


def launch(playwright: Any) -> Any:
    """A headless Chromium under Playwright; the test is skipped (failed in CI) without one."""
    return playwright.chromium.launch(
        executable_path=chromium(),
        headless=True,
        args=["--no-sandbox", "--disable-dev-shm-usage"],
    )
