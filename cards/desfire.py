"""DESFire EV1 vocabulary: command and status codes, access rights, file settings, ISO wrapping.

Everything multi-byte is little-endian on the wire (AIDs too). Value classes here are shared
by the client and the virtual card, so both read and write the same bytes.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Self

from cards.connection import LengthError, ParameterError, ProtocolError

CLA = 0x90
SW1_DESFIRE = 0x91
# A native frame carries at most 60 bytes: the command or status byte and 59 more.
MAX_FRAME_DATA = 59
MAX_APPLICATIONS = 28
MAX_FILE_NO = 31
MAX_KEYS = 14
PICC_AID = 0x000000
AID_SIZE = 3
UID_SIZE = 7


class Command(enum.IntEnum):
    """Native command codes (the INS byte of the ISO-wrapped APDU)."""

    AUTHENTICATE_AES = 0xAA
    ADDITIONAL_FRAME = 0xAF
    GET_VERSION = 0x60
    GET_APPLICATION_IDS = 0x6A
    SELECT_APPLICATION = 0x5A
    GET_CARD_UID = 0x51
    CREATE_APPLICATION = 0xCA
    DELETE_APPLICATION = 0xDA
    CREATE_STD_DATA_FILE = 0xCD
    CREATE_BACKUP_DATA_FILE = 0xCB
    CREATE_VALUE_FILE = 0xCC
    CREATE_CYCLIC_RECORD_FILE = 0xC0
    GET_FILE_IDS = 0x6F
    GET_FILE_SETTINGS = 0xF5
    GET_VALUE = 0x6C
    CREDIT = 0x0C
    DEBIT = 0xDC
    LIMITED_CREDIT = 0x1C
    READ_DATA = 0xBD
    WRITE_DATA = 0x3D
    READ_RECORDS = 0xBB
    WRITE_RECORD = 0x3B
    COMMIT_TRANSACTION = 0xC7
    ABORT_TRANSACTION = 0xA7
    CHANGE_KEY = 0xC4
    GET_KEY_SETTINGS = 0x45
    GET_KEY_VERSION = 0x64
    FORMAT_PICC = 0xFC


class Status(enum.IntEnum):
    """DESFire status bytes (SW2 after SW1 = 0x91)."""

    OPERATION_OK = 0x00
    NO_CHANGES = 0x0C
    OUT_OF_EEPROM_ERROR = 0x0E
    ILLEGAL_COMMAND_CODE = 0x1C
    INTEGRITY_ERROR = 0x1E
    NO_SUCH_KEY = 0x40
    LENGTH_ERROR = 0x7E
    PERMISSION_DENIED = 0x9D
    PARAMETER_ERROR = 0x9E
    APPLICATION_NOT_FOUND = 0xA0
    APPL_INTEGRITY_ERROR = 0xA1
    AUTHENTICATION_ERROR = 0xAE
    ADDITIONAL_FRAME = 0xAF
    BOUNDARY_ERROR = 0xBE
    PICC_INTEGRITY_ERROR = 0xC1
    COMMAND_ABORTED = 0xCA
    PICC_DISABLED_ERROR = 0xCD
    COUNT_ERROR = 0xCE
    DUPLICATE_ERROR = 0xDE
    EEPROM_ERROR = 0xEE
    FILE_NOT_FOUND = 0xF0
    FILE_INTEGRITY_ERROR = 0xF1


class CommMode(enum.IntEnum):
    """A file's communication settings."""

    PLAIN = 0x00
    MACED = 0x01
    ENCIPHERED = 0x03


class FileType(enum.IntEnum):
    STANDARD_DATA = 0x00
    BACKUP_DATA = 0x01
    VALUE = 0x02
    LINEAR_RECORD = 0x03
    CYCLIC_RECORD = 0x04


class Operation(enum.Enum):
    """What a command does to a file; decides which access rights grant it."""

    READ = "read"  # ReadData, ReadRecords
    WRITE = "write"  # WriteData, WriteRecord, LimitedCredit
    CREDIT = "credit"  # Credit needs read&write
    VALUE_ACCESS = "value"  # GetValue and Debit: read, write or read&write


FREE = 0xE  # access right nibble: no key needed
DENY = 0xF  # access right nibble: never

# Application key settings (KeySett1).
KS_MASTER_KEY_CHANGEABLE = 0x01
KS_FREE_DIRECTORY = 0x02  # GetFileIDs / GetFileSettings / GetKeySettings without the master key
KS_FREE_CREATE_DELETE = 0x04  # create files (or, at PICC level, applications) without it
KS_CONFIGURATION_CHANGEABLE = 0x08
KS_CHANGE_KEY_MASTER = 0x0  # high nibble: who may change the other keys
KS_CHANGE_KEY_SAME = 0xE
KS_CHANGE_KEY_FROZEN = 0xF
DEFAULT_KEY_SETTINGS = 0x0F
APP_CRYPTO_AES = 0x80  # KeySett2 bits 6-7
APP_ISO_FILE_IDS = 0x20  # KeySett2 bit 5
PICC_KEY_AES = 0x80  # ChangeKey at PICC level: the new key's type in the key number byte

