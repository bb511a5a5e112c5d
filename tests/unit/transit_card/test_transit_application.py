"""The transit application on a virtual card: issue it, read it, charge it, tear it."""

from __future__ import annotations

import contextlib
import dataclasses
import struct
from datetime import UTC, date, datetime

import pytest

from cards.application import (
    CardFull,
    CardState,
    InsufficientBalance,
    MasterKeys,
    apply_credit,
    apply_pass,
    apply_profile,
    charge,
    open_for_tap,
    personalize,
    read,
)
from cards.client import DesfireClient
from cards.connection import AuthenticationError, CardRemoved, PermissionDenied
from cards.desfire import CommMode
from cards.emulator.memory import CardMemory
from cards.layout import (
    COUNTERS_SIZE,
    DEBIT,
    LOAD,
    LOG_RECORDS,
    PASS_KIND,
    PROFILE_KIND,
    PROFILE_SIZE,
    PURSE,
    READ,
    TICKET,
    TICKET_SIZE,
    TRANSIT_AID,
)
from fares import Tap, load_hanoi_tariff, price_tap
from fares.model import Pass, card_day, card_seconds, key_of
from fares.passes import issue_pass
from tests.support.virtual_card import Field, rng

UID = bytes.fromhex("04A1B2C3D4E5F6")
MASTERS = MasterKeys(*(bytes([n]) * 16 for n in range(1, 7)))
HANOI = load_hanoi_tariff()
ADULT = 1  # the Hanoi tariff's code for its default category


def issued_card(balance: int = 50_000) -> CardMemory:
    memory = CardMemory.blank(UID)
    client = DesfireClient(Field(memory, seed=1), rng=rng(2))
    personalize(
        client,
        UID,
        MASTERS,
        card_number=9_704_000_000_001,
        category_code=ADULT,
        valid_until=None,
        balance=balance,
        issued=date(2026, 11, 28),
    )
    return memory


def tap_session(memory: CardMemory, tear_after: int | None = None) -> DesfireClient:
    return DesfireClient(Field(memory, tear_after, seed=3), rng=rng(4))


def read_card(memory: CardMemory) -> CardState:
    client = tap_session(memory)
    open_for_tap(client, UID, MASTERS)
    # Every read in these tests also checks the purse mirror against the value file.
    return read(client, UID, with_log=True, verify_purse=True)


def board(memory: CardMemory, when: datetime, route: str = "32", tear_after: int | None = None):  # type: ignore[no-untyped-def]
    client = tap_session(memory, tear_after)
    open_for_tap(client, UID, MASTERS)
    state = read(client, UID)
    tap = Tap(when, route, "HN0001")
    decision = price_tap(state.fare, tap, HANOI)
    assert decision.accepted
    return charge(client, state, decision, tap), client.apdus


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 30, hour, minute, tzinfo=UTC)


def test_a_new_card_reads_back_what_was_issued() -> None:
    state = read_card(issued_card(balance=50_000))
    assert state.balance == 50_000
    assert state.profile.card_number == 9_704_000_000_001
    assert state.profile.blocked is False
    assert state.fare.category_code == ADULT
    assert state.counters.transactions == 0
    assert state.log == []


def test_a_charge_debits_the_purse_and_logs_the_trip() -> None:
    memory = issued_card(balance=50_000)
    result, _ = board(memory, at(1))
    assert result.record.amount == 10_000  # route 32 is in the 15-25 km band
    after = read_card(memory)
    assert after.balance == 40_000
    assert after.counters.transactions == 1
    assert after.fare == result.state.fare
    assert [r.amount for r in after.log] == [10_000]
    assert after.log[0].balance_after == 40_000


def test_a_stored_value_tap_takes_few_apdus() -> None:
    memory = issued_card()
    _, apdus = board(memory, at(1))
    # select, authenticate (2), ticket (2 frames), debit, write (2 frames), record, commit
    assert apdus == 10


def test_the_log_keeps_the_last_eight_trips() -> None:
    memory = issued_card(balance=200_000)
    for n in range(10):
        board(memory, at(1 + n))
    log = read_card(memory).log
    assert len(log) == LOG_RECORDS
    assert [r.transaction for r in log] == list(range(10, 2, -1))  # newest first


