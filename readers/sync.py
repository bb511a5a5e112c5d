"""Sync with the backend in a background thread: upload the journal, fetch the snapshot.

A tap never waits for this. Failures back off exponentially with full jitter, up to a minute,
and never raise out of `run_forever`. The thread opens its own Journal on the same file.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from readers.journal import Journal
from readers.signing import sign
from wire import Snapshot

log = logging.getLogger(__name__)

VERSION = "0.1.0"
MAX_BACKOFF = 60.0
# A QR code is remembered this long after it was signed: its credential (at most a day) has
# expired by then, so the code counts for nothing (docs/qr-ticket.md).
QR_CODE_MEMORY = 2 * 86_400
# A charge whose answer the card never gave waits this long for the card to come back and
# settle it here; then it is reported as unknown (the rider went on, perhaps to another bus).
LOST_ANSWER_WAIT = timedelta(minutes=10)


class SyncError(Exception):
    """The server could not be reached or answered something unusable."""


class SyncClient:
    def __init__(
        self,
        base_url: str,
        device_id: str,
        private_seed: bytes,
        journal: Journal,
        *,
        clock: Callable[[], float] = time.time,
        batch_size: int = 500,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.device_id = device_id
        self.private_seed = private_seed
        self.journal = journal
        self.clock = clock
        self.batch_size = batch_size
        self.timeout = timeout

    def upload_once(self) -> int:
        """Send one batch of the outbox; returns how many taps the server now holds."""
        batch = self.journal.outbox(self.batch_size)
        if not batch:
            return 0
        body = json.dumps({"taps": batch}, ensure_ascii=False).encode()
        answer = self._request("POST", "/api/v1/validator/taps", body)
        delivered: list[str] = []
        for result in answer.get("results", []):
            status = result.get("status")
            if status in ("accepted", "duplicate"):
                delivered.append(result["tap_id"])
            elif status == "rejected":
                # Kept with its reason for the operator; resending would be refused again.
                self.journal.acknowledge([result["tap_id"]], "rejected", result.get("reason"))
                log.warning("server rejected %s: %s", result["tap_id"], result.get("reason"))
        self.journal.acknowledge(delivered)
        return len(delivered)

    def refresh_snapshot(self) -> bool:
        """Fetch what changed since the journal's snapshot version; True if anything did."""
        since = self.journal.snapshot_version()
        answer = self._request("GET", f"/api/v1/validator/snapshot?since={since}", b"")
        try:
            snapshot = Snapshot.from_json(answer)
        except (KeyError, TypeError, ValueError) as error:
            raise SyncError(f"snapshot: unexpected answer ({error!r})") from error
        issuers = {issuer.kid: issuer.public_key for issuer in snapshot.ticket_issuers}
        # The issuer list comes whole in every snapshot, and may change with no new version.
        if (
            snapshot.version == since
            and not snapshot.full
            and issuers == self.journal.ticket_issuers()
        ):
            return False
        self.journal.apply_snapshot(snapshot.to_json())
        return True

    def run_forever(self, stop: threading.Event, idle: float = 5.0) -> None:
        """Upload and refresh until `stop` is set, backing off while the server is away."""
        failures = 0
        while not stop.is_set():
            try:
                now = datetime.fromtimestamp(self.clock(), UTC)
                self.journal.report_lingering(now - LOST_ANSWER_WAIT)
                while self.upload_once() == self.batch_size and not stop.is_set():
                    pass
                self.refresh_snapshot()
                self.journal.forget_qr_codes(int(self.clock()) - QR_CODE_MEMORY)
                failures = 0
                wait = idle
            except Exception as error:  # noqa: BLE001  the thread must outlive any failure
                failures += 1
                wait = random.uniform(0, min(MAX_BACKOFF, 2.0**failures))  # noqa: S311  jitter
                log.warning("sync failed (%s), next try in %.1f s", error, wait)
            stop.wait(wait)

    def _request(self, method: str, path: str, body: bytes) -> dict[str, Any]:
        headers = sign(
            self.private_seed, self.device_id, method, path, body, timestamp=int(self.clock())
        )
        headers.update(
            {
                "Content-Type": "application/json",
                "User-Agent": f"transit-validator/{VERSION}",
                "X-Backlog": str(self.journal.backlog()),
            }
        )
        request = urllib.request.Request(  # noqa: S310  the configured server URL, http(s) only
            self.base_url + path,
            data=body if method != "GET" else None,
            headers=headers,
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                payload = response.read()
        except urllib.error.HTTPError as error:
            # Closed at once: the server holds a worker until the client hangs up, and a bus
            # retrying through an outage would otherwise keep it waiting seconds a time.
            error.close()
            raise SyncError(f"{method} {path}: {error}") from error
        except (urllib.error.URLError, OSError) as error:
            raise SyncError(f"{method} {path}: {error}") from error
        try:
            answer = json.loads(payload)
        except ValueError as error:
            raise SyncError(f"{method} {path}: not JSON") from error
        if not isinstance(answer, dict):
            raise SyncError(f"{method} {path}: unexpected answer")
        return answer
