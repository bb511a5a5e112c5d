"""The client against the virtual card in process: every command, every communication mode."""

from __future__ import annotations

import pytest

from cards.client import DesfireClient
from cards.connection import (
    ApplicationNotFound,
    AuthenticationError,
    BoundaryError,
    CardNotAuthentic,
    CountError,
    DuplicateError,
    FileNotFound,
    IllegalCommand,
    IntegrityError,
    LengthError,
    NoSuchKey,
    OutOfEeprom,
    ParameterError,
    PermissionDenied,
    ResponseIntegrityError,
)
from cards.desfire import (
    DENY,
    FREE,
    AccessRights,
    CommMode,
    DataFileSettings,
    KeySettings,
    RecordFileSettings,
    ValueFileSettings,
)
from cards.emulator.card import VirtualCard
from cards.emulator.memory import CardMemory

from .helpers import (
    AID,
    BACKUP,
    KEYS,
    LOWER,
    RECORDS,
    STD,
    UID,
    UPPER,
    VALUE,
    ZERO_KEY,
    InProcess,
    access,
    connect,
    make_card,
    personalize,
)

MODES = [CommMode.PLAIN, CommMode.MACED, CommMode.ENCIPHERED]


def session(card: VirtualCard, key_no: int = 3, seed: int = 2) -> DesfireClient:
    client, _ = connect(card, seed)
    client.select_application(AID)
    client.authenticate(key_no, KEYS[key_no])
    return client


@pytest.fixture(params=MODES, ids=lambda m: m.name.lower())
def mode(request: pytest.FixtureRequest) -> CommMode:
    chosen: CommMode = request.param
    return chosen


@pytest.fixture
def card(mode: CommMode) -> VirtualCard:
    made = make_card()
    personalize(made, mode)
    return made


# -- card level ---------------------------------------------------------------------------


def test_get_version_answers_ev1_values_in_three_frames_with_and_without_a_session() -> None:
    card = make_card()
    client, link = connect(card)
    version = client.get_version()
    assert version.hardware == bytes.fromhex("04 01 01 01 00 1A 05")
    assert version.software == bytes.fromhex("04 01 01 01 04 1A 05")
    assert version.uid == UID
    assert len(link.log) == 3
    client.authenticate(0, ZERO_KEY)
    assert client.get_version() == version
    assert client.get_key_version(0) == 0  # the session survived the three MACed frames


def test_blank_card_authenticates_with_the_all_zero_picc_master_key() -> None:
    client, _ = connect(make_card())
    client.authenticate(0, ZERO_KEY)
    assert client.authenticated_key == 0
    assert client.get_key_settings() == KeySettings(0x0F, 0x81)


def test_wrong_key_is_refused_and_leaves_no_session() -> None:
    client, _ = connect(make_card())
    with pytest.raises(AuthenticationError):
        client.authenticate(0, KEYS[0])
    assert client.authenticated_key is None


def test_authenticating_a_key_the_application_lacks_answers_no_such_key() -> None:
    client, _ = connect(make_card())
    with pytest.raises(NoSuchKey):
        client.authenticate(1, ZERO_KEY)


class LyingCard(InProcess):
    """Relays to a card but garbles the last authentication pass or the next answer's MAC."""

    def __init__(self, card: VirtualCard, garble: bytes) -> None:
        super().__init__(card)
        self.garble = garble

    def transmit(self, apdu: bytes) -> bytes:
        response = super().transmit(apdu)
        if apdu[1:2] == self.garble and len(response) > 2:
            return bytes([response[0] ^ 1]) + response[1:]
        return response


def test_a_card_that_cannot_prove_the_key_is_not_authentic() -> None:
    client = DesfireClient(LyingCard(make_card(), b"\xaf"))
    with pytest.raises(CardNotAuthentic):
        client.authenticate(0, ZERO_KEY)
    assert client.authenticated_key is None


def test_a_tampered_answer_mac_raises_and_ends_the_session() -> None:
    client = DesfireClient(LyingCard(make_card(), b"\x64"))
    client.authenticate(0, ZERO_KEY)
    with pytest.raises(ResponseIntegrityError):
        client.get_key_version(0)
    assert client.authenticated_key is None