def test_a_charge_larger_than_the_balance_is_refused_and_changes_nothing() -> None:
    memory = issued_card(balance=5_000)
    before = read_card(memory)
    with pytest.raises(InsufficientBalance):
        board(memory, at(1))
    assert read_card(memory) == before


def test_the_purse_cannot_be_debited_below_zero_even_by_a_buggy_caller() -> None:
    memory = issued_card(balance=5_000)
    client = tap_session(memory)
    open_for_tap(client, UID, MASTERS)
    with pytest.raises(Exception, match="BOUNDARY"):
        client.debit(PURSE, 6_000, mode=CommMode.MACED)
    assert read_card(memory).balance == 5_000


def test_the_read_key_cannot_debit() -> None:
    memory = issued_card()
    client = tap_session(memory)
    client.select_application(TRANSIT_AID)
    client.authenticate(READ, MASTERS.for_card(UID).app[READ])
    with pytest.raises(PermissionDenied):
        client.debit(PURSE, 1_000, mode=CommMode.MACED)


def test_another_cards_keys_do_not_open_this_card() -> None:
    memory = issued_card()
    client = tap_session(memory)
    client.select_application(TRANSIT_AID)
    other = MASTERS.for_card(bytes.fromhex("04000000000001"))
    with pytest.raises(AuthenticationError):
        client.authenticate(DEBIT, other.app[DEBIT])


def test_the_factory_key_no_longer_opens_an_issued_card() -> None:
    memory = issued_card()
    client = tap_session(memory)
    client.select_application(0)
    with pytest.raises(AuthenticationError):
        client.authenticate(0, bytes(16))


def count_charge_apdus() -> int:
    _, apdus = board(issued_card(), at(1))
    return apdus


@pytest.mark.parametrize("tear_after", range(1, count_charge_apdus() + 1))
def test_a_card_torn_at_any_apdu_keeps_its_whole_old_or_whole_new_state(tear_after: int) -> None:
    memory = issued_card(balance=50_000)
    board(memory, at(1))  # some history, so old and new differ in every file
    old = read_card(memory)
    with pytest.raises(CardRemoved):
        board(memory, at(2), route="107", tear_after=tear_after)
    now = read_card(memory)
    if now == old:
        return
    assert now.balance == old.balance - 20_000
    assert now.counters.transactions == old.counters.transactions + 1
    assert now.log[0].amount == 20_000
    assert now.fare.last_boarding != old.fare.last_boarding


def test_a_purse_mirror_that_disagrees_with_the_purse_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    memory = issued_card(balance=5_000)
    client = tap_session(memory)
    open_for_tap(client, UID, MASTERS)
    state = read(client, UID)
    # A mirror saying more than the purse holds: the card itself refuses the debit.
    rich = dataclasses.replace(state, balance=50_000)
    tap = Tap(at(1), "32", "HN0001")
    decision = price_tap(rich.fare, tap, HANOI)
    with pytest.raises(InsufficientBalance, match="refused"):
        charge(client, rich, decision, tap)
    assert read_card(memory).balance == 5_000


def credit(memory: CardMemory, seq: int, amount: int, tear_after: int | None = None) -> int:
    client = tap_session(memory, tear_after)
    open_for_tap(client, UID, MASTERS)
    state = read(client, UID)
    apply_credit(client, state, MASTERS, seq=seq, amount=amount, time=0)
    return client.apdus


def test_a_pending_credit_reaches_the_purse_and_the_log_once() -> None:
    memory = issued_card(balance=10_000)
    credit(memory, seq=1, amount=50_000)
    after = read_card(memory)
    assert after.balance == 60_000
    assert after.counters.last_load_seq == 1
    assert after.log[0].kind == 2
    assert after.log[0].amount == 50_000
    # A second validator holding the same pending load finds it applied.
    with pytest.raises(ValueError, match="applied already"):
        credit(memory, seq=1, amount=50_000)
    assert read_card(memory).balance == 60_000


def test_a_charge_after_a_credit_in_the_same_tap_works() -> None:
    memory = issued_card(balance=5_000)
    client = tap_session(memory)
    open_for_tap(client, UID, MASTERS)
    state = apply_credit(client, read(client, UID), MASTERS, seq=1, amount=20_000, time=0)
    open_for_tap(client, UID, MASTERS)
    tap = Tap(at(1), "32", "HN0001")
    decision = price_tap(state.fare, tap, HANOI)
    charge(client, state, decision, tap)
    assert read_card(memory).balance == 15_000


