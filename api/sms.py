"""SMS senders: the gateway is pluggable; the development one writes the message to the log."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from transit.services.riders import SmsSender

log = logging.getLogger("transit.sms")
EXTENSION = "transit.sms"


class LogSmsSender:
    """Development only (refused in production): the code is in the log for the developer."""

    def send(self, phone: str, text: str) -> None:
        log.info("SMS to %s: %s", phone, text)


def sender(app: Flask) -> SmsSender:
    found: SmsSender = app.extensions[EXTENSION]
    return found


def install(app: Flask, override: Any = None) -> None:
    name = app.config["SMS_SENDER"]
    if override is not None:
        app.extensions[EXTENSION] = override
    elif name == "log":
        app.extensions[EXTENSION] = LogSmsSender()
    else:
        raise RuntimeError(
            f"SMS_SENDER={name!r}: no gateway of that name is built in; "
            "add one beside LogSmsSender in api/sms.py"
        )