LIMITED_CREDIT_ENABLED = 0x01
FREE_GET_VALUE = 0x02


def pack_aid(aid: int) -> bytes:
    """An application id as its 3 wire bytes, least significant first."""
    if not 0 <= aid <= 0xFFFFFF:
        raise ValueError(f"AID out of range: {aid:#x}")
    return aid.to_bytes(AID_SIZE, "little")


def unpack_aid(data: bytes) -> int:
    return int.from_bytes(data[:AID_SIZE], "little")


def pack_u24(value: int) -> bytes:
    if not 0 <= value <= 0xFFFFFF:
        raise ValueError(f"does not fit 3 bytes: {value}")
    return value.to_bytes(3, "little")


def unpack_u24(data: bytes) -> int:
    return int.from_bytes(data[:3], "little")


def pack_i32(value: int) -> bytes:
    return struct.pack("<i", value)


def unpack_i32(data: bytes) -> int:
    value: int = struct.unpack("<i", data[:4])[0]
    return value


def fits_i32(value: int) -> bool:
    return -(2**31) <= value < 2**31


@dataclass(frozen=True)
class AccessRights:
    """Key numbers (0-13), FREE or DENY for each kind of access to a file."""

    read: int = FREE
    write: int = FREE
    read_write: int = FREE
    change: int = FREE

    def __post_init__(self) -> None:
        for nibble in (self.read, self.write, self.read_write, self.change):
            if not 0 <= nibble <= 0xF:
                raise ValueError(f"access right is a nibble, not {nibble}")

    def pack(self) -> bytes:
        word = self.read << 12 | self.write << 8 | self.read_write << 4 | self.change
        return struct.pack("<H", word)

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        if len(data) < 2:
            raise ValueError("access rights are 2 bytes")
        (word,) = struct.unpack("<H", data[:2])
        return cls(word >> 12 & 0xF, word >> 8 & 0xF, word >> 4 & 0xF, word & 0xF)

    def granting(self, operation: Operation) -> tuple[int, ...]:
        """The rights (key numbers, FREE or DENY) any one of which allows `operation`."""
        if operation is Operation.READ:
            return (self.read, self.read_write)
        if operation is Operation.WRITE:
            return (self.write, self.read_write)
        if operation is Operation.CREDIT:
            return (self.read_write,)
        return (self.read, self.write, self.read_write)

    def permits(self, operation: Operation, key_no: int | None) -> bool:
        """Whether `operation` is allowed with `key_no` authenticated (None: not authenticated)."""
        return any(
            right == FREE or (right < FREE and right == key_no)
            for right in self.granting(operation)
        )


def comm_mode_for(
    file_mode: CommMode, access: AccessRights, operation: Operation, key_no: int | None
) -> CommMode:
    """The communication mode a file operation uses on the wire.

    The file's mode applies when the authenticated key is one of the keys granting the
    operation; access granted only through FREE is plain (libfreefare's rule). The client and
    the virtual card both decide with this function.
    """
    if key_no is not None and key_no < FREE and key_no in access.granting(operation):
        return file_mode
    return CommMode.PLAIN


def _comm_mode(byte: int) -> CommMode:
    try:
        return CommMode(byte)
    except ValueError:
        raise ValueError(f"invalid communication settings {byte:#04x}") from None


@dataclass(frozen=True)
class DataFileSettings:
    """A standard or backup data file."""

    comm_mode: CommMode
    access: AccessRights
    size: int
    backup: bool = False

    @property
    def file_type(self) -> FileType:
        return FileType.BACKUP_DATA if self.backup else FileType.STANDARD_DATA

    def pack(self) -> bytes:
        """The GetFileSettings answer."""
        return bytes([self.file_type, self.comm_mode]) + self.access.pack() + pack_u24(self.size)

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        if len(data) != 7 or data[0] not in (FileType.STANDARD_DATA, FileType.BACKUP_DATA):
            raise ValueError("not data file settings")
        return cls(
            _comm_mode(data[1]),
            AccessRights.unpack(data[2:4]),
            unpack_u24(data[4:7]),
            backup=data[0] == FileType.BACKUP_DATA,
        )

    def create_params(self, file_no: int) -> bytes:
        """CreateStdDataFile / CreateBackupDataFile parameters."""
        return bytes([file_no, self.comm_mode]) + self.access.pack() + pack_u24(self.size)


@dataclass(frozen=True)
class ValueFileSettings:
    """A value file: signed 32-bit value between limits; limited credit as the card reports it."""

    comm_mode: CommMode
    access: AccessRights
    lower: int
    upper: int
    limited_credit_value: int = 0
    limited_credit_enabled: bool = False
    free_get_value: bool = False

    @property
    def file_type(self) -> FileType:
        return FileType.VALUE

    @property
    def flags(self) -> int:
        return (LIMITED_CREDIT_ENABLED if self.limited_credit_enabled else 0) | (
            FREE_GET_VALUE if self.free_get_value else 0
        )

    def pack(self) -> bytes:
        return (
            bytes([self.file_type, self.comm_mode])
            + self.access.pack()
            + struct.pack("<iiiB", self.lower, self.upper, self.limited_credit_value, self.flags)
        )

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        if len(data) != 17 or data[0] != FileType.VALUE:
            raise ValueError("not value file settings")
        lower, upper, limited, flags = struct.unpack("<iiiB", data[4:17])
        return cls(
            _comm_mode(data[1]),
            AccessRights.unpack(data[2:4]),
            lower,
            upper,
            limited,
            bool(flags & LIMITED_CREDIT_ENABLED),
            bool(flags & FREE_GET_VALUE),
        )

    def create_params(self, file_no: int, value: int) -> bytes:
        """CreateValueFile parameters, with the initial value."""
        return (
            bytes([file_no, self.comm_mode])
            + self.access.pack()
            + struct.pack("<iiiB", self.lower, self.upper, value, self.flags)
        )


