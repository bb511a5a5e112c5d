"""What a virtual card keeps only while in the field, its secure messaging, and its keys.

`Session` holds the selected application, the AES session, the transaction's staged writes and
half-sent frame chains; it checks and unwraps what comes in under secure messaging and wraps
what goes out, and answers the commands that authenticate and change keys. `FileCommands` and
`VirtualCard` build on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cards.connection import (
    AuthenticationError,
    IntegrityError,
    LengthError,
    NoSuchKey,
    ParameterError,
    PermissionDenied,
)
from cards.crypto import (
    BLOCK,
    CRC_SIZE,
    KEY_SIZE,
    MAC_SIZE,
    ZERO_IV,
    SecureChannel,
    aes_cbc_decrypt,
    aes_cbc_encrypt,
    crc32,
    padded_length,
    rotate_left,
    session_key,
    xor,
)
from cards.desfire import (
    APP_CRYPTO_AES,
    KS_CHANGE_KEY_FROZEN,
    KS_CHANGE_KEY_SAME,
    KS_FREE_DIRECTORY,
    KS_MASTER_KEY_CHANGEABLE,
    MAX_FRAME_DATA,
    PICC_AID,
    PICC_KEY_AES,
    CommMode,
    Status,
    split_frames,
)
from cards.emulator.memory import Application, CardMemory, Key

Rng = Callable[[int], bytes]


@dataclass
class Transaction:
    """Writes staged until CommitTransaction, for the selected application's files."""

    data: dict[int, bytearray] = field(default_factory=dict)
    values: dict[int, int] = field(default_factory=dict)
    debited: dict[int, int] = field(default_factory=dict)
    limited: dict[int, int] = field(default_factory=dict)
    records: dict[int, bytearray] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.data or self.values or self.debited or self.limited or self.records)


@dataclass
class Reply:
    """A handler's OK answer, before secure messaging and framing."""

    data: bytes = b""
    rx: CommMode | None = CommMode.PLAIN  # None: no CMAC even in a session
    first_frames: tuple[int, ...] = ()
    frame_size: int = MAX_FRAME_DATA
    end_session: bool = False
    status: Status = Status.OPERATION_OK


@dataclass
class PendingAuth:
    """Between the two passes of AuthenticateAES: the key and the card's challenge."""

    key_no: int
    key: bytes
    rnd_b: bytes
    encrypted_b: bytes


@dataclass
class PendingCommand:
    """A command whose frames are still arriving, and its length when whole."""

    command: bytearray
    expected: int


