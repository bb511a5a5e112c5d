"""Invariants of the virtual card under arbitrary input, tearing and value changes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cards.client import DesfireClient
from cards.connection import CardError, CardRemoved
from cards.desfire import Command, CommMode, Status, wrap
from cards.emulator.card import VirtualCard
from cards.emulator.memory import CardMemory, ValueFile

from .helpers import (
    AID,
    BACKUP,
    KEYS,
    LOWER,
    RECORDS,
    UPPER,
    VALUE,
    InProcess,
    make_card,
    personalize,
    seeded_rng,
)

ISO_STATUS_WORDS = {b"\x90\x00", b"\x67\x00", b"\x6a\x86", b"\x6e\x00", b"\x6a\x81"}
DESFIRE_STATUSES = {int(s) for s in Status}
PERSONALIZED = make_card()
personalize(PERSONALIZED)
PERSONALIZED_JSON = PERSONALIZED.memory.to_json()
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fresh_card(seed: int = 1) -> VirtualCard:
    return VirtualCard(CardMemory.from_json(PERSONALIZED_JSON), rng=seeded_rng(seed))


def assert_well_formed(response: bytes) -> None:
    assert len(response) >= 2
    sw = response[-2:]
    if sw[0] == 0x91:
        assert sw[1] in DESFIRE_STATUSES
        assert len(response) <= 2 + 59
    elif sw[:1] == b"\x6c":
        assert len(response) == 2
    else:
        assert sw in ISO_STATUS_WORDS
        assert sw == b"\x90\x00" or len(response) == 2


@FAST
@given(st.lists(st.binary(max_size=70), max_size=25))
def test_any_bytes_get_a_well_formed_answer(apdus: list[bytes]) -> None:
    card = fresh_card()
    for apdu in apdus:
        assert_well_formed(card.process(apdu))


commands = st.one_of(
    st.sampled_from([int(c) for c in Command]), st.integers(min_value=0, max_value=255)
)


@st.composite
def native_commands(draw: st.DrawFn) -> bytes:
    ins = draw(commands)
    if draw(st.booleans()):
        # A plausible header: a file number of the application, then offsets and lengths.
        data = bytes([draw(st.sampled_from([1, 2, 3, 4, 9]))]) + draw(st.binary(max_size=40))
    else:
        data = draw(st.binary(max_size=59))
    return wrap(ins, data)


@FAST
@given(st.lists(st.one_of(native_commands(), st.just(b"auth"), st.just(b"select")), max_size=30))
def test_well_formed_commands_in_and_out_of_a_session_get_a_valid_status(
    steps: list[bytes],
) -> None:
    card = fresh_card()
    client = DesfireClient(InProcess(card), rng=seeded_rng(5))
    for step in steps:
        if step == b"auth":
            client.select_application(AID)
            client.authenticate(3, KEYS[3])
        elif step == b"select":
            client.select_application(AID)
        else:
            assert_well_formed(card.process(step))


def tap(client: DesfireClient, amount: int) -> None:
    """A stored-value tap: select, authenticate, read, debit, log, commit."""
    mode = CommMode.ENCIPHERED
    client.select_application(AID)
    client.authenticate(3, KEYS[3])
    client.get_value(VALUE, mode=mode)
    client.read_data(BACKUP, 0, 8, mode=mode)
    client.debit(VALUE, amount, mode=mode)
    client.write_record(RECORDS, 0, b"trip %d" % amount, mode=mode)
    client.write_data(BACKUP, 0, amount.to_bytes(8, "little"), mode=mode)
    client.commit_transaction()


class TornLink:
    """Hands APDUs to the card until the card leaves the field at APDU `tear_at`.

    With `answered=False` the card never runs that APDU; otherwise it runs it and the answer
    is lost, like a card pulled away between executing CommitTransaction and replying.
    """

    def __init__(self, card: VirtualCard, tear_at: int, *, answered: bool) -> None:
        self.card = card
        self.tear_at = tear_at
        self.answered = answered
        self.sent = 0

    def transmit(self, apdu: bytes) -> bytes:
        if self.sent == self.tear_at:
            if self.answered:
                self.card.process(apdu)
            self.card.reset()
            raise CardRemoved("torn")
        self.sent += 1
        return self.card.process(apdu)


def _tap_length() -> int:
    link = InProcess(fresh_card())
    tap(DesfireClient(link, rng=seeded_rng(3)), 80)
    return len(link.log)


_COMMIT_INDEX = _tap_length() - 1


@pytest.mark.parametrize("answered", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("tear_at", range(_tap_length() + 1))
def test_a_tap_torn_at_any_apdu_leaves_the_card_fully_old_or_fully_new(
    tear_at: int, answered: bool
) -> None:
    old = fresh_card()
    new = fresh_card()
    tap(DesfireClient(InProcess(new), rng=seeded_rng(3)), 80)
    torn = fresh_card()
    client = DesfireClient(TornLink(torn, tear_at, answered=answered), rng=seeded_rng(3))
    with contextlib.suppress(CardRemoved):
        tap(client, 80)
    state = torn.memory.to_json()
    assert state in (old.memory.to_json(), new.memory.to_json())
    committed = tear_at > _COMMIT_INDEX or (tear_at == _COMMIT_INDEX and answered)
    assert (state == new.memory.to_json()) == committed


@FAST
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["credit", "debit", "limited", "commit", "abort", "reset"]),
            st.integers(min_value=0, max_value=2**31 - 1)
            | st.integers(min_value=0, max_value=3_000),
        ),
        max_size=25,
    )
)
def test_value_never_leaves_its_limits(operations: list[tuple[str, int]]) -> None:
    card = fresh_card()
    client = DesfireClient(InProcess(card), rng=seeded_rng(7))
    mode = CommMode.ENCIPHERED
    for name, amount in operations:
        try:
            if client.authenticated_key is None:
                client.select_application(AID)
                client.authenticate(3, KEYS[3])
            if name == "credit":
                client.credit(VALUE, amount, mode=mode)
            elif name == "debit":
                client.debit(VALUE, amount, mode=mode)
            elif name == "limited":
                client.limited_credit(VALUE, amount, mode=mode)
            elif name == "commit":
                client.commit_transaction()
            elif name == "abort":
                client.abort_transaction()
            else:
                card.reset()
                client = DesfireClient(InProcess(card), rng=seeded_rng(7))
        except CardError:
            pass
        file = card.memory.applications[AID].files[VALUE]
        assert isinstance(file, ValueFile)
        assert LOWER <= file.value <= UPPER
        staged = card._tx.values.get(VALUE)
        assert staged is None or LOWER <= staged <= UPPER
