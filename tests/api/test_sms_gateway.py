"""The HTTP SMS gateway, against a stand-in gateway on 127.0.0.1 that records what it is sent."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from api import create_app
from api.config import ConfigError
from api.deps import unit_of_work
from api.sms import HttpSmsGateway, SmsNotSent
from tests.api.test_riders import register
from tests.e2e.test_serving import free_port
from transit.models import OneTimeCode, Rider

PHONE = "+84912345678"
USERNAME = "hanoibus"
PASSWORD = "gateway-password-Zq81"
TEXT = "Ma xac minh the xe buyt Ha Noi: 482913. Hieu luc 5 phut. Khong chia se ma nay."


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class StandInGateway:
    """An SMS gateway on 127.0.0.1: it records each request and answers as it is told."""

    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200
    answer: bytes = b'{"success": true, "message_id": "msg-0001"}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def answers(self, status: int, answer: bytes, **headers: str) -> None:
        self.status, self.answer, self.headers = status, answer, headers


@pytest.fixture
def gateway() -> Iterator[StandInGateway]:
    stand_in: StandInGateway

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            stand_in.received.append(Received(self.path, dict(self.headers), json.loads(raw)))
            time.sleep(stand_in.delay)
            self.send_response(stand_in.status)
            for name, value in {"Content-Type": "application/json", **stand_in.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(stand_in.answer)))
            self.end_headers()
            self.wfile.write(stand_in.answer)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (its signature)
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stand_in = StandInGateway(url=f"http://127.0.0.1:{server.server_port}/v1/sms/send")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def make_gateway(url: str, timeout: float = 5) -> HttpSmsGateway:
    return HttpSmsGateway(
        url=url, username=USERNAME, password=PASSWORD, brandname="HANOIBUS", timeout=timeout
    )


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(f"{r.getMessage()} {r.__dict__}" for r in self.records)


@pytest.fixture
def sms_log() -> Iterator[Records]:
    """What the SMS senders log, whatever the app's logging setup."""
    logger = logging.getLogger("transit.sms")
    records = Records()
    level = logger.level
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)


def test_the_message_is_posted_as_json_with_basic_credentials(gateway: StandInGateway) -> None:
    make_gateway(gateway.url).send(PHONE, TEXT)
    (request,) = gateway.received
    assert request.path == "/v1/sms/send"
    assert request.body == {"to": PHONE, "brandname": "HANOIBUS", "text": TEXT}
    assert request.headers["Content-Type"] == "application/json"
    scheme, credentials = request.headers["Authorization"].split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(credentials).decode() == f"{USERNAME}:{PASSWORD}"


def test_the_log_has_the_message_id_and_the_numbers_last_digits_only(
    gateway: StandInGateway, sms_log: Records
) -> None:
    make_gateway(gateway.url).send(PHONE, TEXT)
    (record,) = sms_log.records
    assert (record.__dict__["phone"], record.__dict__["message_id"]) == ("***678", "msg-0001")
    logged = sms_log.text()
    for secret in (PASSWORD, "482913", "912345678", "Ma xac minh"):
        assert secret not in logged


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (500, b'{"success": true, "message_id": "msg-0001"}'),
        (503, b""),
        (401, b'{"success": false, "error": "bad credentials"}'),
        (200, b'{"success": false, "error": "brandname not registered"}'),
        (200, b'{"message_id": "msg-0001"}'),
        (200, b'{"success": "true"}'),
        (200, b"[]"),
        (200, b"<html>OK</html>"),
        (200, b""),
    ],
)
def test_an_answer_that_is_not_a_success_raises_sms_not_sent(
    gateway: StandInGateway, sms_log: Records, status: int, answer: bytes
) -> None:
    gateway.answers(status, answer)
    with pytest.raises(SmsNotSent) as failed:
        make_gateway(gateway.url).send(PHONE, TEXT)
    assert (failed.value.code, failed.value.status) == ("sms_unavailable", 503)
    (record,) = sms_log.records
    assert record.levelno == logging.WARNING
    assert record.__dict__["phone"] == "***678"
    assert PASSWORD not in sms_log.text()
    assert "482913" not in sms_log.text()


