"""QR tickets at the validator (docs/qr-ticket.md): checked, priced by the fare engine from the
credential and the fare state the journal keeps per virtual card, bounded by the offline limit,
journaled before the green light; the main loop with a serial scanner; `--qr-image`.

Credentials and tickets are made here with the test vector's keys (tests/unit/wire/qr_vector.py),
at whatever time a test needs; the journal is a real one on disk.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric import ed25519
from PIL import Image

from cards.application import MasterKeys, personalize
from cards.client import DesfireClient
from cards.emulator.memory import CardMemory
from cards.layout import PASSES_SIZE, unpack_fare_state
from fares import Direction, Journey, Tariff, card_seconds, load_hanoi_tariff, load_tariff
from fares.passes import issue_pass
from readers.display import GREEN, RED, Signal
from readers.journal import Journal
from readers.tickets import compressed
from readers.validator import DeviceConfig, Outcome, Validator, run
from tests.support.virtual_card import Field, rng
from tests.unit.wire import qr_vector
from transit.models import TicketCredential
from transit.services import credentials
from wire import Tap, qr

ROOT = Path(__file__).resolve().parents[3]
HANOI = load_hanoi_tariff()
METROVILLE = load_tariff(Path(__file__).resolve().parents[1] / "fares" / "tariffs" / "metroville")
MASTERS = MasterKeys(*(bytes([0x40 + n]) * 16 for n in range(6)))
T0 = qr_vector.NOT_BEFORE + 3600  # 2026-12-06 14:00 in Hanoi, within the vector's credential
CARD = qr_vector.credential().card_number
CREDENTIAL_ID = qr_vector.credential().credential_id.hex()


def issuers_snapshot(*keys: ed25519.Ed25519PrivateKey, version: int = 1) -> dict[str, Any]:
    return {
        "version": version,
        "full": False,
        "tariff_version": "hanoi-2025-09",
        "deny": [],
        "allow": [],
        "pending": [],
        "withdrawn": [],
        "ticket_issuers": [
            {
                "kid": qr.key_id(qr_vector.raw(key.public_key())).hex(),
                "public_key": qr_vector.raw(key.public_key()).hex(),
            }
            for key in keys
        ],
    }


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.sqlite3") as opened:
        opened.apply_snapshot(issuers_snapshot(qr_vector.issuer_key()))
        yield opened


def paying(**changes: Any) -> qr.Credential:
    """The vector's credential without its pass: a student who pays each ride."""
    return replace(qr_vector.credential(), passes=(), **changes)


def code(
    credential: qr.Credential,
    signed_at: int,
    issuer: ed25519.Ed25519PrivateKey | None = None,
) -> str:
    """What the phone shows: the credential (issued by the vector's issuer) signed at a time."""
    issued = qr_vector.issue(credential, issuer or qr_vector.issuer_key())
    return qr_vector.sign_ticket(issued, signed_at, qr_vector.phone_key())


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def validator(
    journal: Journal,
    when: int = T0,
    route: str = "32",
    *,
    stop: str = "HN0010",
    tariff: Tariff = HANOI,
    direction: Direction = Direction.ENTRY,
) -> Validator:
    return Validator(
        journal,
        MASTERS,
        tariff,
        device_id="dev_qr",
        route_id=route,
        stop_id=stop,
        direction=direction,
        clock=lambda: at(when),
    )


def signal(outcome: Outcome) -> tuple[str, str, int | None]:
    return outcome.signal.colour, outcome.signal.code, outcome.signal.amount


