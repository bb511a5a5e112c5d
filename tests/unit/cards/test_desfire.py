"""Protocol vocabulary: value classes round-trip, wrapping, status codes as typed errors."""

from __future__ import annotations

import pytest

from cards.connection import (
    BoundaryError,
    DesfireError,
    IntegrityError,
    PermissionDenied,
    desfire_error,
    error_classes,
)
from cards.desfire import (
    DENY,
    FREE,
    AccessRights,
    CardVersion,
    CommMode,
    DataFileSettings,
    KeySettings,
    Operation,
    RecordFileSettings,
    Status,
    ValueFileSettings,
    comm_mode_for,
    pack_aid,
    split_frames,
    unpack_aid,
    unpack_file_settings,
    wrap,
)


def test_access_rights_pack_as_in_the_trace() -> None:
    rights = AccessRights(read=0, write=0, read_write=1, change=1)
    assert rights.pack() == bytes.fromhex("1100")
    assert AccessRights.unpack(bytes.fromhex("1100")) == rights


@pytest.mark.parametrize(
    "settings",
    [
        DataFileSettings(CommMode.PLAIN, AccessRights(0, 0, 1, 1), 0x50),
        DataFileSettings(CommMode.ENCIPHERED, AccessRights(1, 2, 3, 0), 32, backup=True),
        ValueFileSettings(CommMode.MACED, AccessRights(1, 2, 3, 0), -987654321, -1000, 97, True),
        ValueFileSettings(CommMode.PLAIN, AccessRights(), 0, 10, free_get_value=True),
        RecordFileSettings(CommMode.ENCIPHERED, AccessRights(1, FREE, DENY, 0), 16, 10, 9),
    ],
)
def test_file_settings_round_trip_through_their_wire_form(
    settings: DataFileSettings | ValueFileSettings | RecordFileSettings,
) -> None:
    assert unpack_file_settings(settings.pack()) == settings


def test_trace_file_settings_unpack_to_a_plain_standard_file_of_80_bytes() -> None:
    settings = unpack_file_settings(bytes.fromhex("00 00 11 00 50 00 00"))
    assert settings == DataFileSettings(CommMode.PLAIN, AccessRights(0, 0, 1, 1), 80)


def test_invalid_communication_settings_byte_is_refused() -> None:
    with pytest.raises(ValueError, match="communication"):
        unpack_file_settings(bytes.fromhex("00 02 11 00 50 00 00"))


def test_key_settings_and_version_round_trip() -> None:
    assert KeySettings.unpack(bytes.fromhex("0F 82")).key_count == 2
    version = CardVersion.unpack(
        bytes.fromhex("04010101001A05 04010101041A05 04063F72633480 BA4519E320 49 13")
    )
    assert version.uid == bytes.fromhex("04063F72633480")
    assert version.storage_size == 8192
    assert CardVersion.unpack(version.pack()) == version


def test_aids_are_little_endian_on_the_wire() -> None:
    assert pack_aid(0x00AE16) == bytes.fromhex("16 AE 00")
    assert unpack_aid(bytes.fromhex("16 AE 00")) == 0x00AE16


def test_wrapping_matches_the_reference_forms() -> None:
    assert wrap(0x60) == bytes.fromhex("90 60 00 00 00")
    assert wrap(0x5A, pack_aid(0x00AE16)) == bytes.fromhex("90 5A 00 00 03 16 AE 00 00")
    assert wrap(0xAA, b"\x00") == bytes.fromhex("90 AA 00 00 01 00 00")


def test_frames_split_at_59_bytes() -> None:
    assert [len(f) for f in split_frames(bytes(130))] == [59, 59, 12]
    assert split_frames(b"") == [b""]


def test_file_mode_applies_only_when_a_granting_key_is_authenticated() -> None:
    rights = AccessRights(read=1, write=2, read_write=3, change=0)
    assert comm_mode_for(CommMode.ENCIPHERED, rights, Operation.READ, 1) == CommMode.ENCIPHERED
    assert comm_mode_for(CommMode.ENCIPHERED, rights, Operation.READ, 2) == CommMode.PLAIN
    assert comm_mode_for(CommMode.MACED, rights, Operation.WRITE, 3) == CommMode.MACED
    assert comm_mode_for(CommMode.MACED, rights, Operation.WRITE, None) == CommMode.PLAIN
    free = AccessRights(read=FREE, write=DENY, read_write=DENY, change=DENY)
    assert free.permits(Operation.READ, None)
    assert not free.permits(Operation.WRITE, 14)


def test_deny_is_never_granted_even_to_key_fifteen_lookalikes() -> None:
    rights = AccessRights(DENY, DENY, DENY, DENY)
    assert not any(rights.permits(op, key) for op in Operation for key in [None, *range(16)])


def test_every_error_status_has_its_own_error_class_named_like_the_status() -> None:
    classes = error_classes()
    for status in Status:
        if status in (Status.OPERATION_OK, Status.ADDITIONAL_FRAME, Status.NO_CHANGES):
            continue
        assert status == classes[status].STATUS
        assert classes[status].NAME.startswith(status.name.split("_")[0])
    assert isinstance(desfire_error(0x9D), PermissionDenied)
    assert isinstance(desfire_error(0xBE), BoundaryError)
    assert isinstance(desfire_error(0x1E), IntegrityError)
    unknown = desfire_error(0x42)
    assert type(unknown) is DesfireError
    assert unknown.status == 0x42