def test_a_tampered_command_mac_is_refused_by_the_card(card: VirtualCard, mode: CommMode) -> None:
    client = session(card)
    channel = client._channel
    assert channel is not None
    channel.iv = b"\x01" * 16  # the client's IV drifts from the card's
    if mode == CommMode.PLAIN:
        # A plain command carries no MAC: the card cannot tell, the client sees the answer fail.
        with pytest.raises(ResponseIntegrityError):
            client.credit(VALUE, 1, mode=mode)
        assert client.authenticated_key is None
    else:
        with pytest.raises(IntegrityError):
            client.credit(VALUE, 1, mode=mode)
        assert card.authenticated_key is None


def test_applications_are_created_listed_selected_and_deleted() -> None:
    card = make_card()
    client, _ = connect(card)
    client.authenticate(0, ZERO_KEY)
    client.create_application(0x010203, 0x0F, 2)
    client.create_application(AID, 0x0F, 14)
    assert client.get_application_ids() == [0x010203, AID]
    with pytest.raises(DuplicateError):
        client.create_application(AID, 0x0F, 1)
    with pytest.raises(ParameterError):
        client.create_application(0, 0x0F, 1)
    client.authenticate(0, ZERO_KEY)
    client.delete_application(0x010203)
    assert client.get_application_ids() == [AID]
    with pytest.raises(ApplicationNotFound):
        client.select_application(0x010203)
    assert card.selected_application == 0
    client.select_application(AID)
    assert client.get_key_settings() == KeySettings(0x0F, 0x8E)


def test_picc_with_locked_settings_needs_its_master_key_to_create_or_list() -> None:
    card = make_card()
    card.memory.picc.key_settings = 0x09
    client, _ = connect(card)
    with pytest.raises(AuthenticationError):
        client.create_application(AID, 0x0F, 1)
    with pytest.raises(AuthenticationError):
        client.get_application_ids()
    client.authenticate(0, ZERO_KEY)
    client.create_application(AID, 0x0F, 1)
    assert client.get_application_ids() == [AID]


def test_deleting_an_application_needs_a_master_key_session() -> None:
    card = make_card()
    client, _ = connect(card)
    client.create_application(AID, 0x0F, 1)
    with pytest.raises(AuthenticationError):
        client.delete_application(AID)
    client.select_application(AID)
    client.authenticate(0, ZERO_KEY)
    client.delete_application(AID)
    assert client.selected_application == 0
    assert card.selected_application == 0
    assert card.memory.applications == {}


def test_application_count_is_limited_to_28() -> None:
    card = make_card()
    client, _ = connect(card)
    for aid in range(1, 29):
        client.create_application(aid, 0x0F, 1)
    with pytest.raises(CountError):
        client.create_application(29, 0x0F, 1)
    assert len(client.get_application_ids()) == 28  # more than 19 AIDs: a second frame


def test_format_picc_deletes_every_application_and_ends_the_session() -> None:
    card = make_card()
    personalize(card)
    client, _ = connect(card)
    client.authenticate(0, ZERO_KEY)
    client.format_picc()
    assert client.authenticated_key is None
    assert card.authenticated_key is None
    assert client.get_application_ids() == []


def test_get_card_uid_is_enciphered_and_needs_a_session() -> None:
    card = make_card()
    client, link = connect(card)
    with pytest.raises(AuthenticationError):
        client.get_card_uid()
    assert link.log == []  # refused without a round trip
    client.authenticate(0, ZERO_KEY)
    assert client.get_card_uid() == UID
    assert UID not in link.log[-1][1]


def test_pcsc_uid_request_is_answered_by_the_card() -> None:
    card = make_card()
    assert card.process(bytes.fromhex("FF CA 00 00 00")) == UID + b"\x90\x00"
    assert card.process(bytes.fromhex("FF CA 00 00 07")) == UID + b"\x90\x00"
    assert card.process(bytes.fromhex("FF CA 00 00 04")) == bytes.fromhex("6C 07")
    assert card.process(bytes.fromhex("FF CA 01 00 00")) == bytes.fromhex("6A 81")


# -- keys ---------------------------------------------------------------------------------


def test_changing_the_session_key_ends_the_session_and_the_new_key_works() -> None:
    card = make_card()
    personalize(card)
    client = session(card, key_no=0)
    client.change_key(0, KEYS[1], 7)
    assert client.authenticated_key is None
    assert card.authenticated_key is None
    client.authenticate(0, KEYS[1])
    assert client.get_key_version(0) == 7