def test_an_accepted_code_charges_the_fare_and_is_journaled_as_a_qr_tap(journal: Journal) -> None:
    outcome = validator(journal).qr_tap(code(paying(), T0 - 5))
    assert signal(outcome) == (GREEN, "paid", 10_000)
    assert outcome.signal.balance is None
    line = json.loads(outcome.as_json())
    assert (line["result"], line["amount"], line["balance"], line["medium"]) == (
        "accepted",
        10_000,
        None,
        "qr",
    )
    assert (line["card"], line["tap_id"]) == ("************0017", outcome.tap_id)
    [tap] = journal.outbox(10)
    assert tap["tap_id"] == outcome.tap_id
    assert (tap["medium"], tap["card_uid"], tap["card_number"]) == ("qr", CARD, CARD)
    assert tap["credential_id"] == CREDENTIAL_ID
    assert tap["code_signed_at"] == at(T0 - 5).isoformat()
    assert (tap["result"], tap["amount"], tap["paid_by"], tap["commit"]) == (
        "accepted",
        10_000,
        "stored_value",
        "confirmed",
    )
    assert (tap["balance_after"], tap["card_tx"], tap["applied_loads"], tap["loaded"]) == (
        None,
        None,
        [],
        [],
    )
    assert Tap.from_json(tap).to_json() == tap
    assert journal.qr_charged(CREDENTIAL_ID) == 10_000
    # The phone's signature goes up with it: the backend's own check finds it holds for the
    # credential it issued, and not for another card's.
    issued = qr_vector.issue(paying(), qr_vector.issuer_key())
    certified = TicketCredential(
        credential_id=CREDENTIAL_ID,
        phone_key=compressed(qr_vector.phone_key().public_key()).hex(),
        issued_at=at(qr_vector.NOT_BEFORE),
        expires_at=at(qr_vector.NOT_BEFORE + 86_400),
        credential=issued,
    )
    uploaded = Tap.from_json(tap)
    assert len(uploaded.code_signature) == 86
    assert credentials.check_proof(uploaded, (certified, CARD)) == credentials.Proof("valid")
    assert credentials.check_proof(uploaded, (certified, "8401000000000025")).verdict == "invalid"


def test_a_code_shown_again_is_a_replay_and_the_next_code_is_priced_as_a_new_tap(
    journal: Journal,
) -> None:
    first = code(paying(), T0)
    running = validator(journal)
    assert running.qr_tap(first).signal.colour == GREEN
    assert signal(running.qr_tap(first)) == (RED, "qr_replayed", None)
    # The phone's next code, 30 s later: a valid ticket, which the fare engine refuses on the
    # same route (Hanoi's passback rule), and which is journaled like a card's refusal.
    later = validator(journal, T0 + 30)
    refused = later.qr_tap(code(paying(), T0 + 30))
    assert signal(refused) == (RED, "passback", None)
    accepted, passback = journal.outbox(10)
    assert (passback["result"], passback["reason"], passback["medium"]) == (
        "denied",
        "passback",
        "qr",
    )
    assert passback["code_signed_at"] == at(T0 + 30).isoformat()
    # On another route it is a second boarding, with its own fare.
    other = validator(journal, T0 + 60, route="09").qr_tap(code(paying(), T0 + 60))
    assert signal(other) == (GREEN, "paid", 8_000)
    assert journal.qr_charged(CREDENTIAL_ID) == 18_000


def test_a_code_a_minute_old_is_stale_and_not_journaled(journal: Journal) -> None:
    outcome = validator(journal).qr_tap(code(paying(), T0 - 60))
    assert signal(outcome) == (RED, "qr_stale", None)
    assert journal.outbox(10) == []


def test_a_deny_listed_virtual_card_is_refused_and_journaled(journal: Journal) -> None:
    journal.apply_snapshot(
        {
            **issuers_snapshot(qr_vector.issuer_key(), version=2),
            "deny": [{"card_uid": CARD, "reason": "lost"}],
        }
    )
    outcome = validator(journal).qr_tap(code(paying(), T0))
    assert signal(outcome) == (RED, "qr_denied", None)
    assert json.loads(outcome.as_json())["detail"] == "lost"
    [tap] = journal.outbox(10)
    assert (tap["result"], tap["reason"], tap["amount"], tap["card_uid"], tap["medium"]) == (
        "denied",
        "qr_denied",
        0,
        CARD,
        "qr",
    )
    assert tap["credential_id"] == CREDENTIAL_ID
    assert journal.qr_charged(CREDENTIAL_ID) == 0


