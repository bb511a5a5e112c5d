"""The rider's app at /app/: an installable web app (PWA) on the public /api/v1 API only.

The server sends one page, the shell (api/templates/app/shell.html, from the page kit's layout,
in the rider's language), the web manifest and the service worker; everything else is plain ES
modules under api/static/app/ (no build step) calling /api/v1 with the rider's bearer token.
The service worker is served from /app/sw.js so that its scope is /app/; it keeps the shell and
the static files, so the app, and the QR ticket with its stored credential, open offline.

The language is the page kit's (?lang=, else the browser's). The script keeps the rider's choice
on the phone and asks for /app/?lang=… when the app opens at /app/ in another language: each
language's shell has its own address, which the service worker can keep apart (a cookie would
make one address answer in two languages, and the cache serve the wrong one).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    make_response,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from api.messages.app import APP
from api.pages import KIT_CATALOGUE, LANGUAGES, Catalogue, Words, error_page, language, page_headers
from transit.services.wallet import RIDER_BLOCK_REASONS

blp = Blueprint("rider_app", __name__, url_prefix="/app", template_folder="templates")

CATALOGUE = Catalogue("app", APP, base=KIT_CATALOGUE)
WORDS = Words(CATALOGUE)
t = WORDS

STATIC = Path(__file__).resolve().parent / "static"
APP_FILES = STATIC / "app"
SHELL_SOURCES = (
    Path(__file__).resolve().parent / "templates" / "app" / "shell.html",
    Path(__file__).resolve().parent / "templates" / "app" / "base.html",
    Path(__file__).resolve().parent / "messages" / "app.py",
    STATIC / "kit.css",
    STATIC / "kit.js",
)
TOP_UPS = (20_000, 50_000, 100_000, 200_000)
THEME = "#0b5394"

# What the app's pages may load: its own scripts, styles, images and API, nothing inline, no
# CDN; a canvas's data: image and a downloaded file's blob: URL; the service worker and the
# manifest from here; never in a frame.
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# With Stripe, the card field is Stripe.js's Card Element, loaded from STRIPE_JS_URL only when a
# payment needs it. Stripe's integration security guide (docs.stripe.com/security/guide,
# "Content Security Policy") lists what Stripe.js needs:
#   script-src  https://js.stripe.com https://*.js.stripe.com
#   frame-src   https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com (3D Secure)
#   connect-src https://api.stripe.com
# and https://maps.googleapis.com (script-src, connect-src) for the Address Element's
# autocomplete only, which the app does not use. A stand-in (localstripe) serves its script and
# answers the page's API calls from its own origin, and the server's from STRIPE_API_BASE.
STRIPE_JS = "https://js.stripe.com"
STRIPE_SCRIPTS = (STRIPE_JS, "https://*.js.stripe.com")
STRIPE_FRAMES = (*STRIPE_SCRIPTS, "https://hooks.stripe.com")
STRIPE_API = "https://api.stripe.com"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def app_csp(config: Mapping[str, Any]) -> str:
    """APP_CSP, and with the Stripe provider the sources Stripe.js needs, from its origin only."""
    if config.get("PAYMENT_PROVIDER") != "stripe":
        return APP_CSP
    script = _origin(config["STRIPE_JS_URL"])
    api = _origin(config["STRIPE_API_BASE"]) if config.get("STRIPE_API_BASE") else STRIPE_API
    scripts: tuple[str, ...] = (script,)
    frames: tuple[str, ...] = (script,)
    connects: tuple[str, ...] = tuple(dict.fromkeys((script, api)))
    if script == STRIPE_JS:
        scripts, frames, connects = STRIPE_SCRIPTS, STRIPE_FRAMES, (api,)
    added = {
        "script-src": scripts,
        "frame-src": frames,
        "connect-src": connects,
    }
    directives = [part.strip() for part in APP_CSP.split(";")]
    policy = []
    for directive in directives:
        name = directive.split(" ", 1)[0]
        extra = added.pop(name, ())
        policy.append(" ".join((directive, *extra)))
    policy.extend(" ".join((name, "'self'", *extra)) for name, extra in added.items())
    return "; ".join(policy)


def stripe_js_url() -> str | None:
    """Where the script loads Stripe.js from, with the Stripe provider; else None."""
    config = current_app.config
    return str(config["STRIPE_JS_URL"]) if config.get("PAYMENT_PROVIDER") == "stripe" else None


def install(app: Flask) -> None:
    app.register_blueprint(blp)


@blp.after_request
def _headers(response: Response) -> Response:
    page_headers(response.headers)
    response.headers["Content-Security-Policy"] = app_csp(current_app.config)
    # The shell is the same for every rider (no personal data in it): the browser asks again
    # each time it is online; the service worker answers when it is not.
    response.headers.setdefault("Cache-Control", "no-cache")
    response.vary.add("Accept-Language")
    return response


@blp.context_processor
def _page_helpers() -> dict[str, Any]:
    return {"t": WORDS}


@blp.errorhandler(HTTPException)
def _error_page(error: HTTPException) -> Any:
    return error_page(
        error,
        WORDS,
        back=url_for("rider_app.shell"),
        back_label=t("back_to_app"),
        base_template="app/base.html",
    )


@blp.before_app_request
def _unknown_address() -> Response | None:
    """An address under /app/ that no route knows (/app/nope, a POST to the shell) is a page in
    the rider's language with a way back to the app, not the API's JSON problem. Routing failed
    before any blueprint was chosen, so neither the blueprint's error handler nor its headers
    apply by themselves; and an app-wide handler for 404 would take the school pages' own."""
    failed = request.routing_exception
    if not isinstance(failed, NotFound | MethodNotAllowed):
        return None
    if not request.path.startswith(f"{blp.url_prefix}/"):
        return None
    page, status, headers = error_page(
        failed,
        WORDS,
        back=url_for("rider_app.shell"),
        back_label=t("back_to_app"),
        base_template="app/base.html",
        t=WORDS,
    )
    response = make_response(page, status, headers)
    if isinstance(failed, MethodNotAllowed):
        response.headers["Allow"] = ", ".join(failed.valid_methods or ())
    return _headers(response)


