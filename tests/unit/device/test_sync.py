"""The validator's sync client against a small signed-request server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from readers.journal import Journal
from readers.signing import sign
from readers.sync import QR_CODE_MEMORY, SyncClient, SyncError
from wire.signing import canonical_request

SEED = bytes([1]) * 32
DEVICE = "dev_test"
UID = "04A1B2C3D4E5F6"


def test_the_signature_matches_the_protocols_test_vector() -> None:
    body = b'{"taps":[]}'
    nonce = "000102030405060708090a0b0c0d0e0f"
    canonical = canonical_request("POST", "/api/v1/validator/taps", 1764300000, nonce, body)
    assert canonical.decode().splitlines() == [
        "POST",
        "/api/v1/validator/taps",
        "1764300000",
        nonce,
        "dddbcdef320b1c3ccfd75afed3149f3c2311e5384fbd6a0cb286c8488675bbaf",
    ]
    headers = sign(
        SEED, DEVICE, "POST", "/api/v1/validator/taps", body, timestamp=1764300000, nonce=nonce
    )
    assert headers["X-Signature"] == (
        "TVPfyHw73Q6H7eGwczWsF27BpP66wiQu2P0boxfTS+zRbi1jA/+Pc7LPsM8aqt/re9Cb43UShj9bak411OCQDA=="
    )
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key()
    public.verify(base64.b64decode(headers["X-Signature"]), canonical)
    with pytest.raises(InvalidSignature):
        public.verify(base64.b64decode(headers["X-Signature"]), canonical + b"x")


class Backend:
    """What the stub server knows: taps received, failures to fake, a snapshot to hand out."""

    def __init__(self) -> None:
        self.fail_next = 0
        self.taps: dict[str, dict[str, Any]] = {}
        self.nonces: set[str] = set()
        self.snapshot: dict[str, Any] = {"version": 0, "deny": [], "allow": [], "pending": []}
        self.public = Ed25519PrivateKey.from_private_bytes(SEED).public_key()


@pytest.fixture
def backend() -> Iterator[tuple[Backend, str]]:
    state = Backend()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _verified(self, body: bytes) -> bool:
            h = self.headers
            nonce = h.get("X-Nonce", "")
            if nonce in state.nonces or h.get("X-Device-Id") != DEVICE:
                return False
            state.nonces.add(nonce)
            canonical = canonical_request(
                self.command, self.path, int(h.get("X-Timestamp", "0")), nonce, body
            )
            try:
                state.public.verify(base64.b64decode(h.get("X-Signature", "")), canonical)
            except (InvalidSignature, ValueError):
                return False
            return True

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.fail_next:
                state.fail_next -= 1
                return self._answer(503, {"code": "service_unavailable"})
            if not self._verified(body):
                return self._answer(401, {"code": "device_unauthorized"})
            results = []
            for tap in json.loads(body)["taps"]:
                seen = tap["tap_id"] in state.taps
                state.taps.setdefault(tap["tap_id"], tap)
                results.append(
                    {"tap_id": tap["tap_id"], "status": "duplicate" if seen else "accepted"}
                )
            return self._answer(200, {"results": results})

        def do_GET(self) -> None:  # noqa: N802
            if not self._verified(b""):
                return self._answer(401, {"code": "device_unauthorized"})
            return self._answer(200, state.snapshot)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def journal_with_taps(path: Path, count: int) -> Journal:
    journal = Journal(path)
    for n in range(count):
        journal.finish_tap(journal.begin_tap(UID, n, {}), {"n": n, "amount": 8000})
    return journal


def test_taps_are_uploaded_once_and_leave_the_outbox(
    backend: tuple[Backend, str], tmp_path: Path
) -> None:
    state, url = backend
    with journal_with_taps(tmp_path / "j.sqlite3", 7) as journal:
        client = SyncClient(url, DEVICE, SEED, journal, batch_size=5)
        assert client.upload_once() == 5
        assert client.upload_once() == 2
        assert client.upload_once() == 0
        assert journal.backlog() == 0
    assert sorted(t["n"] for t in state.taps.values()) == list(range(7))


def test_while_the_server_is_down_taps_wait_and_go_up_after(
    backend: tuple[Backend, str], tmp_path: Path
) -> None:
    state, url = backend
    state.fail_next = 2
    with journal_with_taps(tmp_path / "j.sqlite3", 3) as journal:
        client = SyncClient(url, DEVICE, SEED, journal)
        for _ in range(2):
            with pytest.raises(SyncError):
                client.upload_once()
            assert journal.backlog() == 3
        assert client.upload_once() == 3
    assert len(state.taps) == 3


def test_an_error_answer_is_hung_up_at_once(tmp_path: Path) -> None:
    # gunicorn keeps a worker until the client closes: a bus retrying through an outage must
    # not hold one for seconds with each refused request.
    hung_up = threading.Event()

    def answer_503(listener: socket.socket) -> None:
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(5)
            received = b""
            while b"\r\n\r\n" not in received:
                received += connection.recv(65536)
            head, _, body = received.partition(b"\r\n\r\n")
            length = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
            assert length is not None
            while len(body) < int(length.group(1)):
                body += connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                b"Content-Length: 2\r\n\r\n{}"
            )
            connection.shutdown(socket.SHUT_WR)
            if connection.recv(1) == b"":
                hung_up.set()

    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(target=answer_503, args=(listener,))
        server.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with journal_with_taps(tmp_path / "j.sqlite3", 1) as journal:
            with pytest.raises(SyncError) as refused:
                SyncClient(url, DEVICE, SEED, journal).upload_once()
            # Hung up while the error is still held, not when it is collected.
            assert hung_up.wait(timeout=2), "the connection stayed open"
            assert "503" in str(refused.value)
            assert journal.backlog() == 1
        server.join(timeout=10)


def test_a_wrong_key_is_refused_and_nothing_is_acknowledged(
    backend: tuple[Backend, str], tmp_path: Path
) -> None:
    _, url = backend
    with journal_with_taps(tmp_path / "j.sqlite3", 2) as journal:
        client = SyncClient(url, DEVICE, bytes([2]) * 32, journal)
        with pytest.raises(SyncError, match="401"):
            client.upload_once()
        assert journal.backlog() == 2


def test_the_snapshot_reaches_the_local_copies(
    backend: tuple[Backend, str], tmp_path: Path
) -> None:
    state, url = backend
    state.snapshot = {
        "version": 5,
        "full": True,
        "tariff_version": "hanoi-2024-11",
        "deny": [{"card_uid": "04AA", "reason": "reported_lost"}],
        "allow": [],
        "pending": [{"seq": 1, "card_uid": UID, "kind": "credit", "amount": 20000}],
    }
    with Journal(tmp_path / "j.sqlite3") as journal:
        client = SyncClient(url, DEVICE, SEED, journal)
        assert client.refresh_snapshot() is True
        assert journal.snapshot_version() == 5
        assert journal.denied("04AA") == "reported_lost"
        assert journal.pending_for(UID, 0)[0]["amount"] == 20000


def test_the_ticket_issuers_are_taken_even_when_the_version_did_not_move(
    backend: tuple[Backend, str], tmp_path: Path
) -> None:
    state, url = backend
    issuer = {"kid": "aa" * 8, "public_key": "01" * 32}
    state.snapshot = {
        "version": 5,
        "full": False,
        "tariff_version": "hanoi-2024-11",
        "deny": [],
        "allow": [],
        "pending": [],
        "ticket_issuers": [issuer],
    }
    with Journal(tmp_path / "j.sqlite3") as journal:
        client = SyncClient(url, DEVICE, SEED, journal)
        assert client.refresh_snapshot() is True
        assert journal.ticket_issuers() == {"aa" * 8: "01" * 32}
        assert client.refresh_snapshot() is False  # nothing new
        # A new key with no new version: the list comes whole in every snapshot.
        state.snapshot["ticket_issuers"] = [issuer, {"kid": "bb" * 8, "public_key": "02" * 32}]
        assert client.refresh_snapshot() is True
        assert set(journal.ticket_issuers()) == {"aa" * 8, "bb" * 8}
        assert journal.snapshot_version() == 5


@contextmanager
def sync_loop(url: str, path: Path) -> Iterator[None]:
    """The validator's background sync loop, on its own connection to the journal (as the
    validator runs it), until the block ends."""
    stop = threading.Event()

    def sync() -> None:
        with Journal(path) as own:
            SyncClient(url, DEVICE, SEED, own).run_forever(stop, idle=0.05)

    thread = threading.Thread(target=sync)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def eventually(condition: Callable[[], bool]) -> None:
    """Waits up to 5 s for `condition`; the caller's assertion then says what it saw."""
    for _ in range(100):
        if condition():
            return
        time.sleep(0.05)


