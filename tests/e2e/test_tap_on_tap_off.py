"""A student's morning under tap on and tap off, end to end through the real processes.

gunicorn serves the backend; pcscd with the vpcd driver holds the virtual card, which runs in a
process of its own; validators run as `python -m readers.validator`. The bus validator on route
32 is a door (`both`) that finds its stop from a real gpsd fed by gpsfake; the metro gates of
line 2A know their station from their config. The student boards bus 32 at one stop and alights
at another, then enters 2A at Cát Linh and leaves at Yên Nghĩa. The card, the backend's ledger
and the rider's history agree to the đồng, and the history shows the two journeys.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from readers.position import GpsdClient, PositionTracker, StopLocator, stops_for_route
from scripts.pcscd import VPCD_READER
from tests.api.test_reports import validate_offline
from tests.e2e.conftest import serving
from tests.e2e.test_bus_day import (
    ROOT,
    UID,
    Backend,
    card_in_field,
    read_card,
    stop,
    tap_once,
    wait_until_field_is_empty,
)
from tests.e2e.test_rider_app import call
from tests.integration.test_gps_position import free_port, stop_gpsfake
from tests.support.required import program
from transit.localtime import HANOI
from transit.services.demo import DEMO_PASSWORD, DEMO_PHONE

DEMO = ROOT / "data" / "demo-network"
BOARD, ALIGHT = "HN0043", "HN0053"  # two stops of route 32
SENTENCE_S = 0.02  # gpsfake's pause between sentences: a fix (two sentences) every 0.04 s


def _track_maker() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_track", ROOT / "tests" / "data" / "gps" / "make_track.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def dwell_track(path: Path) -> None:
    """A bus standing at BOARD for 1,000 fixes (40 s of replay), driving to ALIGHT, standing
    there for 1,500: room for a slow machine to tap while the bus stands."""
    nmea = _track_maker()
    stops = {stop.stop_id: stop for stop in stops_for_route(DEMO, "32")}
    a, b = stops[BOARD], stops[ALIGHT]
    when = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    lines = ["# A bus of route 32 dwelling at two stops, for the tap on, tap off test.\r\n"]
    points = [(a.lat, a.lon)] * 1000
    points += [
        (a.lat + (b.lat - a.lat) * i / 60, a.lon + (b.lon - a.lon) * i / 60) for i in range(60)
    ]
    points += [(b.lat, b.lon)] * 1500
    for point in points:
        lines += nmea.fix_sentences(when, point, 0.0, 0.0)
        when += timedelta(seconds=1)
    path.write_text("".join(lines), encoding="utf-8", newline="")


@pytest.fixture
def backend(tmp_path: Path, pcscd: str) -> Iterator[Backend]:
    with serving(tmp_path, ("cards", "keygen"), ("demo", "seed")) as served:
        yield served


class Gps:
    """gpsfake replaying the dwell track through its own gpsd, started when the bus is ready."""

    def __init__(self, home: Path) -> None:
        self.binary = program("gpsfake", "gpsd-clients")
        program("gpsd", "gpsd")
        self.home = home
        self.track = home / "dwell.nmea"
        dwell_track(self.track)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.home / "gpsfake.log").open("wb") as out:
            self.process = subprocess.Popen(
                [self.binary, "-1", "-n", "-q", "-c", str(SENTENCE_S), "-P", str(self.port),
                 str(self.track)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip


@pytest.fixture
def gps(tmp_path: Path) -> Iterator[Gps]:
    replay = Gps(tmp_path)
    try:
        yield replay
    finally:
        if replay.process is not None:
            stop_gpsfake(replay.process)


def start(backend: Backend, name: str, route: str, settings: dict[str, str]) -> Any:
    device = json.loads(backend.flask("devices", "register", "--route", route))
    lines = {
        "device_id": device["device_id"],
        "private_key": device["private_key"],
        "server_url": backend.url,
        "reader": VPCD_READER,
        "route_id": route,
        "keys_file": "keys.json",
        "journal": f"{name}.sqlite3",
        **settings,
    }
    config = backend.home / f"{name}.toml"
    config.write_text("".join(f'{key} = "{value}"\n' for key, value in lines.items()))
    with (backend.home / f"{name}.log").open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "readers.validator", "--config", str(config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )


def uploaded(backend: Backend, taps: int) -> None:
    backend.wait_for(f"SELECT COUNT(*) FROM taps WHERE card_uid = '{UID}'", taps)  # noqa: S608


def wait_for_stop(tracker: PositionTracker, stop_id: str) -> None:
    deadline = time.monotonic() + 60
    while tracker.current_stop() != stop_id:
        assert time.monotonic() < deadline, f"the bus never reached {stop_id}"
        time.sleep(0.02)
    time.sleep(0.5)  # the validator's own tracker reads the same gpsd


def test_a_student_rides_bus_32_then_line_2a_and_everything_agrees(
    backend: Backend, gps: Gps
) -> None:
    state = backend.home / "card.json"
    issued = issue_card_as(backend, state, "student", 100_000)
    token = sign_in(backend)
    status, linked = call(
        backend,
        "POST",
        "/api/v1/cards",
        {"card_number": issued["card_number"], "check_code": issued["check_code"]},
        token=token,
    )
    assert status == 201, linked

    door = {
        "stop_id": "",
        "direction": "both",
        "vehicle_id": "29B-032.07",
        "gpsd": f"127.0.0.1:{gps.port}",
        "gtfs_dir": str(DEMO),
    }
    locator = StopLocator(stops_for_route(DEMO, "32"), radius_m=50)
    client = GpsdClient("127.0.0.1", gps.port, first_retry_s=0.05, max_retry_s=0.2, timeout_s=0.2)
    bus = start(backend, "bus32", "32", door)
    try:
        # The bus's validator is up and looking for gpsd (it retries after 0.5, 1 and 2 s):
        # the track starts now, so neither misses the bus standing at its first stop.
        gps.start()
        with PositionTracker(locator, client) as tracker:
            wait_for_stop(tracker, BOARD)
            boarded = tap_once(bus, state)
            wait_for_stop(tracker, ALIGHT)
            alighted = tap_once(bus, state)
        uploaded(backend, 2)  # the validator syncs in the background
    finally:
        stop(bus)
    assert (boarded["result"], boarded["reason"], boarded["amount"]) == ("accepted", "paid", 10_000)
    assert (alighted["result"], alighted["reason"], alighted["amount"]) == (
        "accepted",
        "tapped_off",
        0,
    )

    entry = start(backend, "gate_cat_linh", "2A", {"stop_id": "M2A01P", "direction": "entry"})
    try:
        entered = tap_once(entry, state)
        uploaded(backend, 3)
    finally:
        stop(entry)
    exit_ = start(backend, "gate_yen_nghia", "2A", {"stop_id": "M2A12P", "direction": "exit"})
    try:
        left = tap_once(exit_, state)
        uploaded(backend, 4)
    finally:
        stop(exit_)
    assert (entered["reason"], entered["amount"]) == ("entered", 0)
    assert (left["reason"], left["amount"], left["balance"]) == ("paid", 15_000, 75_000)

    # The ledger: four taps, two journeys, and the shadow purse at what the card holds.
    mine = f"card_uid = '{UID}'"
    backend.wait_for(f"SELECT COUNT(*) FROM journeys WHERE {mine} AND status = 'complete'", 2)  # noqa: S608
    sql = f"SELECT route_id, direction, stop_id, amount FROM taps WHERE {mine} ORDER BY time"  # noqa: S608
    assert backend.query(sql) == [
        ("32", "entry", BOARD, 10_000),
        ("32", "exit", ALIGHT, 0),
        ("2A", "entry", "M2A01P", 0),
        ("2A", "exit", "M2A12P", 15_000),
    ]
    [(shadow,)] = backend.query(f"SELECT balance FROM card_shadows WHERE card_uid = '{UID}'")  # noqa: S608
    on_card = read_card(backend, state)
    assert on_card.balance == shadow == 100_000 - 10_000 - 15_000
    assert backend.query("SELECT kind FROM alerts") == []

    # The rider's history: the two journeys, with where each began and ended.
    status, history = call(
        backend, "GET", f"/api/v1/cards/{linked['card_id']}/journeys", token=token
    )
    assert status == 200
    assert [
        (j["route_id"], j["mode"], j["origin_stop_id"], j["destination_stop_id"], j["fare"])
        for j in history["data"]
    ] == [
        ("2A", "metro", "M2A01P", "M2A12P", 15_000),
        ("32", "bus", BOARD, ALIGHT, 10_000),
    ]
    assert [(j["origin_name"], j["destination_name"]) for j in history["data"]][0] == (
        "Cát Linh",
        "Yên Nghĩa",
    )
    status, trips = call(backend, "GET", f"/api/v1/cards/{linked['card_id']}/trips", token=token)
    assert status == 200
    assert trips["data"][0]["balance_after"] == on_card.balance
    assert sum(j["fare"] for j in history["data"]) == 100_000 - on_card.balance

    # The operator's ridership data counts the same journeys, and the TIDES package validates.
    today = datetime.now(UTC).astimezone(HANOI).date().isoformat()
    od = list(
        csv.DictReader(
            io.StringIO(backend.flask("reports", "od", "--from", today, "--to", today, "--csv"))
        )
    )
    pairs = {(row["route_id"], row["origin_stop_id"], row["destination_stop_id"]) for row in od}
    assert pairs >= {("32", BOARD, ALIGHT), ("2A", "M2A01P", "M2A12P")}
    out = backend.home / "tides"
    backend.flask("reports", "tides", "--from", today, "--to", today, "--out", str(out))
    report = validate_offline(out)
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


def issue_card_as(backend: Backend, state: Path, category: str, balance: int) -> dict[str, Any]:
    """A card of a rider category, valid to the end of the school year."""
    card = card_in_field(state)
    issued = json.loads(
        backend.flask(
            "cards",
            "issue",
            "--reader",
            VPCD_READER,
            "--balance",
            str(balance),
            "--category",
            category,
            "--valid-until",
            "2027-06-30",
        )  # fmt: skip
    )
    card.terminate()
    card.communicate(timeout=10)
    wait_until_field_is_empty()
    return dict(issued)


def sign_in(backend: Backend) -> str:
    status, tokens = call(
        backend, "POST", "/api/v1/auth/login", {"phone": DEMO_PHONE, "password": DEMO_PASSWORD}
    )
    assert status == 200, tokens
    return str(tokens["access_token"])