def test_a_refusal_that_echoes_the_code_is_logged_without_it(
    gateway: StandInGateway, sms_log: Records
) -> None:
    gateway.answers(200, json.dumps({"success": False, "error": f"rejected: {TEXT}"}).encode())
    with pytest.raises(SmsNotSent):
        make_gateway(gateway.url).send(PHONE, TEXT)
    assert "rejected" in sms_log.text()
    assert "482913" not in sms_log.text()


def test_a_redirect_is_not_followed(gateway: StandInGateway) -> None:
    # urllib would carry the Authorization header to wherever the redirect points.
    gateway.answers(307, b"", Location="http://127.0.0.1:9/elsewhere")
    with pytest.raises(SmsNotSent, match="HTTP 307"):
        make_gateway(gateway.url).send(PHONE, TEXT)
    assert len(gateway.received) == 1


def test_a_gateway_that_does_not_answer_in_time_raises(gateway: StandInGateway) -> None:
    gateway.delay = 1.0
    started = time.monotonic()
    with pytest.raises(SmsNotSent, match="no answer|cannot be reached"):
        make_gateway(gateway.url, timeout=0.2).send(PHONE, TEXT)
    assert time.monotonic() - started < 0.9


def test_a_gateway_that_is_down_raises() -> None:
    with pytest.raises(SmsNotSent, match="cannot be reached"):
        make_gateway(f"http://127.0.0.1:{free_port()}/send").send(PHONE, TEXT)


def test_the_password_is_not_in_the_gateways_repr() -> None:
    assert PASSWORD not in repr(make_gateway("https://sms.example.vn/send"))


# -- the app, sending through the gateway ---------------------------------------------------


def gateway_app(database_url: str, tmp_path: Path, gateway_url: str) -> Flask:
    return create_app(
        {
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "TESTING": True,
            "LOG_JSON": False,
            "SMS_SENDER": "http",
            "SMS_HTTP_URL": gateway_url,
            "SMS_HTTP_USERNAME": USERNAME,
            "SMS_HTTP_PASSWORD": PASSWORD,
            "SMS_BRANDNAME": "HANOIBUS",
            "SMS_HTTP_TIMEOUT": 5,
        }
    )


@pytest.fixture
def app(database_url: str, tmp_path: Path, gateway: StandInGateway) -> Iterator[Flask]:
    flask_app = gateway_app(database_url, tmp_path, gateway.url)
    yield flask_app
    flask_app.extensions["transit"].engine.dispose()


def test_registering_sends_the_code_through_the_gateway(
    app: Flask, gateway: StandInGateway
) -> None:
    answer = register(app.test_client())
    assert answer.status_code == 202, answer.get_json()
    (request,) = gateway.received
    assert request.body["to"] == PHONE
    assert request.body["brandname"] == "HANOIBUS"
    assert re.search(r"\b\d{6}\b", request.body["text"])


def test_while_the_gateway_is_down_registering_answers_503_and_keeps_nothing(
    app: Flask, gateway: StandInGateway
) -> None:
    client = app.test_client()
    gateway.answers(502, b"<html>Bad Gateway</html>")
    failed = register(client)
    assert failed.status_code == 503
    assert failed.mimetype == "application/problem+json"
    problem = failed.get_json()
    assert (problem["code"], problem["status"]) == ("sms_unavailable", 503)
    assert "Traceback" not in failed.get_data(as_text=True)
    with app.app_context(), unit_of_work() as uow:
        assert uow.session.scalar(select(Rider).where(Rider.phone == PHONE)) is None
        assert uow.session.scalar(select(func.count()).select_from(OneTimeCode)) == 0

    gateway.answers(200, b'{"success": true, "message_id": "msg-0002"}')
    again = register(client)
    assert again.status_code == 202, again.get_json()
    assert re.search(r"\b\d{6}\b", gateway.received[-1].body["text"])


def test_the_503_is_in_english_when_asked(app: Flask, gateway: StandInGateway) -> None:
    gateway.answers(500, b"")
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    problem = register(client).get_json()
    assert problem["code"] == "sms_unavailable"
    assert "no code was sent" in problem["detail"]


def test_an_unknown_sender_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="known ones are log, http"):
        create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp_path / 'transit.sqlite3'}",
                "INSTANCE_PATH": str(tmp_path / "instance"),
                "LOG_JSON": False,
                "SMS_SENDER": "carrier-pigeon",
            }
        )
