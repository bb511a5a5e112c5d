"""The card side of DESFire EV1 (AES): the state machine that answers APDUs.

`CardMemory` (`memory`) is what the chip keeps without power (committed state only).
`VirtualCard` adds what lives only while the card is in the field (`session`: the selected
application, the AES session, keys; `files`: the file system and its transaction) and answers
APDUs: the ISO 7816-4 wrapping, native commands and frame chains are here. `process` never
raises: whatever comes in, a status word goes out.

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

from collections.abc import Callable
from typing import ClassVar

from cards.connection import (
    ApplicationNotFound,
    CountError,
    DesfireError,
    DuplicateError,
    IllegalCommand,
    LengthError,
    OutOfEeprom,
    ParameterError,
    PermissionDenied,
)
from cards.desfire import (
    APP_CRYPTO_AES,
    CLA,
    KS_FREE_CREATE_DELETE,
    MAX_APPLICATIONS,
    MAX_KEYS,
    PICC_AID,
    SW1_DESFIRE,
    CardVersion,
    Command,
    Status,
    pack_aid,
    unpack_aid,
)
from cards.emulator.files import FileCommands
from cards.emulator.memory import APPLICATION_OVERHEAD, CAPACITY, Application, Key
from cards.emulator.session import PendingCommand, Reply, Transaction

# GetVersion of a real EV1 8K (reference §1): NXP, HW 1.0, SW 1.4, 8192 bytes, ISO 14443-2/3/4.
HARDWARE_VERSION = bytes.fromhex("04 01 01 01 00 1A 05")
SOFTWARE_VERSION = bytes.fromhex("04 01 01 01 04 1A 05")
PRODUCTION_BATCH = bytes.fromhex("BA 45 19 E3 20")
PRODUCTION_WEEK = 0x49  # BCD
PRODUCTION_YEAR = 0x13  # BCD

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"
SW_FUNCTION_NOT_SUPPORTED = b"\x6a\x81"
SW_NO_PRECISE_DIAGNOSIS = b"\x6f\x00"
PCSC_CLA = 0xFF
PCSC_GET_DATA = 0xCA

_Handler = Callable[["VirtualCard", bytes], Reply]


class VirtualCard(FileCommands):
    """A DESFire EV1 card with AES keys over a `CardMemory`: ISO-wrapped APDU in, answer out."""

    _handlers: ClassVar[dict[int, _Handler]] = {}

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
                self._incoming = PendingCommand(bytearray(command), expected)
                return Status.ADDITIONAL_FRAME, b""
            return self._answer(handler(self, command))
        except DesfireError as error:
            return self._error(error.status)

    def _error(self, status: int) -> tuple[int, bytes]:
        self._channel = None
        self._auth = None
        self._incoming = None
        self._outgoing = []
        self._tx = Transaction()
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

    # -- card level commands ------------------------------------------------------------------

    def _get_version(self, command: bytes) -> Reply:
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
        return Reply(version.pack(), first_frames=(7, 7))

    def _get_application_ids(self, command: bytes) -> Reply:
        self._require_length(command, 1)
        if self._aid != PICC_AID:
            raise PermissionDenied("only at PICC level")
        self._require_directory_access()
        self._accept_plain(command)
        data = b"".join(pack_aid(aid) for aid in self.memory.applications)
        return Reply(data, frame_size=19 * 3)

    def _select_application(self, command: bytes) -> Reply:
        self._require_length(command, 4)
        aid = unpack_aid(command[1:4])
        self._channel = None
        self._tx = Transaction()
        self._aid = PICC_AID
        if aid != PICC_AID and aid not in self.memory.applications:
            raise ApplicationNotFound(f"{aid:06X}")
        self._aid = aid
        return Reply(rx=None)

    def _create_application(self, command: bytes) -> Reply:
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
        return Reply()

    def _delete_application(self, command: bytes) -> Reply:
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
            self._tx = Transaction()
            return Reply(end_session=True)
        return Reply()

    def _format_picc(self, command: bytes) -> Reply:
        self._require_length(command, 1)
        if self._aid != PICC_AID:
            raise PermissionDenied("only at PICC level")
        self._require_master()
        self._accept_plain(command)
        self.memory.applications.clear()
        self._tx = Transaction()
        self._changed()
        return Reply(end_session=True)


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