def test_the_spending_limit_lets_the_account_go_below_zero_by_one_fare_at_most(
    journal: Journal,
) -> None:
    limited = paying(limit=15_000)
    assert signal(validator(journal).qr_tap(code(limited, T0))) == (GREEN, "paid", 10_000)
    # An hour later on route 09: 8,000 more than the 5,000 left; one fare below zero is allowed.
    later = T0 + 3600
    overdrawn = validator(journal, later, route="09").qr_tap(code(limited, later))
    assert signal(overdrawn) == (GREEN, "paid", 8_000)
    # Nothing is left: the next fare is refused.
    latest = later + 3600
    refused = validator(journal, latest, route="32").qr_tap(code(limited, latest))
    assert signal(refused) == (RED, "qr_limit", 10_000)
    *_, denied = journal.outbox(10)
    assert (denied["result"], denied["reason"], denied["amount"]) == ("denied", "qr_limit", 0)
    assert denied["explanation"].startswith("needs 10000, 0 left")
    assert journal.qr_charged(CREDENTIAL_ID) == 18_000
    # The limit is the credential's: the next day's credential may charge again.
    renewed = paying(limit=15_000, credential_id=bytes(range(8)))
    again = validator(journal, latest + 10, route="32").qr_tap(code(renewed, latest + 10))
    assert signal(again) == (GREEN, "paid", 10_000)


def test_a_credential_with_a_monthly_pass_rides_for_nothing_with_no_limit(
    journal: Journal,
) -> None:
    version = HANOI.version_at(card_seconds(at(T0)))
    assert version is not None
    monthly = issue_pass(version, "pass_all_routes", "student", date(2026, 12, 1))
    credential = replace(
        qr_vector.credential(), passes=(qr.PassGrant(*monthly),), limit=0
    )  # nothing may be charged offline
    outcome = validator(journal).qr_tap(code(credential, T0))
    assert signal(outcome) == (GREEN, "pass", 0)
    [tap] = journal.outbox(10)
    assert (tap["paid_by"], tap["amount"], tap["medium"]) == ("pass", 0, "qr")
    # Without the pass, the same credential could not pay.
    refused = validator(journal, T0 + 3600, route="09").qr_tap(
        code(replace(credential, passes=(), credential_id=bytes(8)), T0 + 3600)
    )
    assert signal(refused) == (RED, "qr_limit", 8_000)


def journey(journal: Journal) -> int:
    """The open journey in the fare record the journal keeps for the virtual card, read as a
    card's."""
    record = journal.qr_fare(CARD)
    assert record is not None
    return unpack_fare_state(record + bytes(PASSES_SIZE)).journey


def metro(journal: Journal, stop: str, direction: Direction, when: int) -> Validator:
    return validator(journal, when, "M1", stop=stop, tariff=METROVILLE, direction=direction)


def test_tap_on_and_tap_off_on_the_metro_charges_the_station_pair_at_the_exit(
    journal: Journal,
) -> None:
    adult = paying(category_code=1)  # Metroville's adult
    entered = metro(journal, "S1", Direction.ENTRY, T0).qr_tap(code(adult, T0))
    assert signal(entered) == (GREEN, "entered", 0)
    assert journey(journal) == Journey.AT_EXIT
    exit_at = T0 + 14 * 60
    left = metro(journal, "S3", Direction.EXIT, exit_at).qr_tap(code(adult, exit_at))
    assert signal(left) == (GREEN, "paid", 10_000)
    entry, exit_ = journal.outbox(10)
    assert (entry["direction"], entry["paid_by"], entry["amount"], entry["stop_id"]) == (
        "entry",
        "at_exit",
        0,
        "S1",
    )
    assert (exit_["direction"], exit_["amount"], exit_["stop_id"]) == ("exit", 10_000, "S3")
    assert exit_["entry_time"] == entry["time"]
    assert [t["medium"] for t in (entry, exit_)] == ["qr", "qr"]
    assert journey(journal) == Journey.NONE
    assert journal.qr_charged(CREDENTIAL_ID) == 10_000


