"""SMS senders: the gateway is pluggable, chosen by SMS_SENDER.

`log` (development only) writes the message to the log. `http` hands it to an SMS brandname
gateway the way Vietnamese providers take service messages, by one HTTPS request:

    POST {SMS_HTTP_URL}
    Authorization: Basic base64(SMS_HTTP_USERNAME:SMS_HTTP_PASSWORD)
    Content-Type: application/json

    {"to": "+84912345678", "brandname": "{SMS_BRANDNAME}", "text": "..."}

`to` is the number in E.164, as the rider services keep it. The gateway answers 2xx with a JSON
object: `{"success": true, "message_id": "..."}` when it took the message, `{"success": false,
"error": "..."}` when it refused it. Anything else (another status, a redirect, no answer within
SMS_HTTP_TIMEOUT seconds, no connection, an answer that is not such an object) raises
`SmsNotSent`: the API answers 503 `sms_unavailable`, the request's transaction is rolled back,
and the rider asks again. A provider with another API is reached through a small relay that
speaks this one.

The password and the text (it carries one-time codes) are never logged; the phone number is
logged by its last three digits, with the provider's message id.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from api.config import PREFIX, ConfigError
from transit.errors import DomainError
from transit.services.riders import SmsSender

log = logging.getLogger("transit.sms")
EXTENSION = "transit.sms"
# A gateway's answer is a few hundred bytes; more is not read.
MAX_ANSWER = 64 * 1024


class SmsNotSent(DomainError):
    """The gateway did not take the message; nothing was sent, the rider may ask again."""

    code = "sms_unavailable"
    status = 503


def masked(phone: str) -> str:
    """The phone number as logs show it: its last three digits."""
    return "***" + phone[-3:]


class LogSmsSender:
    """Development only (refused in production): the code is in the log for the developer."""

    def send(self, phone: str, text: str) -> None:
        log.info("SMS to %s: %s", phone, text)


def _opener() -> urllib.request.OpenerDirector:
    # HTTP and HTTPS only, and no redirects: urllib would follow one to any address, and take
    # the Authorization header along.
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.UnknownHandler(),
    ):
        opener.add_handler(handler)
    return opener


@dataclass(frozen=True)
class HttpSmsGateway:
    """An SMS brandname gateway reached over HTTPS (the module docstring has the protocol)."""

    url: str
    username: str
    password: str = field(repr=False)
    brandname: str
    timeout: float
    opener: urllib.request.OpenerDirector = field(
        default_factory=_opener, repr=False, compare=False
    )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HttpSmsGateway:
        """The gateway the settings describe (api/config.py has checked them)."""
        return cls(
            url=config["SMS_HTTP_URL"],
            username=config["SMS_HTTP_USERNAME"],
            password=config["SMS_HTTP_PASSWORD"],
            brandname=config["SMS_BRANDNAME"],
            timeout=config["SMS_HTTP_TIMEOUT"],
        )

    def send(self, phone: str, text: str) -> None:
        credentials = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310  the opener speaks HTTP(S) only
            self.url,
            data=json.dumps({"to": phone, "brandname": self.brandname, "text": text}).encode(),
            headers={
                "Authorization": "Basic " + credentials,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            method="POST",
        )
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                raw = response.read(MAX_ANSWER)
        except urllib.error.HTTPError as error:
            error.close()
            raise _not_sent(phone, f"the gateway answered HTTP {error.code}") from None
        except urllib.error.URLError as error:
            raise _not_sent(phone, f"the gateway cannot be reached: {error.reason}") from None
        except (OSError, http.client.HTTPException) as error:
            # A timeout while reading the answer, or an answer that is not HTTP.
            raise _not_sent(phone, f"no answer from the gateway: {error!r}") from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise _not_sent(phone, "the gateway's answer is not JSON") from None
        if not isinstance(answer, dict) or answer.get("success") is not True:
            refusal = answer.get("error") if isinstance(answer, dict) else None
            raise _not_sent(phone, f"the gateway refused it: {_scrubbed(refusal)}")
        message_id = str(answer.get("message_id"))[:100]
        log.info(
            "SMS taken by the gateway", extra={"phone": masked(phone), "message_id": message_id}
        )


def _scrubbed(refusal: Any) -> str:
    # A provider may echo the number or the text, so digit runs (codes, numbers) are hidden.
    return re.sub(r"\d{4,}", "####", str(refusal))[:200]


def _not_sent(phone: str, reason: str) -> SmsNotSent:
    log.warning("SMS not sent", extra={"phone": masked(phone), "reason": reason})
    return SmsNotSent(reason)


# Each SMS_SENDER name and how its sender is built from the settings.
SENDERS: dict[str, Callable[[Mapping[str, Any]], SmsSender]] = {
    "log": lambda config: LogSmsSender(),
    "http": HttpSmsGateway.from_config,
}


def sender(app: Flask) -> SmsSender:
    found: SmsSender = app.extensions[EXTENSION]
    return found


def install(app: Flask, override: Any = None) -> None:
    if override is not None:
        app.extensions[EXTENSION] = override
        return
    name = app.config["SMS_SENDER"]
    build = SENDERS.get(name)
    if build is None:
        raise ConfigError(
            f"{PREFIX}SMS_SENDER={name!r}: no sender of that name; the known ones are "
            + ", ".join(SENDERS)
        )
    app.extensions[EXTENSION] = build(app.config)
