"""The one seam to hardware: a card connection, the errors every layer above it raises, and the
reader's own GET UID.
"""

from __future__ import annotations

from typing import ClassVar, Protocol


class CardConnection(Protocol):
    """A card in the field: send one APDU, get its response data followed by SW1 SW2."""

    def transmit(self, apdu: bytes) -> bytes: ...


class CardError(Exception):
    """Anything that went wrong talking to a card."""


class CardRemoved(CardError):
    """The card left the field, or the connection to it was lost."""


class TransportError(CardError):
    """The reader or the link to it failed (not the card's answer)."""


class ProtocolError(CardError):
    """The card's answer does not have the shape the protocol requires."""


class ResponseIntegrityError(CardError):
    """A response MAC or CRC did not verify on the client side: the session is no longer trusted."""


class CardNotAuthentic(CardError):
    """The card failed the last pass of mutual authentication: it does not hold the key."""


class IsoStatusError(CardError):
    """The card (or reader) answered with an ISO 7816-4 status word other than 91 xx / 90 00."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"status word {sw:04X}")
        self.sw = sw


class DesfireError(CardError):
    """The card answered 91 xx with a DESFire status other than OK or additional frame."""

    STATUS: ClassVar[int] = -1
    NAME: ClassVar[str] = "UNKNOWN_STATUS"

    def __init__(self, detail: str = "", *, status: int | None = None) -> None:
        self.status: int = self.STATUS if status is None else status
        self.name: str = self.NAME if status is None else _NAMES.get(status, self.NAME)
        text = f"{self.name} (0x{self.status & 0xFF:02X})"
        super().__init__(f"{text}: {detail}" if detail else text)


class OutOfEeprom(DesfireError):
    STATUS = 0x0E
    NAME = "OUT_OF_EEPROM_ERROR"


class IllegalCommand(DesfireError):
    STATUS = 0x1C
    NAME = "ILLEGAL_COMMAND_CODE"


class IntegrityError(DesfireError):
    """The card found a bad CRC, MAC or padding in what it was sent."""

    STATUS = 0x1E
    NAME = "INTEGRITY_ERROR"


class NoSuchKey(DesfireError):
    STATUS = 0x40
    NAME = "NO_SUCH_KEY"


class LengthError(DesfireError):
    STATUS = 0x7E
    NAME = "LENGTH_ERROR"


class PermissionDenied(DesfireError):
    STATUS = 0x9D
    NAME = "PERMISSION_DENIED"


class ParameterError(DesfireError):
    STATUS = 0x9E
    NAME = "PARAMETER_ERROR"


class ApplicationNotFound(DesfireError):
    STATUS = 0xA0
    NAME = "APPLICATION_NOT_FOUND"


class ApplicationIntegrityError(DesfireError):
    STATUS = 0xA1
    NAME = "APPL_INTEGRITY_ERROR"


class AuthenticationError(DesfireError):
    STATUS = 0xAE
    NAME = "AUTHENTICATION_ERROR"


class BoundaryError(DesfireError):
    STATUS = 0xBE
    NAME = "BOUNDARY_ERROR"


class PiccIntegrityError(DesfireError):
    STATUS = 0xC1
    NAME = "PICC_INTEGRITY_ERROR"


class CommandAborted(DesfireError):
    STATUS = 0xCA
    NAME = "COMMAND_ABORTED"


class PiccDisabled(DesfireError):
    STATUS = 0xCD
    NAME = "PICC_DISABLED_ERROR"


class CountError(DesfireError):
    STATUS = 0xCE
    NAME = "COUNT_ERROR"


class DuplicateError(DesfireError):
    STATUS = 0xDE
    NAME = "DUPLICATE_ERROR"


class EepromError(DesfireError):
    STATUS = 0xEE
    NAME = "EEPROM_ERROR"


class FileNotFound(DesfireError):
    STATUS = 0xF0
    NAME = "FILE_NOT_FOUND"


class FileIntegrityError(DesfireError):
    STATUS = 0xF1
    NAME = "FILE_INTEGRITY_ERROR"


_ERRORS: dict[int, type[DesfireError]] = {
    cls.STATUS: cls
    for cls in (
        OutOfEeprom,
        IllegalCommand,
        IntegrityError,
        NoSuchKey,
        LengthError,
        PermissionDenied,
        ParameterError,
        ApplicationNotFound,
        ApplicationIntegrityError,
        AuthenticationError,
        BoundaryError,
        PiccIntegrityError,
        CommandAborted,
        PiccDisabled,
        CountError,
        DuplicateError,
        EepromError,
        FileNotFound,
        FileIntegrityError,
    )
}
_NAMES = {status: cls.NAME for status, cls in _ERRORS.items()} | {0x0C: "NO_CHANGES"}


def desfire_error(status: int, detail: str = "") -> DesfireError:
    """The typed error for a DESFire status byte (the base class for codes without one)."""
    cls = _ERRORS.get(status)
    if cls is None:
        return DesfireError(detail, status=status)
    return cls(detail)


def error_classes() -> dict[int, type[DesfireError]]:
    """Every DESFire status that has its own error class, by status byte."""
    return dict(_ERRORS)


# PC/SC GET DATA (pseudo-APDU, PC/SC part 3): the reader answers with the UID of the card in it.
GET_UID = bytes.fromhex("FF CA 00 00 00")


def read_uid(connection: CardConnection) -> bytes:
    """The UID of the card in the field, as the reader reports it (`FF CA 00 00 00`)."""
    answer = connection.transmit(GET_UID)
    if len(answer) < 2:
        raise ProtocolError(f"response of {len(answer)} bytes has no status word")
    if answer[-2:] != b"\x90\x00":
        raise IsoStatusError(int.from_bytes(answer[-2:]))
    return answer[:-2]
