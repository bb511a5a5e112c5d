"""Headless Chromium for the browser tests: Debian's build, since no browser can be downloaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.required import chromium


def launch(playwright: Any) -> Any:
    """A headless Chromium under Playwright; the test is skipped (failed in CI) without one."""
    return playwright.chromium.launch(
        executable_path=chromium(),
        headless=True,
        args=["--no-sandbox", "--disable-dev-shm-usage"],
    )


AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each.

    The page's own Content-Security-Policy would refuse the injected script, so the page's
    context must be made with `bypass_csp=True` (only the test's script gets past it).
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']}; "
        + "; ".join(node["target"][0] for node in violation["nodes"][:3])
        for violation in results["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
