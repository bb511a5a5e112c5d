"""The page kit (api/pages.py, api/templates/kit/, api/messages/): catalogues that cannot lose a
translation, the layout's messages, fields tied to their hints and errors, error pages. A page
of another blueprint is drawn from the kit alone, as the rider's app and back office will be."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Blueprint, Flask, abort, flash, render_template_string
from flask.testing import FlaskClient
from werkzeug.exceptions import TooManyRequests

from api import pages
from api.messages.app import APP
from api.messages.kit import KIT
from api.messages.school import SCHOOL
from api.pages import KIT_CATALOGUE, Catalogue, Words

TEMPLATES = Path(pages.__file__).resolve().parent / "templates"
KEY = re.compile(r"""\bt\(\s*['"]([a-z0-9_]+)['"]\s*[,)]""")


def test_a_catalogue_refuses_a_missing_language_or_a_value_named_in_one_language_only() -> None:
    with pytest.raises(ValueError, match="greet: needs a text in each of vi, en"):
        Catalogue("bad", {"greet": ("Xin chào", "")})
    with pytest.raises(ValueError, match="greet: the languages name different"):
        Catalogue("bad", {"greet": ("Xin chào {name}", "Hello {nam}")})


def test_a_page_catalogue_lies_over_the_kit_and_keeps_the_kit_s_other_keys() -> None:
    school = Catalogue("school", SCHOOL, base=KIT_CATALOGUE)
    assert school.text("error_404_detail", "en") != KIT_CATALOGUE.text("error_404_detail", "en")
    assert school.text("skip", "vi") == KIT["skip"][0]


@pytest.mark.parametrize(
    ("folder", "catalogue"),
    [
        ("kit", KIT_CATALOGUE),
        ("school", Catalogue("school", SCHOOL, base=KIT_CATALOGUE)),
        ("app", Catalogue("app", APP, base=KIT_CATALOGUE)),
    ],
)
def test_every_string_key_a_template_names_is_in_its_catalogue(
    folder: str, catalogue: Catalogue
) -> None:
    named = {
        (path.name, key)
        for path in (TEMPLATES / folder).glob("*.html")
        for key in KEY.findall(path.read_text(encoding="utf-8"))
    }
    assert named, "the pattern finds the keys"
    assert sorted((name, key) for name, key in named if key not in catalogue) == []


@pytest.fixture
def kit_app() -> Flask:
    """An app with one blueprint whose pages come from the kit and its catalogue only."""
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=None)
    app.config["SECRET_KEY"] = "test"
    app.add_url_rule("/static/<path:filename>", "static", lambda filename: "")
    pages.install(app)
    words = Words(Catalogue("other", {"title": ("Thẻ của tôi", "My cards")}, base=KIT_CATALOGUE))
    blp = Blueprint("other", __name__)

    @blp.context_processor
    def _words() -> dict[str, Words]:
        return {"t": words}

    @blp.errorhandler(404)
    @blp.errorhandler(429)
    def _error(error):  # type: ignore[no-untyped-def]
        return pages.error_page(error, words, back="/", back_label=words("title"))

    page = """{% extends "kit/layout.html" %}{% import "kit/fields.html" as fields with context %}
    {% block brand %}{{ t('title') }}{% endblock %}
    {% block main %}{{ fields.textarea('why', 'why', 'Why', 200, hint='Say why', error=error,
       required=true) }}{{ fields.input('mail', 'mail', 'Mail', type='email',
       attrs={'autocomplete': 'email', 'autofocus': true}) }}{% endblock %}"""

    @blp.get("/")
    def home() -> str:
        flash("Saved.", "success")
        flash("Not saved.", "error")
        return render_template_string(page, error="Too short")

    @blp.get("/missing")
    def missing() -> None:
        abort(404)

    @blp.get("/busy")
    def busy() -> None:
        raise TooManyRequests(retry_after=130)

    app.register_blueprint(blp)
    return app


def test_the_layout_announces_errors_and_not_successes_and_has_a_skip_link(kit_app: Flask) -> None:
    html = kit_app.test_client().get("/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert '<a class="skip" href="#main">Skip to the main content</a>' in html
    assert '<main id="main" tabindex="-1">' in html
    assert '<p class="problem" role="alert">Not saved.</p>' in html
    assert '<p class="message success" role="status">Saved.</p>' in html
    assert 'aria-label="Languages"' in html
    assert 'class="main"' not in html, "no menu navigation when the page has no menu"


def test_a_field_is_tied_to_its_label_hint_error_and_counter(kit_app: Flask) -> None:
    html = kit_app.test_client().get("/").get_data(as_text=True)
    assert '<label for="why">Why <span class="required">(bắt buộc)</span></label>' in html
    area = re.search(r"<textarea [^>]*>", html)
    assert area is not None
    assert 'aria-describedby="why-error why-hint why-count"' in area.group(0)
    assert 'aria-invalid="true"' in area.group(0)
    assert 'maxlength="200"' in area.group(0)
    assert 'data-counter="why-count"' in area.group(0)
    assert '<p class="field-error" id="why-error">Too short</p>' in html
    assert '<output id="why-count" class="counter" aria-live="polite">' in html
    mail = re.search(r'<input id="mail"[^>]*>', html)
    assert mail is not None
    assert ' autocomplete="email"' in mail.group(0)
    assert " autofocus" in mail.group(0)
    assert "aria-describedby" not in mail.group(0)
    assert "required" not in mail.group(0)


def test_errors_are_pages_in_the_reader_s_language_with_a_way_back(kit_app: Flask) -> None:
    client = kit_app.test_client()
    missing = client.get("/missing?lang=en")
    assert missing.status_code == 404
    html = missing.get_data(as_text=True)
    assert "<h1>Not found</h1>" in html
    assert '<a href="/">My cards</a>' in html
    busy = kit_app.test_client().get("/busy", headers={"Accept-Language": "vi"})
    assert busy.status_code == 429
    assert busy.headers["Retry-After"] == "130"
    assert "Hãy đợi 3 phút rồi thử lại." in busy.get_data(as_text=True)


def test_a_page_that_does_not_keep_the_language_in_the_session_sets_no_cookie(
    kit_app: Flask,
) -> None:
    """Only blueprints that ask (the school pages) keep the language in Flask's session; the
    others follow ?lang= and the browser, and send no cookie for it."""
    client = kit_app.test_client()
    answer = client.get("/missing?lang=en")
    assert "<h1>Not found</h1>" in answer.get_data(as_text=True)
    assert "Set-Cookie" not in answer.headers
    again = client.get("/missing", headers={"Accept-Language": "vi"})
    assert "<h1>Không tìm thấy</h1>" in again.get_data(as_text=True)


def test_the_school_pages_keep_the_language_chosen(client: FlaskClient) -> None:
    assert "Set-Cookie" in client.get("/school/login?lang=en").headers
    assert '<html lang="en">' in client.get("/school/login").get_data(as_text=True)
