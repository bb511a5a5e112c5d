"""PC/SC readers through pyscard: the only module that imports smartcard.

Everything else sees a reader as names and a card as a `cards.connection.CardConnection`
(bytes in, bytes out); pyscard's lists of ints and its error codes stay in here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from smartcard import scard

from cards.connection import CardRemoved
from cards.connection import TransportError as TransportError

log = logging.getLogger(__name__)

INFINITE = 0xFFFFFFFF
# pcscd answers a status-change wait at least this often, so a stop request is seen promptly.
_POLL_MS = 500

# These mean the card is gone (pulled away, or the reader with it): the caller's tap failed.
_REMOVED = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_W_RESET_CARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_W_UNRESPONSIVE_CARD,
    scard.SCARD_E_READER_UNAVAILABLE,
    scard.SCARD_E_NO_READERS_AVAILABLE,
    # A contactless transaction that fails mid-way is, in practice, the card leaving the field.
    scard.SCARD_E_NOT_TRANSACTED,
}


def _card_in_field(event: int) -> bool:
    return bool(event & scard.SCARD_STATE_PRESENT) and not event & scard.SCARD_STATE_MUTE


class ReaderNotFound(TransportError):
    """No reader matches the name asked for, or more than one does."""


def _check(result: int, what: str) -> None:
    if result == scard.SCARD_S_SUCCESS:
        return
    message = f"{what}: {scard.SCardGetErrorMessage(result)} (0x{result & 0xFFFFFFFF:08X})"
    if result in _REMOVED:
        raise CardRemoved(message)
    raise TransportError(message)


class Pcsc:
    """A PC/SC context: lists readers and opens them. Use it in a `with` block."""

    def __init__(self) -> None:
        result, self._context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check(result, "cannot reach pcscd")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
            self._context = None

    def readers(self) -> list[str]:
        """Names of the readers pcscd knows now."""
        result, names = scard.SCardListReaders(self._context, [])
        if result == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        _check(result, "cannot list readers")
        return list(names)

    def reader(self, name: str | None = None) -> Reader:
        """The reader whose name is `name` or contains it; the only reader when `name` is None."""
        names = self.readers()
        if name is not None:
            exact = [n for n in names if n == name]
            names = exact or [n for n in names if name.lower() in n.lower()]
        if len(names) != 1:
            wanted = repr(name) if name else "a reader"
            raise ReaderNotFound(
                f"{wanted}: {len(names)} readers match"
                + (f" ({', '.join(names)})" if names else "")
            )
        return Reader(self._context, names[0])


class Reader:
    """One reader: waits for cards and connects to them."""

    def __init__(self, context: Any, name: str) -> None:
        self._context = context
        self.name = name

    def card_present(self) -> bool:
        return bool(self._state(0)[0] & scard.SCARD_STATE_PRESENT)

    def wait_for_card(self, timeout: float | None) -> Card | None:
        """Connect to the next card in the field; None if none came within `timeout` seconds."""
        if self._wait_for(_card_in_field, timeout):
            return self.connect()
        return None

    def wait_for_removal(self, timeout: float | None) -> bool:
        """True once the field is empty; False if a card is still there after `timeout`."""
        return self._wait_for(lambda event: bool(event & scard.SCARD_STATE_EMPTY), timeout)

    def _wait_for(self, condition: Callable[[int], bool], timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        state = scard.SCARD_STATE_UNAWARE
        while True:
            remaining_ms = _POLL_MS
            if deadline is not None:
                remaining_ms = min(_POLL_MS, max(0, int((deadline - time.monotonic()) * 1000)))
            event, _ = self._state(remaining_ms, state)
            if condition(event):
                return True
            state = event & ~scard.SCARD_STATE_CHANGED
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def connect(self) -> Card:
        """Connect to the card in the field now."""
        result, handle, protocol = scard.SCardConnect(
            self._context,
            self.name,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        _check(result, f"cannot connect to the card in {self.name}")
        return Card(handle, protocol, self.name)

    def _state(self, timeout_ms: int, known: int = scard.SCARD_STATE_UNAWARE) -> tuple[int, bytes]:
        result, states = scard.SCardGetStatusChange(self._context, timeout_ms, [(self.name, known)])
        if result == scard.SCARD_E_TIMEOUT:
            return known, b""
        _check(result, f"cannot read the state of {self.name}")
        _, event, atr = states[0]
        return int(event), bytes(atr)


class Card:
    """A card in a reader; a `cards.connection.CardConnection`."""

    def __init__(self, handle: Any, protocol: int, reader: str) -> None:
        self._handle = handle
        self._protocol = protocol
        self.reader = reader

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def atr(self) -> bytes:
        result, _reader, _state, _protocol, atr = scard.SCardStatus(self._handle)
        _check(result, "cannot read the ATR")
        return bytes(atr)

    def transmit(self, apdu: bytes) -> bytes:
        """Send one APDU; the answer is its data followed by SW1 SW2."""
        # Commands and answers only: keys and session material never pass through here in clear
        # except inside enciphered frames, which are safe to trace.
        log.debug("> %s", apdu.hex(" "))
        result, response = scard.SCardTransmit(self._handle, self._protocol, list(apdu))
        _check(result, "transmit failed")
        answer = bytes(response)
        log.debug("< %s", answer.hex(" "))
        if len(answer) < 2:
            # Every answer ends in a status word; pcscd hands back nothing when the card's link
            # dropped during the exchange.
            raise CardRemoved("the card answered without a status word")
        return answer

    def close(self) -> None:
        if self._handle is not None:
            scard.SCardDisconnect(self._handle, scard.SCARD_LEAVE_CARD)
            self._handle = None
