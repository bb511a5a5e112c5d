"""A bus morning end to end: gunicorn backend, pcscd, the virtual card and validators, each a
process of its own, and at the end the card, the validators' journals and the backend agree."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cards.application import open_for_tap, read
from cards.client import DesfireClient
from cards.emulator.process import start_card_process
from readers.pcsc import Pcsc
from scripts.pcscd import VPCD_READER
from tests.e2e.test_serving import free_port, get
from transit.keystore import load_master_keys

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
UID = "04B0B0CAFE0001"


class Backend:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {
            **os.environ,
            "TRANSIT_DATABASE_URL": f"sqlite:///{home / 'transit.sqlite3'}",
            "TRANSIT_CARD_KEYS_FILE": str(home / "keys.json"),
            "TRANSIT_BIND": f"127.0.0.1:{free_port()}",
            "WEB_CONCURRENCY": "2",
        }
        self.url = "http://" + self.env["TRANSIT_BIND"]

    def flask(self, *args: str) -> str:
        result = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            check=False,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        import sqlite3

        with sqlite3.connect(self.home / "transit.sqlite3") as db:
            return db.execute(sql).fetchall()

    def start(self) -> None:
        # The log is where the development SMS sender writes the codes it "sends".
        with (self.home / "gunicorn.log").open("a") as log:
            self.server = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        for _ in range(100):
            try:
                if get(self.url + "/readyz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the backend did not come up within 10 s")

    def stop(self) -> None:
        self.server.terminate()
        self.server.wait(timeout=30)

    def wait_for(self, sql: str, expected: Any, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (found := self.query(sql)[0][0]) != expected:
            assert time.monotonic() < deadline, f"{sql}: {found!r}, not {expected!r}"
            time.sleep(0.2)


# A second reader slot, for a second bus running at the same time.
SECOND_READER, SECOND_PORT = "Virtual PCD 00 01", 35964


def card_in_field(state: Path, port: int = 35963) -> subprocess.Popen[bytes]:
    return start_card_process(
        "cards.emulator", ["--uid", UID, "--state", str(state), "--port", str(port)]
    )


def wait_until_field_is_empty(reader: str = VPCD_READER) -> None:
    with Pcsc() as context:
        assert context.reader(reader).wait_for_removal(timeout=10)


def start_validator(
    backend: Backend, name: str, route: str, reader: str = VPCD_READER
) -> subprocess.Popen[str]:
    device = json.loads(backend.flask("devices", "register", "--route", route))
    config = backend.home / f"{name}.toml"
    config.write_text(
        f'device_id = "{device["device_id"]}"\nprivate_key = "{device["private_key"]}"\n'
        f'server_url = "{backend.url}"\nreader = "{reader}"\nroute_id = "{route}"\n'
        f'stop_id = "HN0001"\nkeys_file = "keys.json"\njournal = "{name}.sqlite3"\n'
    )
    with (backend.home / f"{name}.log").open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "readers.validator", "--config", str(config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )


def test_ten_taps_on_two_buses_agree_to_the_dong(backend: Backend) -> None:
    state = backend.home / "card.json"
    card = card_in_field(state)
    issued = json.loads(
        backend.flask("cards", "issue", "--reader", VPCD_READER, "--balance", "50000")
    )
    card.terminate()
    card.communicate(timeout=10)
    wait_until_field_is_empty()

    lines: list[dict[str, Any]] = []
    for name, route in (("bus32", "32"), ("bus09", "09")):
        validator = start_validator(backend, name, route)
        try:
            for _ in range(5):
                card = card_in_field(state)
                assert validator.stdout is not None
                lines.append(json.loads(validator.stdout.readline()))
                card.terminate()
                card.communicate(timeout=10)
                wait_until_field_is_empty()
            # Wait for this bus to upload its taps.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                (uploaded,) = backend.query(
                    f"SELECT COUNT(*) FROM taps WHERE route_id = '{route}'"  # noqa: S608
                )[0]
                if uploaded == 5:
                    break
                time.sleep(0.2)
        finally:
            validator.terminate()
            validator.communicate(timeout=10)

    # First tap on each bus pays (10,000 on route 32, 8,000 on route 09); the rest are the same
    # card again within the passback window, refused with the reason the driver reads.
    assert [(x["result"], x["reason"]) for x in lines] == (
        [("accepted", "paid")] + [("denied", "passback")] * 4
    ) * 2
    assert sum(x["amount"] for x in lines if x["result"] == "accepted") == 18_000
    assert all(x["card"].endswith(issued["card_number"][-4:]) for x in lines)

    rows = backend.query("SELECT result, amount FROM taps ORDER BY time")
    assert len(rows) == 10
    assert sum(amount for result, amount in rows if result == "accepted") == 18_000
    [(shadow,)] = backend.query(f"SELECT balance FROM card_shadows WHERE card_uid = '{UID}'")  # noqa: S608
    assert shadow == 50_000 - 18_000
    assert backend.query("SELECT kind FROM alerts") == []
    # The card itself, read once more by a validator, says the same.
    assert lines[-1]["balance"] == shadow


FARES = {
    "01": 12_000,
    "09": 8_000,
    "32": 10_000,
    "34": 10_000,
    "86": 15_000,
    "107": 20_000,
    "BRT01": 8_000,
}


def tap_once(
    validator: subprocess.Popen[str], state: Path, reader: str = VPCD_READER, port: int = 35963
) -> dict[str, Any]:
    card = card_in_field(state, port)
    try:
        assert validator.stdout is not None
        return dict(json.loads(validator.stdout.readline()))
    finally:
        card.terminate()
        card.communicate(timeout=10)
        wait_until_field_is_empty(reader)


def journal_count(backend: Backend, name: str, sql: str) -> int:
    import sqlite3

    with sqlite3.connect(backend.home / f"{name}.sqlite3") as db:
        try:
            return int(db.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # the validator has not made its tables yet
            return -1


def wait_for_journal(backend: Backend, name: str, sql: str, expected: int) -> None:
    deadline = time.monotonic() + 60
    while journal_count(backend, name, sql) != expected:
        assert time.monotonic() < deadline, f"{name}: {sql} never gave {expected}"
        time.sleep(0.2)


def issue_card(backend: Backend, state: Path, balance: int) -> dict[str, Any]:
    card = card_in_field(state)
    issued = json.loads(
        backend.flask("cards", "issue", "--reader", VPCD_READER, "--balance", str(balance))
    )
    card.terminate()
    card.communicate(timeout=10)
    wait_until_field_is_empty()
    return dict(issued)


def read_card(backend: Backend, state: Path) -> Any:
    masters = load_master_keys(backend.home / "keys.json")
    card = card_in_field(state)
    try:
        with Pcsc() as context:
            connection = context.reader(VPCD_READER).wait_for_card(timeout=10)
            assert connection is not None
            with connection:
                client = DesfireClient(connection)
                open_for_tap(client, bytes.fromhex(UID), masters)
                return read(client, bytes.fromhex(UID), verify_purse=True)
    finally:
        card.terminate()
        card.communicate(timeout=10)
        wait_until_field_is_empty()


def stop(validator: subprocess.Popen[str]) -> None:
    validator.terminate()
    validator.communicate(timeout=10)


def test_a_load_held_by_two_buses_an_outage_and_a_blocked_card(backend: Backend) -> None:
    state = backend.home / "card.json"
    issued = issue_card(backend, state, 50_000)
    backend.flask("cards", "credit", issued["card_number"], "20000", "--reason", "refund")
    bus32 = start_validator(backend, "bus32", "32")
    bus09 = start_validator(backend, "bus09", "09", SECOND_READER)
    try:
        for name in ("bus32", "bus09"):
            wait_for_journal(backend, name, "SELECT COUNT(*) FROM pending", 1)
        backend.stop()  # the server is down for the rest of the morning's taps

        first = tap_once(bus32, state)
        second = tap_once(bus09, state, SECOND_READER, SECOND_PORT)
        # The load reached the card once, on the first bus; both buses charged their fare.
        assert (first["reason"], first["amount"], first["balance"]) == ("paid", 10_000, 60_000)
        assert (second["reason"], second["amount"], second["balance"]) == ("paid", 8_000, 52_000)
        for name in ("bus32", "bus09"):
            assert journal_count(backend, name, "SELECT COUNT(*) FROM taps") == 1

        backend.start()  # back: the taps made while it was away go up
        backend.wait_for("SELECT COUNT(*) FROM taps", 2)
        backend.wait_for("SELECT status FROM pending_actions", "confirmed")
        backend.wait_for(f"SELECT balance FROM card_shadows WHERE card_uid = '{UID}'", 52_000)  # noqa: S608
        assert backend.query("SELECT kind FROM alerts") == []

        backend.flask("cards", "block", issued["card_number"], "--reason", "lost")
        wait_for_journal(backend, "bus09", "SELECT COUNT(*) FROM deny", 1)
        refused = tap_once(bus09, state, SECOND_READER, SECOND_PORT)
        assert (refused["result"], refused["reason"], refused["detail"]) == (
            "denied",
            "denied_card",
            "lost",
        )
        backend.wait_for("SELECT COUNT(*) FROM taps WHERE result = 'denied'", 1)
    finally:
        stop(bus32)
        stop(bus09)
    assert backend.query("SELECT route_id, amount FROM taps WHERE result = 'accepted'") in (
        [("32", 10_000), ("09", 8_000)],
        [("09", 8_000), ("32", 10_000)],
    )
    on_card = read_card(backend, state)
    assert (on_card.balance, on_card.counters.transactions) == (52_000, 3)  # load, two fares


@pytest.mark.parametrize(
    ("command", "when", "nth", "pending", "retap"),
    [
        # Power lost as the validator sent the debit: the card never charged.
        ("DC", "before", 1, False, "paid"),
        # The card committed the charge, and the validator died before the answer came.
        ("C7", "after", 1, False, "already_paid"),
        # The card committed a pending load, and the validator died before charging the fare.
        ("C7", "after", 1, True, "paid"),
    ],
)
def test_a_validator_killed_at_an_exact_command_loses_and_doubles_nothing(
    backend: Backend, command: str, when: str, nth: int, pending: bool, retap: str
) -> None:
    state = backend.home / "card.json"
    issued = issue_card(backend, state, 50_000)
    if pending:
        backend.flask("cards", "credit", issued["card_number"], "20000", "--reason", "refund")
    validator = start_validator(backend, "bus32", "32")
    if pending:
        wait_for_journal(backend, "bus32", "SELECT COUNT(*) FROM pending", 1)
    else:
        time.sleep(1.5)  # booted, waiting for a card
    killer = start_card_process(
        "tests.support.killer_card",
        ["--uid", UID, "--state", str(state), "--kill", str(validator.pid)]
        + ["--command", command, "--when", when, "--nth", str(nth)],
    )
    assert validator.wait(timeout=20) == -signal.SIGKILL
    validator.communicate(timeout=10)
    killer.terminate()
    killer.communicate(timeout=10)
    wait_until_field_is_empty()

    validator = restart_validator(backend, "bus32")
    try:
        line = tap_once(validator, state)
        assert (line["result"], line["reason"]) == ("accepted", retap)
        backend.wait_for("SELECT COUNT(*) FROM taps", 1)
        if pending:
            backend.wait_for("SELECT status FROM pending_actions", "confirmed")
    finally:
        stop(validator)
    loaded = 20_000 if pending else 0
    assert backend.query("SELECT amount FROM taps WHERE result = 'accepted'") == [(10_000,)]
    on_card = read_card(backend, state)
    assert on_card.balance == 50_000 + loaded - 10_000
    assert on_card.counters.transactions == (2 if pending else 1)
    backend.wait_for(
        f"SELECT balance FROM card_shadows WHERE card_uid = '{UID}'",  # noqa: S608
        on_card.balance,
    )
    assert backend.query("SELECT kind FROM alerts") == []


def test_validators_killed_at_random_moments_lose_and_double_nothing(backend: Backend) -> None:
    state = backend.home / "card.json"
    card = card_in_field(state)
    backend.flask("cards", "issue", "--reader", VPCD_READER, "--balance", "500000")
    card.terminate()
    card.communicate(timeout=10)
    wait_until_field_is_empty()
    chance = random.Random(11)
    for route in FARES:
        validator = start_validator(backend, f"bus{route}", route)
        time.sleep(1.5)  # booted, waiting for a card
        card = card_in_field(state)
        time.sleep(chance.random() * 1.0)  # pcscd notices a card within ~0.4 s
        validator.send_signal(signal.SIGKILL)  # the bus loses power, mid-tap or just after
        validator.communicate(timeout=10)
        card.terminate()
        card.communicate(timeout=10)
        wait_until_field_is_empty()
        # Power is back: the same validator, the same journal; the rider taps again.
        validator = restart_validator(backend, f"bus{route}")
        try:
            line = tap_once(validator, state)
            assert line["result"] == "accepted" or line["reason"] == "passback", line
            deadline = time.monotonic() + 30
            while (
                time.monotonic() < deadline
                and backend.query(
                    f"SELECT COUNT(*) FROM taps WHERE route_id = '{route}'"  # noqa: S608
                )[0][0]
                < 1
            ):
                time.sleep(0.2)
        finally:
            validator.terminate()
            validator.communicate(timeout=10)

    charged = backend.query("SELECT route_id, amount FROM taps WHERE result = 'accepted'")
    assert sorted(charged) == sorted(FARES.items())  # one charge per bus, none lost or doubled
    [(shadow,)] = backend.query(f"SELECT balance FROM card_shadows WHERE card_uid = '{UID}'")  # noqa: S608
    assert shadow == 500_000 - sum(FARES.values())
    assert backend.query("SELECT kind FROM alerts") == []
    # The card itself agrees with the ledger, read without charging it.
    masters = load_master_keys(backend.home / "keys.json")
    card = card_in_field(state)
    try:
        with Pcsc() as context:
            connection = context.reader(VPCD_READER).wait_for_card(timeout=10)
            assert connection is not None
            with connection:
                client = DesfireClient(connection)
                open_for_tap(client, bytes.fromhex(UID), masters)
                on_card = read(client, bytes.fromhex(UID), verify_purse=True)
    finally:
        card.terminate()
        card.communicate(timeout=10)
    assert on_card.balance == shadow
    assert on_card.counters.transactions == len(FARES)


def restart_validator(backend: Backend, name: str) -> subprocess.Popen[str]:
    with (backend.home / f"{name}.log").open("a") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "readers.validator",
                "--config",
                str(backend.home / f"{name}.toml"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
