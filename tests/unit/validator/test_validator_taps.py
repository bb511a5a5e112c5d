"""The validator's decisions, with a virtual card in-process and a real journal on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cards.application import MasterKeys, open_for_tap, personalize, read
from cards.client import DesfireClient
from cards.emulator.memory import CardMemory
from fares import card_seconds, load_hanoi_tariff
from fares.passes import issue_pass
from readers.display import AMBER, GREEN, RED
from readers.journal import Journal
from readers.validator import DeviceConfig, Validator
from tests.support.virtual_card import Field, rng
from wire import Tap

UID = bytes.fromhex("04A1B2C3D4E5F6")
UID_HEX = UID.hex().upper()
MASTERS = MasterKeys(*(bytes([0x40 + n]) * 16 for n in range(6)))
HANOI = load_hanoi_tariff()
MORNING = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # 07:30 in Hanoi


def issued(balance: int = 50_000) -> CardMemory:
    memory = CardMemory.blank(UID)
    personalize(
        DesfireClient(Field(memory), rng=rng(2)),
        UID,
        MASTERS,
        card_number=8401_0000_0000_0017,
        category_code=1,
        valid_until=None,
        balance=balance,
        issued=date(2026, 11, 28),
    )
    return memory


def balance_of(memory: CardMemory) -> int:
    client = DesfireClient(Field(memory), rng=rng(3))
    open_for_tap(client, UID, MASTERS)
    return read(client, UID, verify_purse=True).balance


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.sqlite3") as opened:
        yield opened


def validator(journal: Journal, route: str = "32", at: datetime = MORNING) -> Validator:
    return Validator(
        journal,
        MASTERS,
        HANOI,
        device_id="dev_test",
        route_id=route,
        stop_id="HN0010",
        clock=lambda: at,
    )


def finished(journal: Journal) -> list[dict[str, Any]]:
    return journal.outbox(1000)


def test_a_stored_value_tap_is_green_charged_and_journaled(journal: Journal) -> None:
    memory = issued(50_000)
    outcome = validator(journal).tap(Field(memory))
    assert outcome.signal.colour == GREEN
    assert outcome.signal.amount == 10_000
    assert outcome.signal.balance == 40_000
    assert balance_of(memory) == 40_000
    [tap] = finished(journal)
    assert tap["tap_id"] == outcome.tap_id
    assert tap["amount"] == 10_000
    assert tap["commit"] == "confirmed"
    assert tap["balance_after"] == 40_000


def test_the_journal_holds_each_tap_exactly_as_the_wire_record_writes_it(
    journal: Journal,
) -> None:
    memory = issued(50_000)
    validator(journal).tap(Field(memory))
    validator(journal, at=MORNING + timedelta(minutes=1)).tap(Field(memory))  # passback
    taps = finished(journal)
    assert [t["result"] for t in taps] == ["accepted", "denied"]
    assert [json.dumps(Tap.from_json(t).to_json()) for t in taps] == [json.dumps(t) for t in taps]
    assert [t["device_seq"] for t in taps] == [1, 2]


def test_a_deny_listed_card_is_red_and_untouched(journal: Journal) -> None:
    memory = issued(50_000)
    journal.apply_snapshot(
        {
            "version": 1,
            "deny": [{"card_uid": UID_HEX, "reason": "lost"}],
            "allow": [],
            "pending": [],
            "full": True,
            "tariff_version": "hanoi-2024-11",
        }
    )
    outcome = validator(journal).tap(Field(memory))
    assert (outcome.signal.colour, outcome.signal.code) == (RED, "denied_card")
    assert json.loads(outcome.as_json())["detail"] == "lost"
    assert balance_of(memory) == 50_000
    assert [t["reason"] for t in finished(journal)] == ["denied_card"]


def test_the_same_card_on_the_same_route_a_minute_later_is_refused(journal: Journal) -> None:
    memory = issued(50_000)
    validator(journal).tap(Field(memory))
    again = validator(journal, at=MORNING + timedelta(minutes=1)).tap(Field(memory))
    assert (again.signal.colour, again.signal.code) == (RED, "passback")
    assert balance_of(memory) == 40_000


def test_too_little_money_is_red_and_charges_nothing(journal: Journal) -> None:
    memory = issued(5_000)
    outcome = validator(journal, route="107").tap(Field(memory))
    assert (outcome.signal.colour, outcome.signal.code) == (RED, "insufficient_balance")
    assert balance_of(memory) == 5_000


def pending_credit(seq: int, amount: int) -> dict[str, Any]:
    return {
        "version": seq,
        "deny": [],
        "allow": [],
        "full": False,
        "tariff_version": "hanoi-2024-11",
        "pending": [
            {"seq": seq, "card_uid": UID_HEX, "kind": "credit", "amount": amount, "expires": None}
        ],
    }


def test_a_pending_credit_held_by_two_validators_reaches_the_card_once(tmp_path: Path) -> None:
    memory = issued(5_000)
    with Journal(tmp_path / "a.sqlite3") as first, Journal(tmp_path / "b.sqlite3") as second:
        for journal in (first, second):
            journal.apply_snapshot(pending_credit(1, 50_000))
        one = validator(first, route="09").tap(Field(memory))
        two = validator(second, route="32", at=MORNING + timedelta(hours=1)).tap(Field(memory))
        assert one.signal.colour == GREEN
        assert two.signal.colour == GREEN
        assert balance_of(memory) == 5_000 + 50_000 - 8_000 - 10_000
        # Both report the load as applied; the backend confirms it once.
        assert finished(first)[0]["applied_loads"] == [1]
        assert finished(second)[0]["applied_loads"] == [1]


def test_a_card_torn_before_the_commit_is_asked_again_and_charged_once(journal: Journal) -> None:
    memory = issued(50_000)
    torn = validator(journal).tap(Field(memory, tear_after=8))
    assert (torn.signal.colour, torn.signal.code) == (AMBER, "tap_again")
    assert balance_of(memory) == 50_000
    again = validator(journal, at=MORNING + timedelta(seconds=5)).tap(Field(memory))
    assert again.signal.colour == GREEN
    assert balance_of(memory) == 40_000
    assert [t["amount"] for t in finished(journal)] == [10_000]


def test_a_lost_commit_answer_is_settled_by_the_next_tap(journal: Journal) -> None:
    memory = issued(50_000)
    # The card runs CommitTransaction (the 11th APDU, after the UID) and leaves before answering.
    torn = validator(journal).tap(Field(memory, tear_after=11))
    assert torn.signal.code == "tap_again"
    assert balance_of(memory) == 40_000
    again = validator(journal, at=MORNING + timedelta(seconds=5)).tap(Field(memory))
    assert (again.signal.colour, again.signal.code) == (GREEN, "already_paid")
    assert balance_of(memory) == 40_000
    [tap] = finished(journal)
    assert tap["commit"] == "recovered"
    assert tap["amount"] == 10_000


def test_a_lost_commit_settled_hours_later_does_not_excuse_the_new_boarding(
    journal: Journal,
) -> None:
    memory = issued(50_000)
    validator(journal).tap(Field(memory, tear_after=11))
    later = validator(journal, at=MORNING + timedelta(hours=3)).tap(Field(memory))
    assert (later.signal.colour, later.signal.code) == (GREEN, "paid")
    assert balance_of(memory) == 30_000
    assert [t["commit"] for t in finished(journal)] == ["recovered", "confirmed"]


def test_a_lost_commit_the_card_never_made_is_not_taken_from_another_buss_charge(
    tmp_path: Path,
) -> None:
    memory = issued(50_000)
    with Journal(tmp_path / "a.sqlite3") as bus_a, Journal(tmp_path / "b.sqlite3") as bus_b:
        # Bus A loses the card before its commit ran: the charge never happened.
        torn = validator(bus_a).tap(Field(memory, tear_after=10))
        assert torn.signal.code == "tap_again"
        assert bus_a.open_intent(UID_HEX) is not None
        # The rider boards bus B instead, which charges the card (its counter moves on).
        other = validator(bus_b, route="09", at=MORNING + timedelta(minutes=1)).tap(Field(memory))
        assert other.signal.code == "paid"
        # Back on bus A an hour later: the counter moved, but the card's log shows it was bus B,
        # so A records no charge of its own for the torn tap.
        back = validator(bus_a, at=MORNING + timedelta(hours=1)).tap(Field(memory))
        assert (back.signal.colour, back.signal.code) == (GREEN, "paid")
        assert bus_a.open_intent(UID_HEX) is None
        assert [(t["route_id"], t["commit"]) for t in finished(bus_a)] == [("32", "confirmed")]
        assert balance_of(memory) == 50_000 - 8_000 - 10_000


def test_a_credit_the_purse_cannot_take_waits_and_the_tap_goes_on(journal: Journal) -> None:
    memory = issued(4_990_000)
    journal.apply_snapshot(pending_credit(1, 20_000))
    first = validator(journal).tap(Field(memory))
    assert (first.signal.colour, first.signal.code, first.signal.balance) == (
        GREEN,
        "paid",
        4_980_000,
    )
    # Spent down, the purse has room: the credit is written at the next tap.
    validator(journal, route="107", at=MORNING + timedelta(hours=1)).tap(Field(memory))
    assert balance_of(memory) == 4_990_000 - 10_000 - 20_000 + 20_000
    assert [t["loaded"] for t in finished(journal)] == [[], [1]]


def test_a_tap_that_writes_a_load_says_so(journal: Journal) -> None:
    memory = issued(5_000)
    journal.apply_snapshot(pending_credit(1, 20_000))
    validator(journal).tap(Field(memory))
    validator(journal, route="09", at=MORNING + timedelta(hours=1)).tap(Field(memory))
    first, second = finished(journal)
    assert (first["applied_loads"], first["loaded"], first["card_tx"]) == ([1], [1], 2)
    assert (second["applied_loads"], second["loaded"], second["card_tx"]) == ([1], [], 3)


def test_a_pending_pass_is_written_to_the_card_and_pays_the_same_tap(journal: Journal) -> None:
    memory = issued(5_000)
    version = HANOI.version_at(card_seconds(MORNING))
    assert version is not None
    entry = issue_pass(version, "pass_all_routes", "adult", date(2026, 12, 1))
    journal.apply_snapshot(
        {
            "version": 1,
            "deny": [],
            "allow": [],
            "full": True,
            "tariff_version": "hanoi-2024-11",
            "pending": [
                {
                    "seq": 1,
                    "card_uid": UID_HEX,
                    "kind": "pass",
                    "amount": 280_000,
                    "pass": entry._asdict(),
                    "expires": None,
                }
            ],
        }
    )
    outcome = validator(journal).tap(Field(memory))
    assert (outcome.signal.colour, outcome.signal.code) == (GREEN, "pass")
    assert balance_of(memory) == 5_000
    [tap] = finished(journal)
    assert (tap["loaded"], tap["paid_by"], tap["amount"], tap["card_tx"]) == ([1], "pass", 0, 2)


def test_a_new_category_is_written_before_the_tap_is_priced(journal: Journal) -> None:
    memory = issued(5_000)
    snapshot = pending_credit(1, 1)
    snapshot["pending"] = [
        {
            "seq": 1,
            "card_uid": UID_HEX,
            "kind": "profile",
            "amount": 0,
            "profile": {"category_code": 4, "valid_until": 65_535},  # elderly: rides free
            "expires": None,
        }
    ]
    journal.apply_snapshot(snapshot)
    outcome = validator(journal).tap(Field(memory))
    assert (outcome.signal.colour, outcome.signal.code) == (GREEN, "free")
    assert balance_of(memory) == 5_000
    [tap] = finished(journal)
    assert (tap["loaded"], tap["paid_by"]) == ([1], "free_category")


def test_an_ended_category_falls_back_to_the_adult_fare(journal: Journal) -> None:
    # A child's free card whose category ended yesterday (the sixth birthday): it pays now.
    # (Hanoi's students pay the adult single fare; their price differs only on passes.)
    memory = CardMemory.blank(UID)
    personalize(
        DesfireClient(Field(memory), rng=rng(2)),
        UID,
        MASTERS,
        card_number=8401_0000_0000_0017,
        category_code=5,
        valid_until=(MORNING - timedelta(days=1)).date(),
        balance=50_000,
        issued=date(2026, 9, 1),
    )
    outcome = validator(journal).tap(Field(memory))
    assert (outcome.signal.colour, outcome.signal.code) == (GREEN, "paid")
    assert balance_of(memory) == 40_000
    memory_free = CardMemory.blank(UID)
    personalize(
        DesfireClient(Field(memory_free), rng=rng(2)),
        UID,
        MASTERS,
        card_number=8401_0000_0000_0017,
        category_code=5,
        valid_until=(MORNING + timedelta(days=1)).date(),
        balance=50_000,
        issued=date(2026, 9, 1),
    )
    still = validator(journal, route="09").tap(Field(memory_free))
    assert (still.signal.code, balance_of(memory_free)) == ("free", 50_000)


def test_an_unknown_kind_of_load_holds_the_later_ones_back(journal: Journal) -> None:
    memory = issued(5_000)
    snapshot = pending_credit(2, 10_000)
    snapshot["pending"].insert(
        0, {"seq": 1, "card_uid": UID_HEX, "kind": "voucher", "amount": 1, "expires": None}
    )
    journal.apply_snapshot(snapshot)
    outcome = validator(journal).tap(Field(memory))
    assert outcome.signal.code == "insufficient_balance"  # the credit after it waited too
    assert balance_of(memory) == 5_000


def write_config(tmp_path: Path, **changes: str) -> Path:
    settings = {
        "device_id": "dev_1",
        "private_key": "01" * 32,
        "server_url": "http://127.0.0.1:8000",
        "reader": "Virtual PCD 00 00",
        "route_id": "32",
        "stop_id": "HN0010",
        "keys_file": "keys.json",
        "journal": "journal.sqlite3",
    }
    settings.update(changes)
    path = tmp_path / "device.toml"
    path.write_text("".join(f'{k} = "{v}"\n' for k, v in settings.items() if v != "-"))
    return path


def test_a_device_config_reads_its_paths_beside_itself(tmp_path: Path) -> None:
    config = DeviceConfig.load(write_config(tmp_path))
    assert config.journal == tmp_path / "journal.sqlite3"
    assert config.language == "vi"
    assert "01" * 32 not in repr(config)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"route_id": "-"}, "missing setting 'route_id'"),
        ({"server_url": "ftp://x"}, "must be http"),
        ({"private_key": "abcd"}, "64 hex digits"),
        ({"private_key": "zz"}, "non-hexadecimal"),
    ],
)
def test_a_bad_device_config_says_what_is_wrong(
    tmp_path: Path, changes: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        DeviceConfig.load(write_config(tmp_path, **changes))


def test_the_tap_line_masks_the_card_number(journal: Journal) -> None:
    outcome = validator(journal).tap(Field(issued(50_000)))
    line = json.loads(outcome.as_json())
    assert line["card"] == "************0017"
    assert (line["result"], line["reason"], line["amount"], line["balance"]) == (
        "accepted",
        "paid",
        10_000,
        40_000,
    )


def test_a_refused_tap_that_wrote_a_credit_reports_the_card_after_it(journal: Journal) -> None:
    memory = issued(1_000)
    journal.apply_snapshot(pending_credit(1, 5_000))
    outcome = validator(journal).tap(Field(memory))  # 6,000 after the credit; the fare is 10,000
    assert (outcome.signal.colour, outcome.signal.code) == (RED, "insufficient_balance")
    assert balance_of(memory) == 6_000
    [tap] = finished(journal)
    assert (tap["result"], tap["loaded"], tap["card_tx"], tap["balance_after"]) == (
        "denied",
        [1],
        1,
        6_000,
    )