def count_credit_apdus() -> int:
    return credit(issued_card(balance=10_000), seq=1, amount=50_000)


@pytest.mark.parametrize("tear_after", range(1, count_credit_apdus() + 1))
def test_a_credit_torn_at_any_apdu_is_whole_or_absent(tear_after: int) -> None:
    memory = issued_card(balance=10_000)
    with contextlib.suppress(CardRemoved):
        credit(memory, seq=1, amount=50_000, tear_after=tear_after)
    after = read_card(memory)
    assert (after.balance, after.counters.last_load_seq) in ((10_000, 0), (60_000, 1))


def monthly_pass(month: date = date(2026, 11, 1)) -> Pass:
    return issue_pass(HANOI.version_at(card_seconds(at(0))), "pass_all_routes", "adult", month)  # type: ignore[arg-type]


def load_pass(memory: CardMemory, seq: int, entry: Pass, tear_after: int | None = None) -> int:
    client = tap_session(memory, tear_after)
    open_for_tap(client, UID, MASTERS)
    state = read(client, UID)
    apply_pass(
        client,
        state,
        MASTERS,
        seq=seq,
        entry=entry,
        time=card_seconds(at(0)),
        today=card_day(at(0).date()),
    )
    return client.apdus


def test_a_pending_pass_reaches_the_card_once_and_pays_the_next_boarding() -> None:
    memory = issued_card(balance=50_000)
    load_pass(memory, 1, monthly_pass())
    after = read_card(memory)
    assert after.fare.passes == (monthly_pass(),)
    assert (after.profile.pass_count, after.counters.last_load_seq) == (1, 1)
    assert after.log[0].kind == PASS_KIND
    with pytest.raises(ValueError, match="applied already"):
        load_pass(memory, 1, monthly_pass())
    charged, _ = board(memory, at(1))
    assert charged.state.balance == 50_000  # the pass paid
    assert read_card(memory).fare.passes == (monthly_pass(),)


def test_a_card_full_of_valid_passes_refuses_another_and_expired_ones_make_room() -> None:
    memory = issued_card()
    for seq in range(1, 5):
        load_pass(memory, seq, monthly_pass())
    with pytest.raises(CardFull):
        load_pass(memory, 5, monthly_pass())
    assert read_card(memory).counters.last_load_seq == 4
    old = monthly_pass(date(2026, 10, 1))
    fresh = issued_card()
    for seq in range(1, 5):
        load_pass(fresh, seq, old)
    load_pass(fresh, 5, monthly_pass())
    assert read_card(fresh).fare.passes == (monthly_pass(),)


def count_pass_apdus() -> int:
    return load_pass(issued_card(), 1, monthly_pass())


@pytest.mark.parametrize("tear_after", range(1, count_pass_apdus() + 1))
def test_a_pass_torn_at_any_apdu_is_whole_or_absent(tear_after: int) -> None:
    memory = issued_card()
    with contextlib.suppress(CardRemoved):
        load_pass(memory, 1, monthly_pass(), tear_after=tear_after)
    after = read_card(memory)
    assert (after.fare.passes, after.counters.last_load_seq, after.profile.pass_count) in (
        ((), 0, 0),
        ((monthly_pass(),), 1, 1),
    )


STUDENT = 2  # the Hanoi tariff's code for students


def load_profile(memory: CardMemory, seq: int, valid_until: date, tear: int | None = None) -> int:
    client = tap_session(memory, tear)
    open_for_tap(client, UID, MASTERS)
    apply_profile(
        client,
        read(client, UID),
        MASTERS,
        seq=seq,
        category_code=STUDENT,
        valid_until=card_day(valid_until),
        time=card_seconds(at(0)),
    )
    return client.apdus


