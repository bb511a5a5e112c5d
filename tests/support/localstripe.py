"""localstripe (a stateful stand-in for Stripe's API, from PyPI) on 127.0.0.1 for the tests,
and a small receiver that catches the webhooks it sends, exactly as they were signed."""

from __future__ import annotations

import json
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WEBHOOK_SECRET = "whsec_test_" + "5" * 24


class LocalstripeUnavailable(RuntimeError):
    """localstripe is not installed."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Delivered:
    """A webhook as localstripe sent it: body bytes and headers."""

    def __init__(self, body: bytes, headers: dict[str, str]) -> None:
        self.body = body
        self.headers = headers

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


class Localstripe:
    def __init__(self, base: str, process: subprocess.Popen[bytes]) -> None:
        self.base = base
        self.process = process
        self.webhooks: queue.Queue[Delivered] = queue.Queue()
        self._receiver: ThreadingHTTPServer | None = None

    def listen_for_webhooks(self) -> None:
        """Start the receiver and register it with localstripe for every event."""
        inbox = self.webhooks

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                inbox.put(Delivered(body, {k: v for k, v in self.headers.items()}))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._receiver.serve_forever, daemon=True).start()
        port = self._receiver.server_address[1]
        data = f"url=http://127.0.0.1:{port}/hook&secret={WEBHOOK_SECRET}".encode()
        request = urllib.request.Request(  # noqa: S310  loopback
            self.base + "/_config/webhooks/tests", data=data, method="POST"
        )
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310  loopback
            pass

    def next_webhook(self, kind: str, timeout: float = 10) -> Delivered:
        deadline = time.monotonic() + timeout
        while True:
            delivered = self.webhooks.get(timeout=max(0.1, deadline - time.monotonic()))
            if delivered.event["type"] == kind:
                return delivered

    def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.shutdown()
            self._receiver.server_close()
        self.process.terminate()
        self.process.wait(timeout=10)


PICKLE = Path("/tmp/localstripe.pickle")  # noqa: S108  where localstripe itself keeps its data


def start_localstripe() -> Localstripe:
    binary = shutil.which("localstripe") or str(Path(sys.executable).parent / "localstripe")
    if not Path(binary).exists():
        raise LocalstripeUnavailable("pip install localstripe (requirements-dev.txt)")
    # localstripe rewrites /tmp/localstripe.pickle on every change and loads it at start; one
    # stopped in the middle of a write leaves a truncated file that the next one dies reading.
    # Every test starts empty anyway (the flush below), so the file goes first.
    PICKLE.unlink(missing_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise LocalstripeUnavailable("localstripe did not start") from None
            time.sleep(0.05)
            continue
        base = f"http://127.0.0.1:{port}"
        # localstripe keeps its data in /tmp/localstripe.pickle across runs: start empty.
        flush = urllib.request.Request(base + "/_config/data", method="DELETE")  # noqa: S310
        with urllib.request.urlopen(flush, timeout=5):  # noqa: S310  loopback
            return Localstripe(base, process)