def _strings() -> dict[str, str]:
    """Every string of the app in the page's language, for the script."""
    chosen = language()
    place = LANGUAGES.index(chosen)
    return {key: CATALOGUE.entries[key][place] for key in APP} | {"lang": chosen}


@blp.get("/")
def shell() -> str:
    return render_template(
        "app/shell.html",
        strings=_strings(),
        amounts=TOP_UPS,
        block_reasons=[str(reason.value) for reason in RIDER_BLOCK_REASONS],
        payments={"stripe_js": stripe_js_url()},
    )


@blp.get("/manifest.webmanifest")
def manifest() -> Response:
    icons = [
        {
            "src": url_for("static", filename=f"app/icon-{size}.png"),
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": "any maskable",
        }
        for size in (192, 512)
    ]
    body = {
        "name": t("title"),
        "short_name": t("short_title"),
        "description": t("description"),
        "lang": language(),
        "start_url": url_for("rider_app.shell"),
        "scope": url_for("rider_app.shell"),
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "icons": icons,
    }
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")


def _cached_files() -> list[Path]:
    """The static files the app needs offline: all of api/static/app but the worker itself."""
    found = [
        path
        for path in sorted(APP_FILES.rglob("*"))
        if path.is_file() and path.name not in ("sw.js", "LICENSE") and path.suffix != ".md"
    ]
    return found


@functools.lru_cache(maxsize=4)
def _version(stamps: tuple[tuple[Path, int, int], ...]) -> str:
    """A hash of the app's files, for these modification times and sizes."""
    digest = hashlib.sha256()
    for path, _, _ in stamps:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def _worker_source(stamps: tuple[tuple[Path, int, int], ...]) -> str:
    """The worker's own script, read again when the stamps (the cache's key) change."""
    return (APP_FILES / "sw.js").read_text(encoding="utf-8")


@blp.get("/sw.js")
def service_worker() -> Response:
    """The service worker, with the list of files to keep and a version that changes when any
    of them (or the shell) does, so a new release replaces the old cache."""
    files = _cached_files()
    # The files are read and hashed again only when one of them changed (a stat each time).
    stamps = tuple(
        (path, path.stat().st_mtime_ns, path.stat().st_size)
        for path in (*files, *SHELL_SOURCES, APP_FILES / "sw.js")
    )
    urls = [
        url_for("rider_app.shell"),
        url_for("rider_app.manifest"),
        url_for("static", filename="kit.css"),
        url_for("static", filename="kit.js"),
        *(url_for("static", filename=path.relative_to(STATIC).as_posix()) for path in files),
    ]
    build = {"version": _version(stamps), "files": urls}
    response = Response(
        f"const BUILD = {json.dumps(build)};\n{_worker_source(stamps)}", mimetype="text/javascript"
    )
    response.headers["Cache-Control"] = "no-cache"
    return response