class Session:
    """The volatile state of a card over its `CardMemory`, and secure messaging with a reader."""

    def __init__(self, memory: CardMemory, rng: Rng = os.urandom) -> None:
        self.memory = memory
        self._rng = rng
        self._changes = 0
        self._aid = PICC_AID
        self._channel: SecureChannel | None = None
        self._auth: PendingAuth | None = None
        self._incoming: PendingCommand | None = None
        self._outgoing: list[bytes] = []
        self._tx = Transaction()

    @property
    def uid(self) -> bytes:
        return self.memory.uid

    @property
    def changes(self) -> int:
        """Counts changes to committed memory: save the memory when this moves."""
        return self._changes

    @property
    def selected_application(self) -> int:
        return self._aid

    @property
    def authenticated_key(self) -> int | None:
        return None if self._channel is None else self._channel.key_no

    def reset(self) -> None:
        """The card left the field: session, selection, chains and staged writes are gone."""
        self._aid = PICC_AID
        self._channel = None
        self._auth = None
        self._incoming = None
        self._outgoing = []
        self._tx = Transaction()

    def _answer(self, reply: Reply) -> tuple[int, bytes]:
        channel = self._channel
        out = reply.data
        if channel is not None and reply.rx is not None:
            trailer = bytes([Status.OPERATION_OK])
            if reply.rx == CommMode.ENCIPHERED:
                out = channel.encipher(reply.data + trailer, reply.data)
            else:
                out = reply.data + channel.mac(reply.data + trailer)
        if reply.end_session:
            self._channel = None
        frames: list[bytes] = []
        for size in reply.first_frames:
            frames.append(out[:size])
            out = out[size:]
        if out or not frames:
            frames += split_frames(out, reply.frame_size)
        self._outgoing = frames[1:]
        status = Status.ADDITIONAL_FRAME if self._outgoing else reply.status
        return status, frames[0]

    # -- helpers ------------------------------------------------------------------------------

    def _app(self) -> Application:
        if self._aid == PICC_AID:
            return self.memory.picc
        return self.memory.applications[self._aid]

    def _key_no(self) -> int | None:
        return None if self._channel is None else self._channel.key_no

    def _accept_plain(self, command: bytes) -> None:
        if self._channel is not None:
            self._channel.mac(command)

    def _accept(self, command: bytes, header_end: int, data_length: int, mode: CommMode) -> bytes:
        """Check and unwrap a command whose data (after `header_end`) is protected by `mode`."""
        channel = self._channel
        body = command[header_end:]
        if mode == CommMode.PLAIN or channel is None:
            if len(body) != data_length:
                raise LengthError("command length does not match its header")
            self._accept_plain(command)
            return body
        if mode == CommMode.MACED:
            if len(body) != data_length + MAC_SIZE:
                raise LengthError("MACed command length does not match its header")
            unmaced = command[:-MAC_SIZE]
            if channel.mac(unmaced) != command[-MAC_SIZE:]:
                raise IntegrityError("command CMAC does not verify")
            return unmaced[header_end:]
        if len(body) != padded_length(data_length + CRC_SIZE):
            raise LengthError("enciphered command length does not match its header")
        plain = channel.decrypt(body)
        data, crc, padding = (
            plain[:data_length],
            plain[data_length : data_length + CRC_SIZE],
            plain[data_length + CRC_SIZE :],
        )
        if crc != crc32(command[:header_end] + data) or any(padding):
            raise IntegrityError("command CRC or padding does not verify")
        return data

    def _protected_length(self, data_length: int, mode: CommMode) -> int:
        if self._channel is None or mode == CommMode.PLAIN:
            return data_length
        if mode == CommMode.MACED:
            return data_length + MAC_SIZE
        return padded_length(data_length + CRC_SIZE)

    def _require_master(self) -> None:
        if self._key_no() != 0:
            raise AuthenticationError("needs the master key")

    def _require_directory_access(self) -> None:
        if not self._app().key_settings & KS_FREE_DIRECTORY:
            self._require_master()

    def _require_length(self, command: bytes, length: int) -> None:
        if len(command) != length:
            raise LengthError(f"expected {length} bytes, got {len(command)}")

    def _changed(self) -> None:
        self._changes += 1

    def _reply(self, data: bytes, mode: CommMode) -> Reply:
        return Reply(data, CommMode.ENCIPHERED if mode == CommMode.ENCIPHERED else mode)

    # -- authentication -----------------------------------------------------------------------

    def _authenticate(self, command: bytes) -> Reply:
        self._require_length(command, 2)
        self._channel = None  # a new authentication ends the old session, not the transaction
        key_no = command[1]
        keys = self._app().keys
        if key_no >= len(keys):
            raise NoSuchKey(f"key {key_no}")
        rnd_b = self._rng(BLOCK)
        if len(rnd_b) != BLOCK:
            raise RuntimeError("the random source gave a short RndB")
        key = keys[key_no].value
        encrypted_b = aes_cbc_encrypt(key, ZERO_IV, rnd_b)
        self._auth = PendingAuth(key_no, key, rnd_b, encrypted_b)
        return Reply(encrypted_b, rx=None, status=Status.ADDITIONAL_FRAME)

    def _authenticate_second(self, pending: PendingAuth, token: bytes) -> Reply:
        if len(token) != 2 * BLOCK:
            raise LengthError("the token is two blocks")
        plain = aes_cbc_decrypt(pending.key, pending.encrypted_b, token)
        rnd_a, rotated_b = plain[:BLOCK], plain[BLOCK:]
        if rotated_b != rotate_left(pending.rnd_b):
            raise AuthenticationError("RndB' does not match")
        proof = aes_cbc_encrypt(pending.key, token[-BLOCK:], rotate_left(rnd_a))
        self._channel = SecureChannel(session_key(rnd_a, pending.rnd_b), pending.key_no)
        return Reply(proof, rx=None)

    def _get_card_uid(self, command: bytes) -> Reply:
        self._require_length(command, 1)
        if self._channel is None:
            raise AuthenticationError("GetCardUID needs a session")
        self._accept_plain(command)
        return Reply(self.memory.uid, rx=CommMode.ENCIPHERED)

    # -- keys -----------------------------------------------------------------------------

    def _get_key_settings(self, command: bytes) -> Reply:
        self._require_length(command, 1)
        self._require_directory_access()
        self._accept_plain(command)
        app = self._app()
        return Reply(bytes([app.key_settings, len(app.keys) | APP_CRYPTO_AES]))

    def _get_key_version(self, command: bytes) -> Reply:
        self._require_length(command, 2)
        keys = self._app().keys
        key_no = command[1] & 0x3F if self._aid == PICC_AID else command[1]
        if key_no >= len(keys):
            raise NoSuchKey(f"key {key_no}")
        self._accept_plain(command)
        return Reply(bytes([keys[key_no].version]))

    def _change_key(self, command: bytes) -> Reply:
        self._require_length(command, 2 + 2 * BLOCK)
        channel = self._channel
        if channel is None:
            raise AuthenticationError("ChangeKey needs a session")
        app = self._app()
        key_byte = command[1]
        if self._aid == PICC_AID:
            if key_byte & 0xC0 != PICC_KEY_AES:
                raise ParameterError("the PICC master key stays AES")
            key_no = key_byte & 0x3F
        else:
            key_no = key_byte
        if key_no >= len(app.keys):
            raise NoSuchKey(f"key {key_no}")
        self._check_change_key_rights(app, key_no, channel.key_no)
        plain = channel.decrypt(command[2:])
        header = command[:2]
        same = key_no == channel.key_no
        if same:
            new_key, version = plain[:KEY_SIZE], plain[KEY_SIZE]
            valid = plain[17:21] == crc32(header + plain[:17]) and not any(plain[21:])
        else:
            new_key = xor(plain[:KEY_SIZE], app.keys[key_no].value)
            version = plain[KEY_SIZE]
            valid = (
                plain[17:21] == crc32(header + plain[:17])
                and plain[21:25] == crc32(new_key)
                and not any(plain[25:])
            )
        if not valid:
            raise IntegrityError("key cryptogram does not verify")
        app.keys[key_no] = Key(new_key, version)
        self._changed()
        if same:
            self._channel = None
            return Reply(rx=None)
        return Reply()

    @staticmethod
    def _check_change_key_rights(app: Application, key_no: int, session_key_no: int) -> None:
        if key_no == 0:
            if session_key_no != 0:
                raise AuthenticationError("the master key changes only with itself")
            if not app.key_settings & KS_MASTER_KEY_CHANGEABLE:
                raise PermissionDenied("the master key is frozen")
            return
        access = app.key_settings >> 4
        if access == KS_CHANGE_KEY_FROZEN:
            raise PermissionDenied("keys are frozen")
        needed = key_no if access == KS_CHANGE_KEY_SAME else access
        if session_key_no != needed:
            raise AuthenticationError(f"changing key {key_no} needs key {needed}")
