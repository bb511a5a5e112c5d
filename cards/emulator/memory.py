"""The virtual card's non-volatile memory: applications, keys and files, and their JSON image.

`CardMemory` is what the chip keeps without power (committed state only); the emulator saves it
to a file between taps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from cards.crypto import KEY_SIZE
from cards.desfire import (
    DEFAULT_KEY_SETTINGS,
    DataFileSettings,
    RecordFileSettings,
    ValueFileSettings,
    unpack_file_settings,
)

# [inferred] user memory of an 8 KB EV1, counted in 32-byte blocks as the chip allocates it.
CAPACITY = 7936
ALLOCATION_UNIT = 32
APPLICATION_OVERHEAD = 64


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
            APPLICATION_OVERHEAD + sum(file_footprint(f) for f in app.files.values())
            for app in self.applications.values()
        )


def _units(size: int) -> int:
    return -(-size // ALLOCATION_UNIT) * ALLOCATION_UNIT


def file_footprint(file: CardFile) -> int:
    """The EEPROM a file takes, in whole allocation units (twice its size for a backup file)."""
    settings = file.settings
    if isinstance(settings, DataFileSettings):
        return _units(settings.size) * (2 if settings.backup else 1)
    if isinstance(settings, ValueFileSettings):
        return ALLOCATION_UNIT
    return _units(settings.record_size * settings.max_records)