@dataclass(frozen=True)
class RecordFileSettings:
    """A record file (this project uses cyclic ones); `current_records` as the card reports it."""

    comm_mode: CommMode
    access: AccessRights
    record_size: int
    max_records: int
    current_records: int = 0
    cyclic: bool = True

    @property
    def file_type(self) -> FileType:
        return FileType.CYCLIC_RECORD if self.cyclic else FileType.LINEAR_RECORD

    def pack(self) -> bytes:
        return (
            bytes([self.file_type, self.comm_mode])
            + self.access.pack()
            + pack_u24(self.record_size)
            + pack_u24(self.max_records)
            + pack_u24(self.current_records)
        )

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        if len(data) != 13 or data[0] not in (FileType.LINEAR_RECORD, FileType.CYCLIC_RECORD):
            raise ValueError("not record file settings")
        return cls(
            _comm_mode(data[1]),
            AccessRights.unpack(data[2:4]),
            unpack_u24(data[4:7]),
            unpack_u24(data[7:10]),
            unpack_u24(data[10:13]),
            cyclic=data[0] == FileType.CYCLIC_RECORD,
        )

    def create_params(self, file_no: int) -> bytes:
        return (
            bytes([file_no, self.comm_mode])
            + self.access.pack()
            + pack_u24(self.record_size)
            + pack_u24(self.max_records)
        )


FileSettings = DataFileSettings | ValueFileSettings | RecordFileSettings


def unpack_file_settings(data: bytes) -> FileSettings:
    """Parse a GetFileSettings answer into the settings class for its file type."""
    if not data:
        raise ValueError("empty file settings")
    if data[0] in (FileType.STANDARD_DATA, FileType.BACKUP_DATA):
        return DataFileSettings.unpack(data)
    if data[0] == FileType.VALUE:
        return ValueFileSettings.unpack(data)
    if data[0] in (FileType.LINEAR_RECORD, FileType.CYCLIC_RECORD):
        return RecordFileSettings.unpack(data)
    raise ValueError(f"unknown file type {data[0]:#04x}")


@dataclass(frozen=True)
class KeySettings:
    """GetKeySettings: the key settings byte and KeySett2 (key count and crypto method)."""

    settings: int
    max_keys: int

    @property
    def key_count(self) -> int:
        return self.max_keys & 0x0F

    @property
    def change_key_access(self) -> int:
        return self.settings >> 4

    def pack(self) -> bytes:
        return bytes([self.settings, self.max_keys])

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        if len(data) != 2:
            raise ValueError("key settings are 2 bytes")
        return cls(data[0], data[1])


@dataclass(frozen=True)
class CardVersion:
    """GetVersion: hardware and software version frames, then UID and production data."""

    hardware: bytes
    software: bytes
    uid: bytes
    batch: bytes
    week: int  # BCD, as the card sends it
    year: int  # BCD

    SIZE = 28

    def pack(self) -> bytes:
        return self.hardware + self.software + self.uid + self.batch + bytes([self.week, self.year])

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        if len(data) != cls.SIZE:
            raise ValueError(f"GetVersion answers {cls.SIZE} bytes, not {len(data)}")
        return cls(data[0:7], data[7:14], data[14:21], data[21:26], data[26], data[27])

    @property
    def storage_size(self) -> int:
        """Bytes of EEPROM the storage-size byte announces (0x1A = 8192)."""
        return 1 << (self.hardware[5] >> 1)


def wrap(ins: int, data: bytes = b"") -> bytes:
    """A native command in ISO 7816-4: 90 INS 00 00 [Lc data] 00."""
    if len(data) > 0xFF:
        raise LengthError(f"{len(data)} bytes do not fit one short APDU")
    if data:
        return bytes([CLA, ins, 0, 0, len(data)]) + data + b"\x00"
    return bytes([CLA, ins, 0, 0, 0])


def unwrap_response(response: bytes) -> tuple[bytes, int, int]:
    """Split a response APDU into data, SW1, SW2."""
    if len(response) < 2:
        raise ProtocolError(f"response of {len(response)} bytes has no status word")
    return response[:-2], response[-2], response[-1]


def split_frames(data: bytes, size: int = MAX_FRAME_DATA) -> list[bytes]:
    """`data` cut into frames of at most `size` bytes (one empty frame for no data)."""
    if size <= 0:
        raise ParameterError("frame size must be positive")
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]
