"""The Flask app: rider API, validator API, school pages and operator commands."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from flask import Flask, Response, request, send_from_directory
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import safe_join

from api import (
    auth,
    cli,
    eligibility,
    health,
    limits,
    network,
    pages,
    payments,
    problems,
    rider_app,
    riders,
    school_pages,
    sms,
    trips,
    validator,
    wallet,
)
from api.config import load_settings
from api.deps import EXTENSION, Backend
from api.logs import configure_logging, install_request_id
from api.smorest import ProblemApi
from transit.db import make_engine, make_session_factory
from transit.migrate import head_revision

LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON, with Vietnamese text as UTF-8, not \\u escapes: a third fewer bytes on a
    rider's phone. An unpaired surrogate a caller sent (JSON can carry one, UTF-8 cannot), echoed
    in an error, is written escaped instead of failing the response; JSON nested too deeply to
    parse is malformed (ValueError), not a RecursionError."""

    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        text = super().dumps(obj, **kwargs)
        if LONE_SURROGATE.search(text):
            return super().dumps(obj, **{**kwargs, "ensure_ascii": True})
        return text

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings, database handles, API, pages and commands."""
    instance_path = (config or {}).get("INSTANCE_PATH")
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    app.config.from_mapping(load_settings(app.instance_path, config))
    app.json = JsonProvider(app)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_JSON"])

    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions[EXTENSION] = Backend(
        engine=engine,
        session_factory=make_session_factory(engine),
        head_revision=head_revision(),
    )

    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        # Only the addresses our own proxies appended are believed; the rest is the caller's.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    install_request_id(app)
    _security_headers(app)
    problems.register(app)
    auth.install(app)
    sms.install(app, (config or {}).get("SMS_SENDER_OBJECT"))
    limits.install(app)
    payments.install(app, (config or {}).get("PAYMENT_PROVIDER_OBJECT"))
    api = ProblemApi(app)
    api.register_blueprint(network.blp)
    api.register_blueprint(validator.blp)
    api.register_blueprint(riders.blp)
    api.register_blueprint(wallet.blp)
    api.register_blueprint(wallet.virtual)
    api.register_blueprint(trips.blp)
    api.register_blueprint(payments.blp)
    api.register_blueprint(eligibility.blp)
    app.register_blueprint(health.blp)
    pages.install(app)
    school_pages.install(app)
    rider_app.install(app)
    eligibility.install(app)
    _serve_docs(app)
    cli.register(app)
    return app


def _security_headers(app: Flask) -> None:
    production = app.config["ENV"] == "production"

    @app.after_request
    def headers(response: Response) -> Response:
        # A JSON answer or an uploaded roster is never run as a script or shown as a page.
        response.headers["X-Content-Type-Options"] = "nosniff"
        if production:
            # Production is served over TLS only: browsers keep to it for a year.
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response


# /api/docs: flask-smorest's view, drawn by our api/templates/swagger_ui.html. Its own files
# (docs.css, docs.js) are served beside Swagger UI's under /api/docs-assets/.
DOCS_PAGE = "api-docs.openapi_swagger_ui"
DOCS_ASSETS = Path(__file__).resolve().parent / "static" / "docs"
# What Swagger UI needs and no more: its script and styles from here (React sets styles through
# the DOM, which style-src does not govern), the data: images in its stylesheet, "Try it out"
# calling this API, and blob: for an image or file an operation answers with.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def _serve_docs(app: Flask) -> None:
    # Swagger UI's files come from a pinned package, so /api/docs works with no internet.
    @app.get("/api/docs-assets/<path:filename>")
    def docs_assets(filename: str) -> Response:
        own = safe_join(str(DOCS_ASSETS), filename)
        if own is not None and Path(own).is_file():
            # Ours change with the app: the browser asks again (a 304 when they have not).
            return send_from_directory(DOCS_ASSETS, filename)
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)

    @app.after_request
    def docs_policy(response: Response) -> Response:
        if request.endpoint == DOCS_PAGE:
            response.headers["Content-Security-Policy"] = DOCS_POLICY
        return response