def test_changing_another_key_needs_its_old_value() -> None:
    card = make_card()
    personalize(card)
    client = session(card, key_no=0)
    client.change_key(2, KEYS[0], 9, old_key=KEYS[2])
    assert client.authenticated_key == 0
    assert client.get_key_version(2) == 9
    with pytest.raises(IntegrityError):
        client.change_key(1, KEYS[0], 9, old_key=ZERO_KEY)  # key 1 is not zero
    assert card.memory.applications[AID].keys[1].value == KEYS[1]


def test_only_the_master_key_changes_keys_under_default_settings() -> None:
    card = make_card()
    personalize(card)
    client = session(card, key_no=1)
    with pytest.raises(AuthenticationError):
        client.change_key(2, KEYS[0], 1, old_key=KEYS[2])


def test_picc_master_key_changes_with_the_aes_flag() -> None:
    card = make_card()
    client, link = connect(card)
    client.authenticate(0, ZERO_KEY)
    client.change_key(0, KEYS[0], 3)
    assert link.log[-1][0][5] == 0x80
    client.authenticate(0, KEYS[0])
    assert client.get_key_version(0) == 3


# -- files --------------------------------------------------------------------------------


def test_file_ids_and_settings_read_back_as_created(card: VirtualCard, mode: CommMode) -> None:
    client = session(card)
    assert client.get_file_ids() == [STD, BACKUP, VALUE, RECORDS]
    assert client.get_file_settings(STD) == DataFileSettings(mode, access(1, 2, 3), 100)
    assert client.get_file_settings(VALUE) == ValueFileSettings(
        mode, access(1, 2, 3), LOWER, UPPER, 0, True
    )
    assert client.get_file_settings(RECORDS) == RecordFileSettings(mode, access(1, 2, 3), 16, 5)
    with pytest.raises(FileNotFound):
        client.get_file_settings(9)


def test_standard_data_chains_both_ways_in_every_mode(card: VirtualCard, mode: CommMode) -> None:
    client = session(card)
    data = bytes(range(100))
    client.write_data(STD, 0, data, mode=mode)
    assert client.read_data(STD, 0, 100, mode=mode) == data
    assert client.read_data(STD, 90, 10, mode=mode) == data[90:]
    client.write_data(STD, 50, b"\xff" * 3, mode=mode)
    assert client.read_data(STD, 49, 5, mode=mode) == bytes([49, 255, 255, 255, 53])
    with pytest.raises(BoundaryError):
        client.read_data(STD, 95, 10, mode=mode)


def test_backup_data_appears_only_at_commit(card: VirtualCard, mode: CommMode) -> None:
    client = session(card)
    client.write_data(BACKUP, 2, b"new", mode=mode)
    assert client.read_data(BACKUP, 0, 5, mode=mode) == bytes(5)
    client.commit_transaction()
    assert client.read_data(BACKUP, 0, 5, mode=mode) == b"\x00\x00new"


def test_value_credit_and_debit_commit_together(card: VirtualCard, mode: CommMode) -> None:
    client = session(card)
    client.credit(VALUE, 100, mode=mode)
    client.debit(VALUE, 97, mode=mode)
    assert client.get_value(VALUE, mode=mode) == 500
    client.commit_transaction()
    assert client.get_value(VALUE, mode=mode) == 503
    settings = client.get_file_settings(VALUE)
    assert isinstance(settings, ValueFileSettings)
    assert settings.limited_credit_value == 97


def test_limited_credit_is_bounded_by_the_last_debits(card: VirtualCard, mode: CommMode) -> None:
    client = session(card)
    client.debit(VALUE, 130, mode=mode)
    client.credit(VALUE, 2, mode=mode)
    client.debit(VALUE, 170, mode=mode)
    client.commit_transaction()
    with pytest.raises(BoundaryError):
        client.limited_credit(VALUE, 301, mode=mode)
    client.authenticate(2, KEYS[2])  # limited credit needs only the write key
    write_mode = mode
    client.limited_credit(VALUE, 300, mode=write_mode)
    client.commit_transaction()
    assert client.get_value(VALUE, mode=mode) == 500 - 130 + 2 - 170 + 300
    settings = client.get_file_settings(VALUE)
    assert isinstance(settings, ValueFileSettings)
    assert settings.limited_credit_value == 0


