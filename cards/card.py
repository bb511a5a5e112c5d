"""The card side of DESFire EV1 (AES): a memory image and the state machine that answers APDUs.

`CardMemory` is what the chip keeps without power (committed state only). `VirtualCard` adds
what lives only while the card is in the field: the selected application, the AES session, the
transaction's staged writes and half-sent frame chains. `process` never raises: whatever comes
in, a status word goes out.

Decisions where the public sources are silent (the reference marks them [inferred]):
- SelectApplication, and the second pass of authentication, answer without a CMAC: the session
  they replace is gone before the answer. A failed select leaves the PICC level selected.
- FormatPICC and DeleteApplication of the selected application answer with a CMAC, then drop
  the session (libfreefare verifies that CMAC and then forgets the session key).
- Any error status drops the session and aborts the transaction (staged writes are lost).
- The file's communication mode applies when the authenticated key is one of the keys granting
  the operation; access granted only through "free" is plain (`desfire.comm_mode_for`).
- ReadRecords returns records newest first. LimitedCredit may credit up to the sum of the
  Debits of the last committed transaction that debited the file; using it zeroes that sum.
- Wrong parameters for a file of another type answer PARAMETER_ERROR; ISO-level faults answer
  ISO status words (67 00 wrong length, 6A 86 P1/P2, 6E 00 class, 6A 81 unsupported FF CA).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from cards.connection import (
    ApplicationNotFound,
    AuthenticationError,
    BoundaryError,
    CountError,
    DesfireError,
    DuplicateError,
    FileNotFound,
    IllegalCommand,
    IntegrityError,
    LengthError,
    NoSuchKey,
    OutOfEeprom,
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
    CLA,
    DEFAULT_KEY_SETTINGS,
    KS_CHANGE_KEY_FROZEN,
    KS_CHANGE_KEY_SAME,
    KS_FREE_CREATE_DELETE,
    KS_FREE_DIRECTORY,
    KS_MASTER_KEY_CHANGEABLE,
    MAX_APPLICATIONS,
    MAX_FILE_NO,
    MAX_FRAME_DATA,
    MAX_KEYS,
    PICC_AID,
    PICC_KEY_AES,
    SW1_DESFIRE,
    AccessRights,
    CardVersion,
    Command,
    CommMode,
    DataFileSettings,
    Operation,
    RecordFileSettings,
    Status,
    ValueFileSettings,
    comm_mode_for,
    fits_i32,
    pack_aid,
    pack_i32,
    split_frames,
    unpack_aid,
    unpack_file_settings,
    unpack_i32,
    unpack_u24,
)

Rng = Callable[[int], bytes]

# GetVersion of a real EV1 8K (reference §1): NXP, HW 1.0, SW 1.4, 8192 bytes, ISO 14443-2/3/4.
HARDWARE_VERSION = bytes.fromhex("04 01 01 01 00 1A 05")
SOFTWARE_VERSION = bytes.fromhex("04 01 01 01 04 1A 05")
PRODUCTION_BATCH = bytes.fromhex("BA 45 19 E3 20")
PRODUCTION_WEEK = 0x49  # BCD
PRODUCTION_YEAR = 0x13  # BCD
# [inferred] user memory of an 8 KB EV1, counted in 32-byte blocks as the chip allocates it.
CAPACITY = 7936
ALLOCATION_UNIT = 32
APPLICATION_OVERHEAD = 64

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"
SW_FUNCTION_NOT_SUPPORTED = b"\x6a\x81"
SW_NO_PRECISE_DIAGNOSIS = b"\x6f\x00"
PCSC_CLA = 0xFF
PCSC_GET_DATA = 0xCA

# -- memory -------------------------------------------------------------------------------


@dataclass
class Key:
    value: bytes = bytes(KEY_SIZE)
    version: int = 0


@dataclass
class DataFile:
    settings: DataFileSettings
    data: bytes


@dataclass
class ValueFile:
    settings: ValueFileSettings  # limited_credit_value is part of the committed state
    value: int


@dataclass
class RecordFile:
    settings: RecordFileSettings  # current_records is always len(records)
    records: list[bytes]  # oldest first


CardFile = DataFile | ValueFile | RecordFile


@dataclass
class Application:
    key_settings: int = DEFAULT_KEY_SETTINGS
    keys: list[Key] = field(default_factory=lambda: [Key()])
    files: dict[int, CardFile] = field(default_factory=dict)


def _file_to_json(file: CardFile) -> dict[str, Any]:
    if isinstance(file, DataFile):
        return {"settings": file.settings.pack().hex(), "data": file.data.hex()}
    if isinstance(file, ValueFile):
        return {"settings": file.settings.pack().hex(), "value": file.value}
    settings = replace(file.settings, current_records=len(file.records))
    return {"settings": settings.pack().hex(), "records": [r.hex() for r in file.records]}


def _file_from_json(raw: dict[str, Any]) -> CardFile:
    settings = unpack_file_settings(bytes.fromhex(raw["settings"]))
    if isinstance(settings, DataFileSettings):
        data = bytes.fromhex(raw["data"])
        if len(data) != settings.size:
            raise ValueError("data file contents do not match its size")
        return DataFile(settings, data)
    if isinstance(settings, ValueFileSettings):
        return ValueFile(settings, int(raw["value"]))
    records = [bytes.fromhex(r) for r in raw["records"]]
    if any(len(r) != settings.record_size for r in records):
        raise ValueError("a record does not match the record size")
    return RecordFile(replace(settings, current_records=0), records)


def _app_to_json(app: Application) -> dict[str, Any]:
    return {
        "key_settings": app.key_settings,
        "keys": [{"key": k.value.hex(), "version": k.version} for k in app.keys],
        "files": {str(no): _file_to_json(f) for no, f in sorted(app.files.items())},
    }


def _app_from_json(raw: dict[str, Any]) -> Application:
    keys = [Key(bytes.fromhex(k["key"]), int(k["version"])) for k in raw["keys"]]
    if not keys or any(len(k.value) != KEY_SIZE for k in keys):
        raise ValueError("bad application keys")
    files = {int(no): _file_from_json(f) for no, f in raw["files"].items()}
    return Application(int(raw["key_settings"]), keys, files)


@dataclass
class CardMemory:
    """The committed, non-volatile state of one card."""

    uid: bytes
    picc: Application  # PICC level: the card master key and its settings, no files
    applications: dict[int, Application] = field(default_factory=dict)

    @classmethod
    def blank(cls, uid: bytes) -> CardMemory:
        """A factory-blank card: AES PICC master key all zero, version 0, no applications."""
        if len(uid) != 7:
            raise ValueError("a DESFire EV1 UID is 7 bytes")
        return cls(uid, Application())

    def to_json(self) -> str:
        return json.dumps(
            {
                "uid": self.uid.hex(),
                "picc": _app_to_json(self.picc),
                "applications": {
                    f"{aid:06X}": _app_to_json(app)
                    for aid, app in sorted(self.applications.items())
                },
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> CardMemory:
        raw = json.loads(text)
        apps = {int(aid, 16): _app_from_json(app) for aid, app in raw["applications"].items()}
        memory = cls(bytes.fromhex(raw["uid"]), _app_from_json(raw["picc"]), apps)
        if len(memory.uid) != 7:
            raise ValueError("a DESFire EV1 UID is 7 bytes")
        return memory

    def used_bytes(self) -> int:
        """EEPROM taken by applications and files, in allocation units."""
        return sum(
            APPLICATION_OVERHEAD + sum(_file_footprint(f) for f in app.files.values())
            for app in self.applications.values()
        )


def _units(size: int) -> int:
    return -(-size // ALLOCATION_UNIT) * ALLOCATION_UNIT


def _file_footprint(file: CardFile) -> int:
    settings = file.settings
    if isinstance(settings, DataFileSettings):
        return _units(settings.size) * (2 if settings.backup else 1)
    if isinstance(settings, ValueFileSettings):
        return ALLOCATION_UNIT
    return _units(settings.record_size * settings.max_records)


# -- volatile state -----------------------------------------------------------------------


@dataclass
class _Transaction:
    """Writes staged until CommitTransaction, for the selected application's files."""

    data: dict[int, bytearray] = field(default_factory=dict)
    values: dict[int, int] = field(default_factory=dict)
    debited: dict[int, int] = field(default_factory=dict)
    limited: dict[int, int] = field(default_factory=dict)
    records: dict[int, bytearray] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.data or self.values or self.debited or self.limited or self.records)


