"""A school administrator's first visit: the operator's one-time link, then the enrolment page
(their own password, the authenticator's QR code or key, a first code)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp

SECRET = re.compile(r'<code class="secret" id="secret">([A-Z2-7 ]+)</code>')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def enrolment_link(stdout: str) -> str:
    """The path and query of the link `flask schools add-admin` (or reset-admin) printed."""
    url = urlsplit(json.loads(stdout.strip().splitlines()[-1])["enrol_url"])
    assert parse_qs(url.query)["token"], url
    return f"{url.path}?{url.query}"


def secret_on(page: str) -> str:
    found = SECRET.search(page)
    assert found, page[:800]
    return found.group(1).replace(" ", "")


def earlier_code(secret: str) -> str:
    """The code of the step before now: the enrolment takes it (codes work within a step
    of the clock), which leaves the current step's code for the next sign-in."""
    return pyotp.TOTP(secret).at(time.time(), counter_offset=-1)


def enrol(
    get: Callable[[str], str], post: Callable[[str, dict[str, str]], Any], link: str, password: str
) -> str:
    """Opens the link, sets the password, confirms the authenticator; returns its secret.

    `get(path)` returns the page's HTML after redirects; `post(path, form)` sends the form."""
    page = get(link)
    secret = secret_on(page)
    found = CSRF.search(page)
    assert found, page[:800]
    post(
        "/school/enrol",
        {
            "csrf": found.group(1),
            "password": password,
            "password_again": password,
            "code": earlier_code(secret),
        },
    )
    return secret


def enrol_with_client(client: Any, link: str, password: str) -> str:
    """`enrol` through a Flask test client (which is then signed in)."""

    def get(path: str) -> str:
        return str(client.get(path, follow_redirects=True).get_data(as_text=True))

    def post(path: str, form: dict[str, str]) -> None:
        answer = client.post(path, data=form)
        assert answer.status_code == 302, answer.get_data(as_text=True)[:800]
        assert answer.headers["Location"].endswith("/school/")

    return enrol(get, post, link, password)


def enrol_over_http(base_url: str, link: str, password: str) -> str:
    """`enrol` against a running server."""
    import requests

    with requests.Session() as http:

        def get(path: str) -> str:
            answer = http.get(base_url + path, timeout=10)
            answer.raise_for_status()
            return answer.text

        def post(path: str, form: dict[str, str]) -> None:
            answer = http.post(base_url + path, data=form, timeout=10, allow_redirects=False)
            assert answer.status_code == 302, answer.text[:800]

        return enrol(get, post, link, password)