def test_limited_credit_disabled_is_denied() -> None:
    card = make_card()
    personalize(card, limited_credit=False)
    client = session(card)
    client.debit(VALUE, 10, mode=CommMode.ENCIPHERED)
    client.commit_transaction()
    with pytest.raises(PermissionDenied):
        client.limited_credit(VALUE, 10, mode=CommMode.ENCIPHERED)


def test_value_limits_answer_boundary_error_and_abort(card: VirtualCard, mode: CommMode) -> None:
    client = session(card)
    client.debit(VALUE, 1500, mode=mode)
    with pytest.raises(BoundaryError):
        client.debit(VALUE, 1, mode=mode)
    assert client.authenticated_key is None
    client.authenticate(3, KEYS[3])
    client.commit_transaction()
    assert client.get_value(VALUE, mode=mode) == 500  # the error aborted the staged debit
    with pytest.raises(BoundaryError):
        client.credit(VALUE, UPPER, mode=mode)


def test_cyclic_records_keep_max_minus_one_newest_first(card: VirtualCard, mode: CommMode) -> None:
    client = session(card)
    for n in range(6):
        client.write_record(RECORDS, 2, b"#%d" % n, mode=mode)
        client.write_record(RECORDS, 0, b"r.", mode=mode)  # same new record
        client.commit_transaction()
    records = client.read_records(RECORDS, mode=mode, record_size=16)
    assert [records[i : i + 4] for i in range(0, 64, 16)] == [b"r.#5", b"r.#4", b"r.#3", b"r.#2"]
    assert client.read_records(RECORDS, 1, 2, mode=mode, record_size=16)[:4] == b"r.#4"
    settings = client.get_file_settings(RECORDS)
    assert isinstance(settings, RecordFileSettings)
    assert settings.current_records == 4
    with pytest.raises(BoundaryError):
        client.read_records(RECORDS, 4, 1, mode=mode, record_size=16)


def test_reading_an_empty_record_file_fails_and_aborts_the_transaction() -> None:
    card = make_card()
    personalize(card)
    client = session(card)
    client.debit(VALUE, 5, mode=CommMode.ENCIPHERED)
    with pytest.raises(BoundaryError):
        client.read_records(RECORDS, mode=CommMode.ENCIPHERED, record_size=16)
    client.authenticate(3, KEYS[3])
    client.commit_transaction()
    assert client.get_value(VALUE, mode=CommMode.ENCIPHERED) == 500


def test_abort_select_and_reset_drop_staged_writes(card: VirtualCard, mode: CommMode) -> None:
    for end in ("abort", "select", "reset"):
        client = session(card)
        client.debit(VALUE, 5, mode=mode)
        client.write_record(RECORDS, 0, b"x", mode=mode)
        client.write_data(BACKUP, 0, b"y", mode=mode)
        if end == "abort":
            client.abort_transaction()
        elif end == "select":
            client.select_application(AID)
        else:
            card.reset()
        client = session(card)
        client.commit_transaction()
        assert client.get_value(VALUE, mode=mode) == 500
        assert client.read_data(BACKUP, 0, 1, mode=mode) == b"\x00"
        with pytest.raises(BoundaryError):
            client.read_records(RECORDS, mode=mode, record_size=16)


def test_reauthenticating_keeps_the_transaction(card: VirtualCard, mode: CommMode) -> None:
    client = session(card)
    client.debit(VALUE, 5, mode=mode)
    client.authenticate(1, KEYS[1])
    client.commit_transaction()
    assert client.get_value(VALUE, mode=mode) == 495


def test_access_rights_are_enforced(card: VirtualCard, mode: CommMode) -> None:
    reader = session(card, key_no=1)
    assert reader.get_value(VALUE, mode=mode) == 500
    reader.read_data(STD, 0, 1, mode=mode)
    with pytest.raises(PermissionDenied):
        reader.write_data(STD, 0, b"x", mode=mode)
    writer = session(card, key_no=2)
    with pytest.raises(PermissionDenied):
        writer.read_data(STD, 0, 1, mode=mode)
    writer = session(card, key_no=2)
    with pytest.raises(PermissionDenied):
        writer.credit(VALUE, 1, mode=mode)
    anonymous, _ = connect(card)
    anonymous.select_application(AID)
    with pytest.raises(PermissionDenied):
        anonymous.get_value(VALUE, mode=CommMode.PLAIN)