def test_the_background_loop_keeps_going_through_failures(
    backend: tuple[Backend, str], tmp_path: Path
) -> None:
    state, url = backend
    state.fail_next = 1
    path = tmp_path / "j.sqlite3"
    journal_with_taps(path, 4).close()
    with sync_loop(url, path):
        eventually(lambda: len(state.taps) == 4)
    assert len(state.taps) == 4


def test_the_background_loop_forgets_qr_codes_once_their_credential_has_expired(
    backend: tuple[Backend, str], tmp_path: Path
) -> None:
    _, url = backend
    path = tmp_path / "j.sqlite3"
    now = int(time.time())
    card = "8401000000000017"
    with Journal(path) as journal:
        for signed_at in (now - QR_CODE_MEMORY - 10, now - 60):
            journal.record_qr_tap(
                {"card_uid": card, "card_number": card, "amount": 0, "medium": "qr"},
                credential_id="01" * 8,
                signed_at=signed_at,
                fare_record=None,
            )
    with sync_loop(url, path), Journal(path) as watching:
        eventually(lambda: len(watching.qr_codes_since(0)) == 1)
        assert watching.qr_codes_since(0) == [("01" * 8, now - 60)]


def test_a_charge_the_card_never_answered_goes_up_as_unknown_once_the_rider_has_gone(
    backend: tuple[Backend, str], tmp_path: Path
) -> None:
    state, url = backend
    path = tmp_path / "j.sqlite3"
    now = datetime.now(UTC)
    with Journal(path) as journal:
        for minutes_ago in (20, 1):  # the card left 20 minutes ago, and one just now
            began = (now - timedelta(minutes=minutes_ago)).isoformat()
            journal.begin_tap(UID, 4, {"time": began, "amount": 8000, "card_tx": 5})
    with sync_loop(url, path):
        eventually(lambda: bool(state.taps))
    [reported] = state.taps.values()
    assert (reported["commit"], reported["card_tx"]) == ("unknown", 5)
    with Journal(path) as journal:
        assert journal.open_intent(UID) is not None  # the card may still come back to settle it
