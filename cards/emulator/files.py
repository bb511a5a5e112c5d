"""The virtual card's file system: creating files, reading and writing data, records and values,
and the transaction that makes writes to backup, value and record files take effect together.
"""

from __future__ import annotations

from dataclasses import replace

from cards.connection import (
    BoundaryError,
    DuplicateError,
    FileNotFound,
    LengthError,
    OutOfEeprom,
    ParameterError,
    PermissionDenied,
)
from cards.desfire import (
    KS_FREE_CREATE_DELETE,
    MAX_FILE_NO,
    PICC_AID,
    AccessRights,
    Command,
    CommMode,
    DataFileSettings,
    Operation,
    RecordFileSettings,
    ValueFileSettings,
    comm_mode_for,
    fits_i32,
    pack_i32,
    unpack_i32,
    unpack_u24,
)
from cards.emulator.memory import (
    CAPACITY,
    Application,
    CardFile,
    DataFile,
    RecordFile,
    ValueFile,
    file_footprint,
)
from cards.emulator.session import Reply, Session, Transaction


class FileCommands(Session):
    """The file and transaction commands of a card, over the application selected in `Session`."""

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

    def _add_file(self, file_no: int, file: CardFile, command: bytes) -> Reply:
        if self.memory.used_bytes() + file_footprint(file) > CAPACITY:
            raise OutOfEeprom("no room for the file")
        self._accept_plain(command)
        self._app().files[file_no] = file
        self._changed()
        return Reply()

    def _create_data_file(self, command: bytes) -> Reply:
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

    def _create_value_file(self, command: bytes) -> Reply:
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

    def _create_cyclic_record_file(self, command: bytes) -> Reply:
        file_no, mode = self._create_file(command, 11)
        record_size, max_records = unpack_u24(command[5:8]), unpack_u24(command[8:11])
        if record_size == 0 or max_records < 2:
            raise ParameterError("a cyclic file has records of at least 1 byte, at least 2")
        settings = RecordFileSettings(mode, _access(command[3:5]), record_size, max_records)
        return self._add_file(file_no, RecordFile(settings, []), command)

    def _get_file_ids(self, command: bytes) -> Reply:
        self._require_length(command, 1)
        app = self._in_application()
        self._require_directory_access()
        self._accept_plain(command)
        return Reply(bytes(sorted(app.files)))

    def _get_file_settings(self, command: bytes) -> Reply:
        self._require_length(command, 2)
        file = self._file(command[1])
        self._require_directory_access()
        self._accept_plain(command)
        settings = file.settings
        if isinstance(file, RecordFile):
            settings = replace(file.settings, current_records=len(file.records))
        return Reply(settings.pack())

    def _read_data(self, command: bytes) -> Reply:
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

    def _write_data(self, command: bytes) -> Reply:
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
        return Reply()

    def _read_records(self, command: bytes) -> Reply:
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

    def _write_record(self, command: bytes) -> Reply:
        file = self._file(command[1])
        assert isinstance(file, RecordFile)  # noqa: S101 - _expected_length checked the type
        offset, length = unpack_u24(command[2:5]), unpack_u24(command[5:8])
        data = self._accept(command, 8, length, self._mode(file, Operation.WRITE))
        record = self._tx.records.setdefault(command[1], bytearray(file.settings.record_size))
        record[offset : offset + length] = data
        return Reply()

    def _value_file(self, command: bytes) -> ValueFile:
        if len(command) < 2:
            raise LengthError("no file number")
        file = self._file(command[1])
        if not isinstance(file, ValueFile):
            raise ParameterError("not a value file")
        return file

    def _get_value(self, command: bytes) -> Reply:
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

    def _change_value(self, command: bytes) -> Reply:
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
        return Reply()

    def _commit_transaction(self, command: bytes) -> Reply:
        self._require_length(command, 1)
        self._accept_plain(command)
        tx, self._tx = self._tx, Transaction()
        if not tx:
            return Reply()
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
        return Reply()

    def _abort_transaction(self, command: bytes) -> Reply:
        self._require_length(command, 1)
        self._accept_plain(command)
        self._tx = Transaction()
        return Reply()


def _access(data: bytes) -> AccessRights:
    return AccessRights.unpack(data)
