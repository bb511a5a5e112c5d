"""The virtual card's link to pcscd's vpcd driver: the only module of cards/ that uses the network.

vpcd is the TCP server (port 35963 for reader slot 0); the card connects to it as a client.
Every message either way is a 2-byte big-endian length and a payload. A 1-byte payload from
vpcd is a control message (power off, power on, reset, get ATR); anything longer is a C-APDU,
answered with the R-APDU. Closing the socket is the card leaving the field.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

DEFAULT_PORT = 35963
# What a PC/SC contactless reader reports for a DESFire EV1 (ISO 14443-4 type A, ATS "80").
DESFIRE_EV1_ATR = bytes.fromhex("3B 81 80 01 80 80")

POWER_OFF = 0x00
POWER_ON = 0x01
RESET = 0x02
GET_ATR = 0x04

log = logging.getLogger(__name__)


class Chip(Protocol):
    """What the link needs from a card: answer an APDU, and forget volatile state on reset."""

    def process(self, apdu: bytes) -> bytes: ...

    def reset(self) -> None: ...


@dataclass
class LinkResult:
    """How a session in the field ended."""

    apdus: int
    torn: bool


class FieldLost(Exception):
    """vpcd closed the connection (pcscd stopped, or the reader went away)."""


def serve(
    chip: Chip,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    atr: bytes = DESFIRE_EV1_ATR,
    tear_after: int | None = None,
    after_apdu: Callable[[], None] | None = None,
    connect_timeout: float = 10.0,
) -> LinkResult:
    """Hold the card in the reader until vpcd hangs up or the card is torn away.

    With `tear_after=N` the card executes N APDUs and leaves the field before sending the N-th
    answer, as a card pulled away mid-command does: the reader never learns whether it ran.
    `after_apdu` runs after every executed APDU (the emulator saves the card's memory there).
    """
    with _connect(host, port, connect_timeout) as link:
        apdus = 0
        try:
            while True:
                message = _receive(link)
                if len(message) == 1:
                    _control(chip, link, message[0], atr)
                    continue
                response = chip.process(message)
                apdus += 1
                if after_apdu is not None:
                    after_apdu()
                if tear_after is not None and apdus >= tear_after:
                    chip.reset()
                    return LinkResult(apdus=apdus, torn=True)
                _send(link, response)
        except FieldLost:
            chip.reset()
            return LinkResult(apdus=apdus, torn=False)


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    link = socket.create_connection((host, port), timeout=timeout)
    link.settimeout(None)
    # Without these, Nagle on one side and delayed ACKs on the other cost ~40 ms per APDU.
    link.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _quickack(link)
    return link


def _quickack(link: socket.socket) -> None:
    # TCP_QUICKACK is Linux-only and not sticky: it must be set again after every receive.
    option = getattr(socket, "TCP_QUICKACK", None)
    if option is not None:
        link.setsockopt(socket.IPPROTO_TCP, option, 1)


def _control(chip: Chip, link: socket.socket, code: int, atr: bytes) -> None:
    if code == GET_ATR:
        _send(link, atr)
    elif code in (POWER_OFF, POWER_ON, RESET):
        chip.reset()
    else:
        log.warning("unknown vpcd control message 0x%02X", code)


def _receive(link: socket.socket) -> bytes:
    (length,) = struct.unpack("!H", _receive_exactly(link, 2))
    payload = _receive_exactly(link, length)
    _quickack(link)
    return payload


def _receive_exactly(link: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        try:
            chunk = link.recv(size - len(chunks))
        except OSError as error:
            raise FieldLost(str(error)) from error
        if not chunk:
            raise FieldLost("vpcd closed the connection")
        chunks += chunk
    _quickack(link)
    return bytes(chunks)


def _send(link: socket.socket, payload: bytes) -> None:
    # One write per message: a separate length segment would wait for an ACK.
    try:
        link.sendall(struct.pack("!H", len(payload)) + payload)
    except OSError as error:
        raise FieldLost(str(error)) from error