def test_a_metro_entry_with_nothing_left_to_spend_is_refused(journal: Journal) -> None:
    broke = paying(category_code=1, limit=0)  # the dearest fare from S1 is 12,000
    outcome = metro(journal, "S1", Direction.ENTRY, T0).qr_tap(code(broke, T0))
    assert signal(outcome) == (RED, "qr_limit", 12_000)
    [tap] = journal.outbox(10)
    assert tap["reason"] == "qr_limit"
    # Nothing was opened: an exit now finds no journey to price.
    assert journal.qr_fare(CARD) is None
    # With anything left, the entry opens (the exit may take the account one fare below zero).
    some = paying(category_code=1, limit=1_000, credential_id=bytes(range(8)))
    entered = metro(journal, "S1", Direction.ENTRY, T0 + 5).qr_tap(code(some, T0 + 5))
    assert signal(entered) == (GREEN, "entered", 0)


def test_a_code_accepted_before_a_restart_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    shown = code(paying(), T0)
    with Journal(path) as first:
        first.apply_snapshot(issuers_snapshot(qr_vector.issuer_key()))
        assert validator(first).qr_tap(shown).signal.colour == GREEN
    with Journal(path) as reopened:
        restarted = validator(reopened, T0 + 10)
        assert signal(restarted.qr_tap(shown)) == (RED, "qr_replayed", None)
        assert len(reopened.outbox(10)) == 1


def test_a_new_issuer_list_in_a_snapshot_is_picked_up_by_the_running_validator(
    journal: Journal,
) -> None:
    new_issuer = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    running = validator(journal)
    assert signal(running.qr_tap(code(paying(), T0, new_issuer))) == (
        RED,
        "qr_unknown_issuer",
        None,
    )
    # The sync thread writes the snapshot through its own connection.
    with Journal(journal.path) as sync_side:
        sync_side.apply_snapshot(issuers_snapshot(new_issuer, version=2))
    assert signal(running.qr_tap(code(paying(), T0 + 1, new_issuer))) == (GREEN, "paid", 10_000)
    # The old key is no longer in the list: its credentials are refused.
    old = code(paying(credential_id=bytes(8)), T0 + 2)
    assert running.qr_tap(old).signal.code == "qr_unknown_issuer"


