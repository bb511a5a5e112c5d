"""The interactive API docs (/api/docs) in headless Chromium: accessible on a desk and on a
phone, in English, offline, and under a Content-Security-Policy that still lets Swagger UI run.

axe-core looks at the page as it loads and again with the first operation opened, its
parameters and responses showing: Swagger UI's own colours (white on a green GET badge, grey
text, links) fall short of WCAG AA, which our stylesheet puts right. Then with everything a
person can open, open: Swagger UI leaves icon buttons, the request body and scrolling code
blocks without a name or keyboard access, which docs.js gives them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import serving
from tests.e2e.test_bus_day import Backend
from tests.support.browser import launch, serious_violations
from tests.support.required import chromium


@pytest.fixture
def docs(tmp_path: Path) -> Iterator[Backend]:
    chromium()  # before the server starts: without a browser there is nothing to test
    with serving(tmp_path) as served:
        yield served


# How far the page scrolls sideways: 0 when it fits the window.
SIDEWAYS = "Math.max(0, document.documentElement.scrollWidth - window.innerWidth)"


def _open_docs(page: Any, backend: Backend) -> None:
    page.goto(backend.url + "/api/docs")
    page.locator(".opblock-summary").first.wait_for()


def _open_first_operation(page: Any) -> None:
    page.locator(".opblock-summary").first.click()
    body = page.locator(".opblock-body").first
    body.locator(".responses-wrapper .response").first.wait_for()
    body.locator(".parameters-container").wait_for()


def _open_everything(page: Any) -> None:
    """Each schema, each operation, "Try it out" and Execute on one with a request body (its
    curl command and the server's answer showing), and the Authorize dialog."""
    schemas = page.locator("section.models")
    if schemas.locator(".models-control").get_attribute("aria-expanded") != "true":
        schemas.locator(".models-control").click()
    # Schemas before operations: each click redraws the page, quicker while it is short.
    models = schemas.locator(".model-container")
    for index in range(models.count()):
        models.nth(index).locator(".model-box-control").first.click()
    summaries = page.locator(".opblock-summary")
    for index in range(summaries.count()):
        summaries.nth(index).click()
    assert page.locator(".opblock:not(.is-open)").count() == 0
    register = page.locator(
        ".opblock-post:has(.opblock-summary-path[data-path='/api/v1/auth/register'])"
    )
    register.locator(".try-out__btn").click()
    register.locator("textarea.body-param__text").wait_for()
    register.locator(".btn.execute").click()  # a weak password: answered 422, nothing made
    register.locator(".live-responses-table .highlight-code").wait_for()
    page.locator(".btn.authorize").first.click()
    page.locator(".modal-ux").wait_for()


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (375, 740)])
def test_axe_finds_nothing_serious_on_the_api_docs(docs: Backend, width: int, height: int) -> None:
    from playwright.sync_api import sync_playwright

    found: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        page = context.new_page()
        _open_docs(page, docs)
        found += [f"loaded: {line}" for line in serious_violations(page)]
        _open_first_operation(page)
        found += [f"operation open: {line}" for line in serious_violations(page)]
        browser.close()
    assert found == []


# At a desk only: opening every part takes about 90 s a size, and what it finds (names,
# labels, focus) does not change with the width, which the test above covers at both sizes.
@pytest.mark.parametrize(("width", "height"), [(1280, 800)])
def test_axe_finds_nothing_serious_on_the_api_docs_opened_throughout(
    docs: Backend, width: int, height: int
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        page = context.new_page()
        _open_docs(page, docs)
        _open_everything(page)
        # One look at all of it: the dialog is drawn over the page, which stays in the document.
        found = serious_violations(page)
        page.locator(".modal-ux .close-modal").click()
        page.locator(".modal-ux").wait_for(state="detached")
        browser.close()
    assert found == []


def test_the_api_docs_are_english_fit_a_phone_and_load_nothing_from_elsewhere(
    docs: Backend,
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        # The page's own CSP applies here (no bypass_csp): Swagger UI must run under it.
        page = browser.new_page(viewport={"width": 375, "height": 740})
        requested: list[str] = []
        refused: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        response = page.goto(docs.url + "/api/docs")
        assert response is not None
        page.locator(".opblock-summary").first.wait_for()  # Swagger UI ran and drew the spec
        assert page.evaluate("document.documentElement.lang") == "en"
        viewport = page.locator("meta[name=viewport]")
        assert viewport.get_attribute("content") == "width=device-width, initial-scale=1"
        policy = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        overflow = {"loaded": page.evaluate(SIDEWAYS)}
        _open_first_operation(page)
        overflow["operation open"] = page.evaluate(SIDEWAYS)
        browser.close()
    assert refused == []
    assert [url for url in requested if not url.startswith(docs.url)] == []  # no CDN
    assert overflow == {"loaded": 0, "operation open": 0}  # no sideways scroll on a phone
