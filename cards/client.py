"""A DESFire EV1 client over any `CardConnection`: what a validator or issuing station runs.

Secure messaging follows the reference: after AES authentication every command and every OK
response moves a running IV (CMAC or CBC), the response MAC is always verified, and the caller
names the communication mode of each file operation (`comm_mode_for` computes it from the file's
settings), so no command costs a hidden GetFileSettings round trip.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

from cards.connection import (
    AuthenticationError,
    CardConnection,
    CardError,
    CardNotAuthentic,
    DesfireError,
    IsoStatusError,
    ProtocolError,
    ResponseIntegrityError,
    desfire_error,
)
from cards.crypto import (
    BLOCK,
    KEY_SIZE,
    MAC_SIZE,
    ZERO_IV,
    SecureChannel,
    aes_cbc_decrypt,
    aes_cbc_encrypt,
    crc32,
    pad_zero,
    rotate_left,
    session_key,
    strip_crc_padding,
    xor,
)
from cards.desfire import (
    AID_SIZE,
    APP_CRYPTO_AES,
    PICC_AID,
    PICC_KEY_AES,
    SW1_DESFIRE,
    UID_SIZE,
    CardVersion,
    Command,
    CommMode,
    DataFileSettings,
    FileSettings,
    KeySettings,
    RecordFileSettings,
    Status,
    ValueFileSettings,
    pack_aid,
    pack_i32,
    pack_u24,
    split_frames,
    unpack_aid,
    unpack_file_settings,
    unpack_i32,
    wrap,
)

Rng = Callable[[int], bytes]
_STATUS_ONLY = 0xFF  # a response that carries no MAC even inside a session


class DesfireClient:
    """The command subset of a DESFire EV1 card with AES keys, one APDU exchange at a time."""

    def __init__(self, conn: CardConnection, rng: Rng = os.urandom) -> None:
        self._conn = conn
        self._rng = rng
        self._channel: SecureChannel | None = None
        self._aid = PICC_AID
        self.apdus = 0  # APDUs sent so far, additional frames included

    @property
    def authenticated_key(self) -> int | None:
        """The key number of the current session, or None when not authenticated."""
        return None if self._channel is None else self._channel.key_no

    @property
    def selected_application(self) -> int:
        return self._aid

    # -- transport --------------------------------------------------------------------------

    def _transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.apdus += 1
        try:
            response = self._conn.transmit(apdu)
        except CardError:
            self._channel = None
            raise
        if len(response) < 2:
            self._channel = None
            raise ProtocolError(f"response of {len(response)} bytes has no status word")
        sw1, sw2 = response[-2], response[-1]
        if sw1 != SW1_DESFIRE:
            self._channel = None
            raise IsoStatusError(sw1 << 8 | sw2)
        return response[:-2], sw2

    def _fail(self, status: int) -> DesfireError:
        self._channel = None
        return desfire_error(status)

    def _exchange(self, native: bytes) -> bytes:
        """Send INS || payload, chaining frames both ways; the data of an OK answer."""
        frames = split_frames(native[1:])
        data, status = self._transmit(wrap(native[0], frames[0]))
        for frame in frames[1:]:
            if status != Status.ADDITIONAL_FRAME:
                raise (
                    self._fail(status)
                    if status != Status.OPERATION_OK
                    else ProtocolError("card answered before the whole command was sent")
                )
            data, status = self._transmit(wrap(Command.ADDITIONAL_FRAME, frame))
        collected = bytearray(data)
        while status == Status.ADDITIONAL_FRAME:
            data, status = self._transmit(wrap(Command.ADDITIONAL_FRAME))
            collected += data
        if status != Status.OPERATION_OK:
            raise self._fail(status)
        return bytes(collected)

    # -- secure messaging -------------------------------------------------------------------

    def _command(
        self,
        ins: int,
        header: bytes = b"",
        data: bytes = b"",
        *,
        tx: CommMode = CommMode.PLAIN,
        rx: int = CommMode.PLAIN,
        length: int | None = None,
        unit: int = 1,
    ) -> bytes:
        """One command with the secure messaging of the current session (none if there is none).

        `tx` protects `data` (the header after INS always travels plain); `rx` says how the
        answer is protected: plain and MACed answers both carry a CMAC once authenticated.
        `length` (or else `unit`) of the answer data locates the CRC of an enciphered answer.
        """
        command = bytes([ins]) + header + data
        channel = self._channel
        if channel is None:
            return self._exchange(command)
        if tx == CommMode.ENCIPHERED:
            wire = bytes([ins]) + header + channel.encipher(command, data)
        else:
            mac = channel.mac(command)
            wire = command + mac if tx == CommMode.MACED else command
        response = self._exchange(wire)
        return self._unprotect(channel, response, rx, length, unit)

    def _unprotect(
        self,
        channel: SecureChannel,
        response: bytes,
        rx: int,
        length: int | None = None,
        unit: int = 1,
    ) -> bytes:
        if rx == _STATUS_ONLY:
            return response
        if rx == CommMode.ENCIPHERED:
            if not response or len(response) % BLOCK:
                raise self._integrity("enciphered answer is not whole blocks")
            trailer = bytes([Status.OPERATION_OK])
            data = strip_crc_padding(channel.decrypt(response), trailer, length=length, unit=unit)
            if data is None:
                raise self._integrity("enciphered answer has a bad CRC")
            return data
        if len(response) < MAC_SIZE:
            raise self._integrity("answer lacks its CMAC")
        data, mac = response[:-MAC_SIZE], response[-MAC_SIZE:]
        if not hmac.compare_digest(channel.mac(data + bytes([Status.OPERATION_OK])), mac):
            raise self._integrity("answer CMAC does not verify")
        return data

    def _integrity(self, message: str) -> ResponseIntegrityError:
        self._channel = None
        return ResponseIntegrityError(message)

    def _require_session(self) -> SecureChannel:
        if self._channel is None:
            raise AuthenticationError("this command needs an authenticated session")
        return self._channel

    # -- card level -------------------------------------------------------------------------

    def get_version(self) -> CardVersion:
        """GetVersion: hardware, software and production data (three frames)."""
        data = self._command(Command.GET_VERSION)
        try:
            return CardVersion.unpack(data)
        except ValueError as error:
            raise ProtocolError(str(error)) from None

    def get_application_ids(self) -> list[int]:
        """GetApplicationIDs at PICC level."""
        data = self._command(Command.GET_APPLICATION_IDS)
        if len(data) % AID_SIZE:
            raise ProtocolError("application id list is not whole AIDs")
        return [unpack_aid(data[i : i + AID_SIZE]) for i in range(0, len(data), AID_SIZE)]

    def select_application(self, aid: int) -> None:
        """SelectApplication (0 = PICC level); ends any session and transaction."""
        # The card drops the session before it answers, so the answer carries no CMAC.
        self._channel = None
        self._aid = PICC_AID
        self._exchange(bytes([Command.SELECT_APPLICATION]) + pack_aid(aid))
        self._aid = aid

    def authenticate(self, key_no: int, key: bytes) -> None:
        """AES three-pass mutual authentication with key `key_no` of the selected application."""
        if len(key) != KEY_SIZE:
            raise ValueError("AES keys are 16 bytes")
        self._channel = None
        encrypted_b, status = self._transmit(wrap(Command.AUTHENTICATE_AES, bytes([key_no])))
        if status != Status.ADDITIONAL_FRAME:
            raise self._fail(status) if status else ProtocolError("authentication skipped a pass")
        if len(encrypted_b) != BLOCK:
            raise ProtocolError("E(RndB) is not one block")
        rnd_b = aes_cbc_decrypt(key, ZERO_IV, encrypted_b)
        rnd_a = self._rng(BLOCK)
        if len(rnd_a) != BLOCK:
            raise ValueError("the random source gave a short RndA")
        token = aes_cbc_encrypt(key, encrypted_b, rnd_a + rotate_left(rnd_b))
        encrypted_a, status = self._transmit(wrap(Command.ADDITIONAL_FRAME, token))
        if status != Status.OPERATION_OK:
            raise self._fail(status)
        if len(encrypted_a) != BLOCK:
            raise ProtocolError("E(RndA') is not one block")
        rotated_a = aes_cbc_decrypt(key, token[-BLOCK:], encrypted_a)
        if not hmac.compare_digest(rotated_a, rotate_left(rnd_a)):
            raise CardNotAuthentic("the card did not return RndA: it does not hold the key")
        self._channel = SecureChannel(session_key(rnd_a, rnd_b), key_no)

    def get_card_uid(self) -> bytes:
        """GetCardUID: the real 7-byte UID, enciphered (needs a session)."""
        self._require_session()
        return self._command(Command.GET_CARD_UID, rx=CommMode.ENCIPHERED, length=UID_SIZE)

    def create_application(self, aid: int, key_settings: int, key_count: int) -> None:
        """CreateApplication with `key_count` AES keys (all zero, version 0)."""
        if not 1 <= key_count <= 14:
            raise ValueError("an application has 1 to 14 keys")
        params = pack_aid(aid) + bytes([key_settings, key_count | APP_CRYPTO_AES])
        self._command(Command.CREATE_APPLICATION, params)

    def delete_application(self, aid: int) -> None:
        """DeleteApplication; deleting the selected one drops back to PICC level."""
        self._command(Command.DELETE_APPLICATION, pack_aid(aid))
        if aid == self._aid:
            self._aid = PICC_AID
            self._channel = None

    def format_picc(self) -> None:
        """FormatPICC: delete every application (PICC master key session needed)."""
        self._command(Command.FORMAT_PICC)
        self._channel = None

    # -- keys -------------------------------------------------------------------------------

    def get_key_settings(self) -> KeySettings:
        data = self._command(Command.GET_KEY_SETTINGS)
        try:
            return KeySettings.unpack(data)
        except ValueError as error:
            raise ProtocolError(str(error)) from None

    def get_key_version(self, key_no: int) -> int:
        data = self._command(Command.GET_KEY_VERSION, bytes([key_no]))
        if len(data) != 1:
            raise ProtocolError("key version is one byte")
        return data[0]

    def change_key(
        self, key_no: int, new_key: bytes, version: int, old_key: bytes | None = None
    ) -> None:
        """ChangeKey. Changing the session's own key ends the session; any other key needs
        `old_key`, because the card receives new XOR old."""
        channel = self._require_session()
        if len(new_key) != KEY_SIZE:
            raise ValueError("AES keys are 16 bytes")
        key_byte = key_no | PICC_KEY_AES if self._aid == PICC_AID else key_no
        header = bytes([Command.CHANGE_KEY, key_byte])
        if key_no == channel.key_no:
            body = new_key + bytes([version])
            cryptogram = channel.encrypt(pad_zero(body + crc32(header + body)))
            self._exchange(header + cryptogram)
            self._channel = None
            return
        if old_key is None or len(old_key) != KEY_SIZE:
            raise ValueError("changing another key needs its current value")
        body = xor(new_key, old_key) + bytes([version])
        plain = body + crc32(header + body) + crc32(new_key)
        cryptogram = channel.encrypt(pad_zero(plain))
        response = self._exchange(header + cryptogram)
        self._unprotect(channel, response, CommMode.MACED)

    # -- application level ------------------------------------------------------------------

    def create_std_data_file(self, file_no: int, settings: DataFileSettings) -> None:
        if settings.backup:
            raise ValueError("these are backup file settings")
        self._command(Command.CREATE_STD_DATA_FILE, settings.create_params(file_no))

    def create_backup_data_file(self, file_no: int, settings: DataFileSettings) -> None:
        if not settings.backup:
            raise ValueError("these are standard data file settings")
        self._command(Command.CREATE_BACKUP_DATA_FILE, settings.create_params(file_no))

    def create_value_file(self, file_no: int, settings: ValueFileSettings, value: int) -> None:
        self._command(Command.CREATE_VALUE_FILE, settings.create_params(file_no, value))

    def create_cyclic_record_file(self, file_no: int, settings: RecordFileSettings) -> None:
        if not settings.cyclic:
            raise ValueError("these are linear record file settings")
        self._command(Command.CREATE_CYCLIC_RECORD_FILE, settings.create_params(file_no))

    def get_file_ids(self) -> list[int]:
        return list(self._command(Command.GET_FILE_IDS))

    def get_file_settings(self, file_no: int) -> FileSettings:
        data = self._command(Command.GET_FILE_SETTINGS, bytes([file_no]))
        try:
            return unpack_file_settings(data)
        except ValueError as error:
            raise ProtocolError(str(error)) from None

    # -- files ------------------------------------------------------------------------------

    def read_data(self, file_no: int, offset: int = 0, length: int = 0, *, mode: CommMode) -> bytes:
        """ReadData; `length` 0 reads to the end of the file. Sees committed contents only.

        An enciphered answer's CRC is found reliably only at a known length, so enciphered
        reads must name the length.
        """
        if mode == CommMode.ENCIPHERED and length == 0:
            raise ValueError("an enciphered read needs an explicit length")
        header = bytes([file_no]) + pack_u24(offset) + pack_u24(length)
        data = self._command(Command.READ_DATA, header, rx=mode, length=length or None)
        if length and len(data) != length:
            raise ProtocolError(f"asked for {length} bytes, got {len(data)}")
        return data

    def write_data(self, file_no: int, offset: int, data: bytes, *, mode: CommMode) -> None:
        """WriteData; on a backup file it waits for CommitTransaction."""
        header = bytes([file_no]) + pack_u24(offset) + pack_u24(len(data))
        self._command(Command.WRITE_DATA, header, data, tx=mode)

    def read_records(
        self,
        file_no: int,
        offset: int = 0,
        count: int = 0,
        *,
        mode: CommMode,
        record_size: int | None = None,
    ) -> bytes:
        """ReadRecords: `count` records (0 = all) from the `offset`-th newest, newest first.

        Enciphered answers need `record_size` to locate their CRC.
        """
        if mode == CommMode.ENCIPHERED and record_size is None:
            raise ValueError("an enciphered record read needs the record size")
        header = bytes([file_no]) + pack_u24(offset) + pack_u24(count)
        size = record_size or 1
        data = self._command(
            Command.READ_RECORDS, header, rx=mode, length=count * size or None, unit=size
        )
        if record_size is not None and (len(data) % size or (count and len(data) != count * size)):
            raise ProtocolError(f"{len(data)} bytes are not the records asked for")
        return data

    def write_record(self, file_no: int, offset: int, data: bytes, *, mode: CommMode) -> None:
        """WriteRecord into this transaction's new record, at `offset` within it."""
        header = bytes([file_no]) + pack_u24(offset) + pack_u24(len(data))
        self._command(Command.WRITE_RECORD, header, data, tx=mode)

    def get_value(self, file_no: int, *, mode: CommMode) -> int:
        """GetValue: the committed value of a value file."""
        data = self._command(Command.GET_VALUE, bytes([file_no]), rx=mode, length=4)
        if len(data) != 4:
            raise ProtocolError("a value is 4 bytes")
        return unpack_i32(data)

    def credit(self, file_no: int, amount: int, *, mode: CommMode) -> None:
        self._value_command(Command.CREDIT, file_no, amount, mode)

    def debit(self, file_no: int, amount: int, *, mode: CommMode) -> None:
        self._value_command(Command.DEBIT, file_no, amount, mode)

    def limited_credit(self, file_no: int, amount: int, *, mode: CommMode) -> None:
        self._value_command(Command.LIMITED_CREDIT, file_no, amount, mode)

    def _value_command(self, ins: Command, file_no: int, amount: int, mode: CommMode) -> None:
        if not 0 <= amount < 2**31:
            raise ValueError("amounts are non-negative 32-bit integers")
        self._command(ins, bytes([file_no]), pack_i32(amount), tx=mode)

    def commit_transaction(self) -> None:
        """CommitTransaction: every staged write of this application becomes visible at once."""
        self._command(Command.COMMIT_TRANSACTION)

    def abort_transaction(self) -> None:
        self._command(Command.ABORT_TRANSACTION)