def test_junk_is_refused_not_journaled_and_never_logged(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    stale = code(paying(), T0 - 120)
    junk = [
        "https://example.com/secret-token-4711",
        "HT1:SECRET$JUNK",
        "HT1:" + qr.b45encode(b"secret bytes that are no CBOR"),
        stale,
    ]
    running = validator(journal)
    with caplog.at_level(logging.DEBUG):
        outcomes = [running.qr_tap(text) for text in junk]
    assert [o.signal.code for o in outcomes] == ["qr_not_a_ticket"] * 3 + ["qr_stale"]
    assert all(o.signal.colour == RED and o.tap_id is None for o in outcomes)
    assert journal.outbox(10) == []
    assert running.qr_refusals == {"qr_not_a_ticket": 3, "qr_stale": 1}
    assert len(caplog.records) >= 4  # each refusal is logged ...
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for text in junk:  # ... without the code
        assert text not in logged
        assert text[4:40] not in logged


# -- the main loop, with a serial QR scanner on a pseudo-terminal ----------------------------


def write_device(tmp_path: Path, **settings: str) -> Path:
    (tmp_path / "keys.json").write_text(
        json.dumps(
            {
                name: getattr(MASTERS, name).hex()
                for name in ("picc", "issuer", "read", "debit", "load", "profile")
            }
        )
    )
    lines = {
        "device_id": "dev_qr",
        "private_key": "01" * 32,
        "server_url": "http://127.0.0.1:9",
        "reader": "none",
        "route_id": "32",
        "stop_id": "HN0010",
        "keys_file": "keys.json",
        "journal": "journal.sqlite3",
        **settings,
    }
    path = tmp_path / "device.toml"
    path.write_text("".join(f'{key} = "{value}"\n' for key, value in lines.items()))
    with Journal(tmp_path / "journal.sqlite3") as journal:
        journal.apply_snapshot(issuers_snapshot(qr_vector.issuer_key()))
    return path


def live_code() -> str:
    """A code a phone would show now, on a credential valid now (the loop keeps real time)."""
    now = int(time.time())
    return code(paying(not_before=now - 60, expires=now + 3600), now)


class RecordingDisplay:
    def __init__(self) -> None:
        self.shown: list[Signal] = []

    def show(self, signal: Signal) -> None:
        self.shown.append(signal)

    def beep(self, colour: str) -> None:
        pass


class InField:
    """A virtual card held in the field, as readers.pcsc.Card is while a tap is decided."""

    def __init__(self, memory: CardMemory) -> None:
        self.field = Field(memory)

    def transmit(self, apdu: bytes) -> bytes:
        return self.field.transmit(apdu)

    def __enter__(self) -> InField:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class Enough(Exception):
    """Ends a test's main loop."""


class FakeReader:
    """A card reader: `cards` are put in the field one per wait; then nothing comes, or the
    loop is ended once `until` says so. A card stays until `removed` says so."""

    def __init__(self, display: RecordingDisplay, cards: list[InField], shown: int) -> None:
        self.display = display
        self.cards = cards
        self.shown = shown

    def wait_for_card(self, timeout: float | None) -> InField | None:
        if self.cards:
            return self.cards.pop(0)
        if len(self.display.shown) >= self.shown:
            raise Enough
        time.sleep(timeout or 0)
        return None

    def wait_for_removal(self, timeout: float | None) -> bool:
        # The card stays on the reader until a QR code has been decided meanwhile.
        if len(self.display.shown) >= self.shown:
            return True
        time.sleep(timeout or 0)
        return False


@pytest.fixture
def pty() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    try:
        yield master, os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


@pytest.fixture
def scanner_sends(pty: tuple[int, str]) -> Iterator[list[str]]:
    """Lines put in the list are sent by the scanner module, again every 0.2 s (the validator
    opens the port a moment after the test starts, and opening it flushes what was waiting)."""
    master, _ = pty
    lines: list[str] = []
    stop = threading.Event()

    def send() -> None:
        while not stop.wait(0.2):
            for line in list(lines):
                os.write(master, line.encode() + b"\r\n")

    sender = threading.Thread(target=send)
    sender.start()
    try:
        yield lines
    finally:
        stop.set()
        sender.join(timeout=5)


def test_the_main_loop_decides_a_code_from_the_serial_scanner_once(
    tmp_path: Path,
    pty: tuple[int, str],
    scanner_sends: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = DeviceConfig.load(write_device(tmp_path, qr_scanner=f"serial:{pty[1]}"))
    display = RecordingDisplay()
    scanner_sends.append(live_code())
    reader = FakeReader(display, [], shown=99)
    assert run(config, once=True, sync=False, display=display, card_reader=reader) == 0
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert (line["result"], line["medium"], line["card"]) == ("accepted", "qr", "************0017")
    assert [s.colour for s in display.shown] == [GREEN]
    with Journal(config.journal) as journal:
        [tap] = journal.outbox(10)
    assert (tap["medium"], tap["tap_id"]) == ("qr", line["tap_id"])


def test_the_main_loop_serves_a_code_while_a_card_is_still_on_the_reader(
    tmp_path: Path,
    pty: tuple[int, str],
    scanner_sends: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = DeviceConfig.load(write_device(tmp_path, qr_scanner=f"serial:{pty[1]}"))
    memory = CardMemory.blank(bytes.fromhex("04A1B2C3D4E5F6"))
    personalize(
        DesfireClient(Field(memory), rng=rng(2)),
        bytes.fromhex("04A1B2C3D4E5F6"),
        MASTERS,
        card_number=8401_0000_0000_0025,
        category_code=1,
        valid_until=None,
        balance=50_000,
        issued=date(2026, 1, 5),
    )
    display = RecordingDisplay()
    scanner_sends.append(live_code())
    reader = FakeReader(display, [InField(memory)], shown=2)
    with pytest.raises(Enough):
        run(config, once=False, sync=False, display=display, card_reader=reader)
    lines = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert [(line["medium"], line["result"]) for line in lines[:2]] == [
        ("card", "accepted"),
        ("qr", "accepted"),
    ]
    with Journal(config.journal) as journal:
        assert [t["medium"] for t in journal.outbox(10)] == ["card", "qr"]


# -- a device.toml's qr_scanner, and --qr-image ------------------------------------------------


def test_a_device_config_takes_a_qr_scanner_and_refuses_a_bad_one(tmp_path: Path) -> None:
    assert DeviceConfig.load(write_device(tmp_path)).qr_scanner == ""
    good = DeviceConfig.load(write_device(tmp_path, qr_scanner="serial:/dev/ttyACM0@9600"))
    assert good.qr_scanner == "serial:/dev/ttyACM0@9600"
    with pytest.raises(ValueError, match="qr_scanner: unknown scanner spec 'camera:/dev/video0'"):
        DeviceConfig.load(write_device(tmp_path, qr_scanner="camera:/dev/video0"))
    with pytest.raises(ValueError, match="qr_scanner: bad baud rate"):
        DeviceConfig.load(write_device(tmp_path, qr_scanner="serial:/dev/ttyACM0@fast"))


# Runs the validator's command line with pyscard made unimportable: --qr-image must not need it.
WITHOUT_PYSCARD = (
    "import sys; sys.modules['smartcard'] = None; "
    "from readers.validator import main; sys.exit(main(sys.argv[1:]))"
)


def qr_image_tap(config: Path, image: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  our own interpreter and module
        [sys.executable, "-c", WITHOUT_PYSCARD, "--config", str(config)]
        + ["--qr-image", str(image), "--once"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_qr_image_is_decided_from_the_command_line_without_pyscard(tmp_path: Path) -> None:
    config = write_device(tmp_path)
    text = live_code()
    image = tmp_path / "screenshot.png"
    segno.make(text, error="m").save(str(image), kind="png", scale=4, border=4)
    first = qr_image_tap(config, image)
    assert first.returncode == 0, first.stderr
    [line] = [json.loads(row) for row in first.stdout.splitlines()]
    assert (line["result"], line["medium"], line["card"]) == ("accepted", "qr", "************0017")
    # A second process on the same journal: the same code is a replay (exit status 1).
    second = qr_image_tap(config, image)
    assert second.returncode == 1, second.stderr
    assert json.loads(second.stdout)["reason"] == "qr_replayed"
    for run_ in (first, second):
        assert text[4:60] not in run_.stdout + run_.stderr
    with Journal(tmp_path / "journal.sqlite3") as journal:
        assert [t["medium"] for t in journal.outbox(10)] == ["qr"]


def test_an_image_with_no_code_is_an_error(tmp_path: Path) -> None:
    config = write_device(tmp_path)
    image = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(image)
    done = qr_image_tap(config, image)
    assert done.returncode == 2
    assert "no QR code" in done.stderr
    assert done.stdout == ""


def test_sync_once_says_when_the_server_cannot_be_reached_and_keeps_the_taps(
    tmp_path: Path,
) -> None:
    """`--sync-once` (server_url is a closed port here): exit 1 with the reason; the journal's
    taps stay in the outbox for the next try."""
    config = write_device(tmp_path)
    image = tmp_path / "screenshot.png"
    segno.make(live_code(), error="m").save(str(image), kind="png", scale=4, border=4)
    assert qr_image_tap(config, image).returncode == 0
    done = subprocess.run(  # noqa: S603  our own interpreter and module
        [sys.executable, "-c", WITHOUT_PYSCARD, "--config", str(config), "--sync-once"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: POST /api/v1/validator/taps")
    with Journal(tmp_path / "journal.sqlite3") as journal:
        assert journal.backlog() == 1