def test_free_access_is_plain_even_on_an_enciphered_file() -> None:
    card = make_card()
    personalize(card)
    client = session(card, key_no=0)
    free_read = AccessRights(FREE, DENY, 0, 0)
    client.create_std_data_file(7, DataFileSettings(CommMode.ENCIPHERED, free_read, 4))
    client.write_data(7, 0, b"abcd", mode=CommMode.ENCIPHERED)  # key 0 is read&write
    assert client.read_data(7, 0, 4, mode=CommMode.ENCIPHERED) == b"abcd"
    reader = session(card, key_no=1)
    assert reader.read_data(7, mode=CommMode.PLAIN) == b"abcd"
    anonymous, _ = connect(card)
    anonymous.select_application(AID)
    assert anonymous.read_data(7, mode=CommMode.PLAIN) == b"abcd"
    with pytest.raises(PermissionDenied):
        anonymous.write_data(7, 0, b"x", mode=CommMode.PLAIN)


def test_files_need_the_application_master_key_to_be_created() -> None:
    card = make_card()
    personalize(card)
    client = session(card, key_no=3)
    with pytest.raises(AuthenticationError):
        client.create_std_data_file(9, DataFileSettings(CommMode.PLAIN, AccessRights(), 8))
    client = session(card, key_no=0)
    with pytest.raises(DuplicateError):
        client.create_std_data_file(STD, DataFileSettings(CommMode.PLAIN, AccessRights(), 8))
    client = session(card, key_no=0)
    with pytest.raises(BoundaryError):
        client.create_value_file(9, ValueFileSettings(CommMode.PLAIN, AccessRights(), 5, 1), 3)
    client = session(card, key_no=0)
    with pytest.raises(OutOfEeprom):
        client.create_std_data_file(9, DataFileSettings(CommMode.PLAIN, AccessRights(), 9000))


def test_malformed_commands_get_typed_errors() -> None:
    card = make_card()
    client, link = connect(card)
    assert card.process(bytes.fromhex("90 AF 00 00 00")) == bytes.fromhex("91 1C")
    assert card.process(bytes.fromhex("90 60 00 00 02 01 02 00")) == bytes.fromhex("91 7E")
    assert card.process(bytes.fromhex("90 60 01 00 00")) == bytes.fromhex("6A 86")
    assert card.process(bytes.fromhex("00 A4 04 00 00")) == bytes.fromhex("6E 00")
    assert card.process(bytes.fromhex("90 60 00 00 05 01")) == bytes.fromhex("67 00")
    with pytest.raises(IllegalCommand):
        client._command(0x77)
    with pytest.raises(LengthError):
        client._command(0x6F, b"\x01")


# -- memory and taps ----------------------------------------------------------------------


def test_memory_round_trips_through_json_and_counts_committed_changes() -> None:
    card = make_card()
    personalize(card)
    client = session(card)
    before = card.changes
    client.debit(VALUE, 5, mode=CommMode.ENCIPHERED)
    client.write_record(RECORDS, 0, b"trip", mode=CommMode.ENCIPHERED)
    assert card.changes == before  # staged writes are not memory yet
    client.commit_transaction()
    assert card.changes == before + 1
    copy = CardMemory.from_json(card.memory.to_json())
    assert copy == card.memory
    again = VirtualCard(copy)
    reader = session(again)
    assert reader.get_value(VALUE, mode=CommMode.ENCIPHERED) == 495
    assert reader.read_records(RECORDS, mode=CommMode.ENCIPHERED, record_size=16)[:4] == b"trip"


def test_a_stored_value_tap_takes_nine_apdus() -> None:
    card = make_card()
    personalize(card)
    mode = CommMode.ENCIPHERED
    earlier = session(card)
    earlier.write_record(RECORDS, 0, b"earlier trip", mode=mode)
    earlier.commit_transaction()
    card.reset()
    client, link = connect(card)
    client.select_application(AID)
    client.authenticate(3, KEYS[3])
    client.get_value(VALUE, mode=mode)
    client.read_records(RECORDS, 0, 1, mode=mode, record_size=16)
    client.read_data(STD, 0, 32, mode=mode)
    client.debit(VALUE, 80, mode=mode)
    client.write_record(RECORDS, 0, bytes(16), mode=mode)
    client.commit_transaction()
    assert client.apdus == len(link.log) == 9
