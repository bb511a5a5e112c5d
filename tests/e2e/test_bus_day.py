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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cards.client import DesfireClient
from cards.transit import open_for_tap, read
from readers.pcsc import Pcsc
from tests.e2e.test_serving import free_port, get
from tests.support.pcscd import VPCD_READER, start_card_process
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


@pytest.fixture
def backend(tmp_path: Path, pcscd: str) -> Iterator[Backend]:
    backend = Backend(tmp_path)
    backend.flask("db", "upgrade")
    backend.flask("network", "import", "data/demo-network")
    backend.flask("cards", "keygen")
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=backend.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if get(backend.url + "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        yield backend
    finally:
        server.terminate()
        server.wait(timeout=30)


def card_in_field(state: Path) -> subprocess.Popen[bytes]:
    return start_card_process("cards.emulator", ["--uid", UID, "--state", str(state)])


def wait_until_field_is_empty() -> None:
    with Pcsc() as context:
        assert context.reader(VPCD_READER).wait_for_removal(timeout=10)


def start_validator(backend: Backend, name: str, route: str) -> subprocess.Popen[str]:
    device = json.loads(backend.flask("devices", "register", "--route", route))
    config = backend.home / f"{name}.toml"
    config.write_text(
        f'device_id = "{device["device_id"]}"\nprivate_key = "{device["private_key"]}"\n'
        f'server_url = "{backend.url}"\nreader = "{VPCD_READER}"\nroute_id = "{route}"\n'
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


def tap_once(validator: subprocess.Popen[str], state: Path) -> dict[str, Any]:
    card = card_in_field(state)
    try:
        assert validator.stdout is not None
        return dict(json.loads(validator.stdout.readline()))
    finally:
        card.terminate()
        card.communicate(timeout=10)
        wait_until_field_is_empty()


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