def test_a_new_category_reaches_the_card_and_prices_the_next_tap() -> None:
    memory = issued_card(balance=50_000)
    board(memory, at(1))  # a fare record with a leg in it: kept by the update
    load_profile(memory, 1, date(2027, 5, 31))
    after = read_card(memory)
    assert (after.fare.category_code, after.fare.category_valid_until) == (
        STUDENT,
        card_day(date(2027, 5, 31)),
    )
    assert (after.counters.last_load_seq, after.log[0].kind) == (1, PROFILE_KIND)
    with pytest.raises(ValueError, match="applied already"):
        load_profile(memory, 1, date(2027, 5, 31))
    # Hanoi's students pay the single fare and half for monthly passes: a student pass now
    # written to this card pays its next boarding.
    version = HANOI.version_at(card_seconds(at(0)))
    assert version is not None
    student_pass = issue_pass(version, "pass_all_routes", "student", date(2026, 11, 1))
    load_pass(memory, 2, student_pass)
    decision = price_tap(read_card(memory).fare, Tap(at(5), "09", "HN0001"), HANOI)
    assert (decision.accepted, decision.amount, decision.paid_by) == (True, 0, "pass")


def count_profile_apdus() -> int:
    return load_profile(issued_card(), 1, date(2027, 5, 31))


@pytest.mark.parametrize("tear_after", range(1, count_profile_apdus() + 1))
def test_a_category_update_torn_at_any_apdu_is_whole_or_absent(tear_after: int) -> None:
    memory = issued_card()
    with contextlib.suppress(CardRemoved):
        load_profile(memory, 1, date(2027, 5, 31), tear=tear_after)
    after = read_card(memory)
    assert (after.fare.category_code, after.counters.last_load_seq) in ((ADULT, 0), (STUDENT, 1))


# -- a card in the 2024 layout (fare record version 1) is upgraded by its next tap ------------

_V1_FARE_RECORD = struct.Struct("<BBHIIIIIIBI" + "BHI" * 4 + "3x")


def old_layout_card(balance: int) -> CardMemory:
    """A card as issued before tap on and tap off: fare record version 1, a boarding on it."""
    memory = issued_card(balance)
    client = tap_session(memory)
    client.select_application(TRANSIT_AID)
    client.authenticate(LOAD, MASTERS.for_card(UID).app[LOAD])
    boarded = card_seconds(at(0))
    record = _V1_FARE_RECORD.pack(
        1, ADULT, 0xFFFF, boarded, key_of("32"), 0, 10_000, boarded, 0, 0, 10_000,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    client.write_data(TICKET, PROFILE_SIZE + COUNTERS_SIZE, record, mode=CommMode.MACED)
    client.commit_transaction()
    return memory


def raw_ticket(memory: CardMemory) -> bytes:
    client = tap_session(memory)
    client.select_application(TRANSIT_AID)
    client.authenticate(READ, MASTERS.for_card(UID).app[READ])
    return client.read_data(TICKET, 0, TICKET_SIZE, mode=CommMode.MACED)


def test_an_old_layout_card_is_read_and_upgraded_by_its_next_tap() -> None:
    memory = old_layout_card(50_000)
    assert raw_ticket(memory)[PROFILE_SIZE + COUNTERS_SIZE] == 1
    assert read_card(memory).fare.last_route_key == key_of("32")
    result, apdus = board(memory, at(2), route="107")
    assert apdus == 10  # the upgrade costs no APDU: the tap writes the record anyway
    assert raw_ticket(memory)[PROFILE_SIZE + COUNTERS_SIZE] == 2
    assert read_card(memory).fare == result.state.fare
    assert read_card(memory).balance == 30_000


@pytest.mark.parametrize("tear_after", range(1, count_charge_apdus() + 1))
def test_an_upgrading_tap_torn_at_any_apdu_loses_nothing_and_charges_once(
    tear_after: int,
) -> None:
    memory = old_layout_card(50_000)
    old = raw_ticket(memory)
    with pytest.raises(CardRemoved):
        board(memory, at(2), route="107", tear_after=tear_after)
    torn = raw_ticket(memory)
    if torn == old:
        assert read_card(memory).balance == 50_000  # nothing happened: still version 1
        expected = 50_000 - 20_000 - 10_000
    else:
        assert torn[PROFILE_SIZE + COUNTERS_SIZE] == 2  # the whole new record and its charge
        assert read_card(memory).balance == 30_000
        expected = 30_000 - 10_000
    # The next tap works on whatever the card holds, and charges once.
    if torn == old:
        board(memory, at(3), route="107")
    board(memory, at(4), route="32")
    after = read_card(memory)
    assert after.balance == expected
    assert raw_ticket(memory)[PROFILE_SIZE + COUNTERS_SIZE] == 2