@dataclass
class _Reply:
    """A handler's OK answer, before secure messaging and framing."""

    data: bytes = b""
    rx: CommMode | None = CommMode.PLAIN  # None: no CMAC even in a session
    first_frames: tuple[int, ...] = ()
    frame_size: int = MAX_FRAME_DATA
    end_session: bool = False
    status: Status = Status.OPERATION_OK


@dataclass
class _PendingAuth:
    key_no: int
    key: bytes
    rnd_b: bytes
    encrypted_b: bytes


@dataclass
class _PendingCommand:
    command: bytearray
    expected: int


_Handler = Callable[["VirtualCard", bytes], _Reply]


class VirtualCard:
    """A DESFire EV1 card with AES keys over a `CardMemory`: ISO-wrapped APDU in, answer out."""

    _handlers: ClassVar[dict[int, _Handler]] = {}

    def __init__(self, memory: CardMemory, rng: Rng = os.urandom) -> None:
        self.memory = memory
        self._rng = rng
        self._changes = 0
        self._aid = PICC_AID
        self._channel: SecureChannel | None = None
        self._auth: _PendingAuth | None = None
        self._incoming: _PendingCommand | None = None
        self._outgoing: list[bytes] = []
        self._tx = _Transaction()

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
        self._tx = _Transaction()

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU with data || SW1 SW2. Never raises."""
        try:
            return self._process(apdu)
        except Exception:
            # A fault of the emulator itself: behave like a chip that lost its volatile state.
            self.reset()
            return SW_NO_PRECISE_DIAGNOSIS

    # -- ISO 7816-4 layer ---------------------------------------------------------------------

    def _process(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
        if cla == PCSC_CLA:
            return self._pcsc(ins, p1, p2, apdu[4:])
        if cla != CLA:
            return SW_CLA_NOT_SUPPORTED
        if p1 or p2:
            return SW_WRONG_P1P2
        body = apdu[4:]
        if len(body) <= 1:
            data = b""
        elif len(body) == 1 + body[0] and body[0]:
            data = body[1:]
        elif len(body) == 2 + body[0]:
            data = body[1:-1]
        else:
            return SW_WRONG_LENGTH
        status, out = self._native(ins, data)
        return out + bytes([SW1_DESFIRE, status])

    def _pcsc(self, ins: int, p1: int, p2: int, rest: bytes) -> bytes:
        uid = self.memory.uid
        if ins != PCSC_GET_DATA or p1 or p2 or len(rest) > 1:
            return SW_FUNCTION_NOT_SUPPORTED
        if rest and rest[0] not in (0, len(uid)):
            return bytes([0x6C, len(uid)])
        return uid + SW_OK

    # -- native layer -------------------------------------------------------------------------

    def _native(self, ins: int, data: bytes) -> tuple[int, bytes]:
        try:
            if ins == Command.ADDITIONAL_FRAME:
                return self._additional_frame(data)
            self._auth = None
            self._incoming = None
            self._outgoing = []
            command = bytes([ins]) + data
            handler = self._handlers.get(ins)
            if handler is None:
                raise IllegalCommand(f"INS {ins:#04x}")
            expected = self._expected_length(command)
            if expected is not None and len(command) < expected:
                self._incoming = _PendingCommand(bytearray(command), expected)
                return Status.ADDITIONAL_FRAME, b""
            return self._answer(handler(self, command))
        except DesfireError as error:
            return self._error(error.status)

    def _error(self, status: int) -> tuple[int, bytes]:
        self._channel = None
        self._auth = None
        self._incoming = None
        self._outgoing = []
        self._tx = _Transaction()
        return status, b""

    def _additional_frame(self, data: bytes) -> tuple[int, bytes]:
        if self._outgoing:
            if data:
                raise LengthError("an answer frame request carries no data")
            frame = self._outgoing.pop(0)
            return (Status.ADDITIONAL_FRAME if self._outgoing else Status.OPERATION_OK), frame
        if self._auth is not None:
            pending, self._auth = self._auth, None
            return self._answer(self._authenticate_second(pending, data))
        if self._incoming is not None:
            pending_command = self._incoming
            pending_command.command += data
            if len(pending_command.command) < pending_command.expected:
                return Status.ADDITIONAL_FRAME, b""
            self._incoming = None
            command = bytes(pending_command.command)
            return self._answer(self._handlers[command[0]](self, command))
        raise IllegalCommand("no frame chain in progress")

    def _answer(self, reply: _Reply) -> tuple[int, bytes]:
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

    def _in_application(self) -> Application:
        if self._aid == PICC_AID:
            raise PermissionDenied("needs an application selected")
        return self._app()

    def _file(self, file_no: int) -> CardFile:
        if file_no > MAX_FILE_NO:
            raise ParameterError(f"file number {file_no}")
        file = self._in_application().files.get(file_no)
        if file is None:
            raise FileNotFound(f"file {file_no}")
        return file

    def _mode(self, file: CardFile, operation: Operation) -> CommMode:
        settings = file.settings
        if not settings.access.permits(operation, self._key_no()):
            raise PermissionDenied(f"{operation.value} not allowed")
        return comm_mode_for(settings.comm_mode, settings.access, operation, self._key_no())

    def _changed(self) -> None:
        self._changes += 1

    def _expected_length(self, command: bytes) -> int | None:
        """Total length of a command that may arrive in several frames (writes), else None."""
        if command[0] not in (Command.WRITE_DATA, Command.WRITE_RECORD):
            return None
        if len(command) < 8:
            raise LengthError("write header is 7 bytes")
        file = self._file(command[1])
        offset, length = unpack_u24(command[2:5]), unpack_u24(command[5:8])
        if command[0] == Command.WRITE_DATA:
            if not isinstance(file, DataFile):
                raise ParameterError("not a data file")
            limit = file.settings.size
        else:
            if not isinstance(file, RecordFile):
                raise ParameterError("not a record file")
            limit = file.settings.record_size
        if length == 0:
            raise LengthError("nothing to write")
        if offset + length > limit:
            raise BoundaryError("write past the end")
        return 8 + self._protected_length(length, self._mode(file, Operation.WRITE))

    def _reply(self, data: bytes, mode: CommMode) -> _Reply:
        return _Reply(data, CommMode.ENCIPHERED if mode == CommMode.ENCIPHERED else mode)

    # -- card level commands ------------------------------------------------------------------

    def _get_version(self, command: bytes) -> _Reply:
        self._require_length(command, 1)
        self._accept_plain(command)
        version = CardVersion(
            HARDWARE_VERSION,
            SOFTWARE_VERSION,
            self.memory.uid,
            PRODUCTION_BATCH,
            PRODUCTION_WEEK,
            PRODUCTION_YEAR,
        )
        return _Reply(version.pack(), first_frames=(7, 7))

    def _get_application_ids(self, command: bytes) -> _Reply:
        self._require_length(command, 1)
        if self._aid != PICC_AID:
            raise PermissionDenied("only at PICC level")
        self._require_directory_access()
        self._accept_plain(command)
        data = b"".join(pack_aid(aid) for aid in self.memory.applications)
        return _Reply(data, frame_size=19 * 3)

    def _select_application(self, command: bytes) -> _Reply:
        self._require_length(command, 4)
        aid = unpack_aid(command[1:4])
        self._channel = None
        self._tx = _Transaction()
        self._aid = PICC_AID
        if aid != PICC_AID and aid not in self.memory.applications:
            raise ApplicationNotFound(f"{aid:06X}")
        self._aid = aid
        return _Reply(rx=None)

    def _authenticate(self, command: bytes) -> _Reply:
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
        self._auth = _PendingAuth(key_no, key, rnd_b, encrypted_b)
        return _Reply(encrypted_b, rx=None, status=Status.ADDITIONAL_FRAME)

    def _authenticate_second(self, pending: _PendingAuth, token: bytes) -> _Reply:
        if len(token) != 2 * BLOCK:
            raise LengthError("the token is two blocks")
        plain = aes_cbc_decrypt(pending.key, pending.encrypted_b, token)
        rnd_a, rotated_b = plain[:BLOCK], plain[BLOCK:]
        if rotated_b != rotate_left(pending.rnd_b):
            raise AuthenticationError("RndB' does not match")
        proof = aes_cbc_encrypt(pending.key, token[-BLOCK:], rotate_left(rnd_a))
        self._channel = SecureChannel(session_key(rnd_a, pending.rnd_b), pending.key_no)
        return _Reply(proof, rx=None)

    def _get_card_uid(self, command: bytes) -> _Reply:
        self._require_length(command, 1)
        if self._channel is None:
            raise AuthenticationError("GetCardUID needs a session")
        self._accept_plain(command)
        return _Reply(self.memory.uid, rx=CommMode.ENCIPHERED)

    def _create_application(self, command: bytes) -> _Reply:
        self._require_length(command, 6)
        if self._aid != PICC_AID:
            raise PermissionDenied("only at PICC level")
        if not self.memory.picc.key_settings & KS_FREE_CREATE_DELETE:
            self._require_master()
        aid, settings, keys_byte = unpack_aid(command[1:4]), command[4], command[5]
        key_count = keys_byte & 0x0F
        if aid == PICC_AID or keys_byte & 0xF0 != APP_CRYPTO_AES or not 1 <= key_count <= MAX_KEYS:
            raise ParameterError("only AES applications with 1 to 14 keys, no ISO file ids")
        if aid in self.memory.applications:
            raise DuplicateError(f"{aid:06X}")
        if len(self.memory.applications) >= MAX_APPLICATIONS:
            raise CountError("too many applications")
        if self.memory.used_bytes() + APPLICATION_OVERHEAD > CAPACITY:
            raise OutOfEeprom("no room for the application")
        self._accept_plain(command)
        self.memory.applications[aid] = Application(settings, [Key() for _ in range(key_count)])
        self._changed()
        return _Reply()

    def _delete_application(self, command: bytes) -> _Reply:
        self._require_length(command, 4)
        aid = unpack_aid(command[1:4])
        if self._aid not in (PICC_AID, aid):
            raise PermissionDenied("delete from PICC level or from the application itself")
        self._require_master()
        if aid not in self.memory.applications:
            raise ApplicationNotFound(f"{aid:06X}")
        self._accept_plain(command)
        del self.memory.applications[aid]
        self._changed()
        if self._aid == aid:
            self._aid = PICC_AID
            self._tx = _Transaction()
            return _Reply(end_session=True)
        return _Reply()

    def _format_picc(self, command: bytes) -> _Reply:
        self._require_length(command, 1)
        if self._aid != PICC_AID:
            raise PermissionDenied("only at PICC level")
        self._require_master()
        self._accept_plain(command)
        self.memory.applications.clear()
        self._tx = _Transaction()
        self._changed()
        return _Reply(end_session=True)

    # -- keys -----------------------------------------------------------------------------

    def _get_key_settings(self, command: bytes) -> _Reply:
        self._require_length(command, 1)
        self._require_directory_access()
        self._accept_plain(command)
        app = self._app()
        return _Reply(bytes([app.key_settings, len(app.keys) | APP_CRYPTO_AES]))

    def _get_key_version(self, command: bytes) -> _Reply:
        self._require_length(command, 2)
        keys = self._app().keys
        key_no = command[1] & 0x3F if self._aid == PICC_AID else command[1]
        if key_no >= len(keys):
            raise NoSuchKey(f"key {key_no}")
        self._accept_plain(command)
        return _Reply(bytes([keys[key_no].version]))

    def _change_key(self, command: bytes) -> _Reply:
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
            return _Reply(rx=None)
        return _Reply()

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

    # -- files ------------------------------------------------------------------------------

    def _create_file(self, command: bytes, length: int) -> tuple[int, CommMode]:
        self._require_length(command, length)
        app = self._in_application()
        if not app.key_settings & KS_FREE_CREATE_DELETE:
            self._require_master()
        file_no = command[1]
        if file_no > MAX_FILE_NO:
            raise ParameterError(f"file number {file_no}")
        if file_no in app.files:
            raise DuplicateError(f"file {file_no}")
        try:
            mode = CommMode(command[2])
        except ValueError:
            raise ParameterError("communication settings") from None
        return file_no, mode

    def _add_file(self, file_no: int, file: CardFile, command: bytes) -> _Reply:
        if self.memory.used_bytes() + _file_footprint(file) > CAPACITY:
            raise OutOfEeprom("no room for the file")
        self._accept_plain(command)
        self._app().files[file_no] = file
        self._changed()
        return _Reply()

    def _create_data_file(self, command: bytes) -> _Reply:
        file_no, mode = self._create_file(command, 8)
        size = unpack_u24(command[5:8])
        if size == 0:
            raise ParameterError("empty file")
        settings = DataFileSettings(
            mode,
            _access(command[3:5]),
            size,
            backup=command[0] == Command.CREATE_BACKUP_DATA_FILE,
        )
        return self._add_file(file_no, DataFile(settings, bytes(size)), command)

    def _create_value_file(self, command: bytes) -> _Reply:
        file_no, mode = self._create_file(command, 18)
        lower, upper, value = (unpack_i32(command[i : i + 4]) for i in (5, 9, 13))
        flags = command[17]
        if flags & ~0x03:
            raise ParameterError("limited credit flags")
        if lower >= upper or not lower <= value <= upper:
            raise BoundaryError("limits")
        settings = ValueFileSettings(
            mode, _access(command[3:5]), lower, upper, 0, bool(flags & 1), bool(flags & 2)
        )
        return self._add_file(file_no, ValueFile(settings, value), command)

    def _create_cyclic_record_file(self, command: bytes) -> _Reply:
        file_no, mode = self._create_file(command, 11)
        record_size, max_records = unpack_u24(command[5:8]), unpack_u24(command[8:11])
        if record_size == 0 or max_records < 2:
            raise ParameterError("a cyclic file has records of at least 1 byte, at least 2")
        settings = RecordFileSettings(mode, _access(command[3:5]), record_size, max_records)
        return self._add_file(file_no, RecordFile(settings, []), command)

    def _get_file_ids(self, command: bytes) -> _Reply:
        self._require_length(command, 1)
        app = self._in_application()
        self._require_directory_access()
        self._accept_plain(command)
        return _Reply(bytes(sorted(app.files)))

    def _get_file_settings(self, command: bytes) -> _Reply:
        self._require_length(command, 2)
        file = self._file(command[1])
        self._require_directory_access()
        self._accept_plain(command)
        settings = file.settings
        if isinstance(file, RecordFile):
            settings = replace(file.settings, current_records=len(file.records))
        return _Reply(settings.pack())

    def _read_data(self, command: bytes) -> _Reply:
        self._require_length(command, 8)
        file = self._file(command[1])
        if not isinstance(file, DataFile):
            raise ParameterError("not a data file")
        offset, length = unpack_u24(command[2:5]), unpack_u24(command[5:8])
        size = file.settings.size
        if length == 0:
            length = size - offset
        if offset >= size or length <= 0 or offset + length > size:
            raise BoundaryError("read past the end")
        mode = self._mode(file, Operation.READ)
        self._accept_plain(command)
        return self._reply(file.data[offset : offset + length], mode)

    def _write_data(self, command: bytes) -> _Reply:
        file = self._file(command[1])
        assert isinstance(file, DataFile)  # noqa: S101 - _expected_length checked the type
        offset, length = unpack_u24(command[2:5]), unpack_u24(command[5:8])
        data = self._accept(command, 8, length, self._mode(file, Operation.WRITE))
        if file.settings.backup:
            staged = self._tx.data.setdefault(command[1], bytearray(file.data))
            staged[offset : offset + length] = data
        else:
            file.data = file.data[:offset] + data + file.data[offset + length :]
            self._changed()
        return _Reply()

    def _read_records(self, command: bytes) -> _Reply:
        self._require_length(command, 8)
        file = self._file(command[1])
        if not isinstance(file, RecordFile):
            raise ParameterError("not a record file")
        offset, count = unpack_u24(command[2:5]), unpack_u24(command[5:8])
        newest_first = file.records[::-1]
        if offset >= len(newest_first):
            raise BoundaryError("no such record")
        if count == 0:
            count = len(newest_first) - offset
        if offset + count > len(newest_first):
            raise BoundaryError("fewer records than asked for")
        mode = self._mode(file, Operation.READ)
        self._accept_plain(command)
        return self._reply(b"".join(newest_first[offset : offset + count]), mode)

    def _write_record(self, command: bytes) -> _Reply:
        file = self._file(command[1])
        assert isinstance(file, RecordFile)  # noqa: S101 - _expected_length checked the type
        offset, length = unpack_u24(command[2:5]), unpack_u24(command[5:8])
        data = self._accept(command, 8, length, self._mode(file, Operation.WRITE))
        record = self._tx.records.setdefault(command[1], bytearray(file.settings.record_size))
        record[offset : offset + length] = data
        return _Reply()

    def _value_file(self, command: bytes) -> ValueFile:
        if len(command) < 2:
            raise LengthError("no file number")
        file = self._file(command[1])
        if not isinstance(file, ValueFile):
            raise ParameterError("not a value file")
        return file

    def _get_value(self, command: bytes) -> _Reply:
        self._require_length(command, 2)
        file = self._value_file(command)
        settings = file.settings
        if settings.free_get_value and not settings.access.permits(
            Operation.VALUE_ACCESS, self._key_no()
        ):
            mode = CommMode.PLAIN
        else:
            mode = self._mode(file, Operation.VALUE_ACCESS)
        self._accept_plain(command)
        return self._reply(pack_i32(file.value), mode)

    def _change_value(self, command: bytes) -> _Reply:
        file = self._value_file(command)
        ins, file_no = command[0], command[1]
        operation = {
            Command.CREDIT: Operation.CREDIT,
            Command.DEBIT: Operation.VALUE_ACCESS,
            Command.LIMITED_CREDIT: Operation.WRITE,
        }[Command(ins)]
        amount = unpack_i32(self._accept(command, 2, 4, self._mode(file, operation)))
        if amount < 0:
            raise ParameterError("negative amount")
        settings = file.settings
        current = self._tx.values.get(file_no, file.value)
        if ins == Command.DEBIT:
            new = current - amount
            if new < settings.lower:
                raise BoundaryError("below the lower limit")
            self._tx.debited[file_no] = self._tx.debited.get(file_no, 0) + amount
        else:
            new = current + amount
            if ins == Command.LIMITED_CREDIT:
                if not settings.limited_credit_enabled:
                    raise PermissionDenied("limited credit is disabled")
                used = self._tx.limited.get(file_no, 0) + amount
                if used > settings.limited_credit_value:
                    raise BoundaryError("more than the last debits")
                self._tx.limited[file_no] = used
            if new > settings.upper or not fits_i32(new):
                raise BoundaryError("above the upper limit")
        self._tx.values[file_no] = new
        return _Reply()

    def _commit_transaction(self, command: bytes) -> _Reply:
        self._require_length(command, 1)
        self._accept_plain(command)
        tx, self._tx = self._tx, _Transaction()
        if not tx:
            return _Reply()
        files = self._app().files
        for file_no, data in tx.data.items():
            data_file = files[file_no]
            assert isinstance(data_file, DataFile)  # noqa: S101 - staged only for data files
            data_file.data = bytes(data)
        for file_no, value in tx.values.items():
            value_file = files[file_no]
            assert isinstance(value_file, ValueFile)  # noqa: S101 - staged only for values
            value_file.value = value
            if file_no in tx.debited:
                limit = tx.debited[file_no]
            elif file_no in tx.limited:
                limit = 0
            else:
                limit = value_file.settings.limited_credit_value
            value_file.settings = replace(value_file.settings, limited_credit_value=limit)
        for file_no, record in tx.records.items():
            record_file = files[file_no]
            assert isinstance(record_file, RecordFile)  # noqa: S101 - staged only for records
            record_file.records.append(bytes(record))
            # One record slot is the chip's own write buffer: a cyclic file keeps max - 1.
            del record_file.records[: -(record_file.settings.max_records - 1)]
        self._changed()
        return _Reply()

    def _abort_transaction(self, command: bytes) -> _Reply:
        self._require_length(command, 1)
        self._accept_plain(command)
        self._tx = _Transaction()
        return _Reply()


def _access(data: bytes) -> AccessRights:
    return AccessRights.unpack(data)


VirtualCard._handlers = {
    Command.GET_VERSION: VirtualCard._get_version,
    Command.GET_APPLICATION_IDS: VirtualCard._get_application_ids,
    Command.SELECT_APPLICATION: VirtualCard._select_application,
    Command.AUTHENTICATE_AES: VirtualCard._authenticate,
    Command.GET_CARD_UID: VirtualCard._get_card_uid,
    Command.CREATE_APPLICATION: VirtualCard._create_application,
    Command.DELETE_APPLICATION: VirtualCard._delete_application,
    Command.FORMAT_PICC: VirtualCard._format_picc,
    Command.GET_KEY_SETTINGS: VirtualCard._get_key_settings,
    Command.GET_KEY_VERSION: VirtualCard._get_key_version,
    Command.CHANGE_KEY: VirtualCard._change_key,
    Command.CREATE_STD_DATA_FILE: VirtualCard._create_data_file,
    Command.CREATE_BACKUP_DATA_FILE: VirtualCard._create_data_file,
    Command.CREATE_VALUE_FILE: VirtualCard._create_value_file,
    Command.CREATE_CYCLIC_RECORD_FILE: VirtualCard._create_cyclic_record_file,
    Command.GET_FILE_IDS: VirtualCard._get_file_ids,
    Command.GET_FILE_SETTINGS: VirtualCard._get_file_settings,
    Command.READ_DATA: VirtualCard._read_data,
    Command.WRITE_DATA: VirtualCard._write_data,
    Command.READ_RECORDS: VirtualCard._read_records,
    Command.WRITE_RECORD: VirtualCard._write_record,
    Command.GET_VALUE: VirtualCard._get_value,
    Command.CREDIT: VirtualCard._change_value,
    Command.DEBIT: VirtualCard._change_value,
    Command.LIMITED_CREDIT: VirtualCard._change_value,
    Command.COMMIT_TRANSACTION: VirtualCard._commit_transaction,
    Command.ABORT_TRANSACTION: VirtualCard._abort_transaction,
}
