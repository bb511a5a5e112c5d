"""The validator's journal: every tap on disk before the light turns green.

Standard-library sqlite3 in WAL mode with synchronous=FULL, so a committed write survives a
power cut or `kill -9` at any instant. Taps are append-only; what the server acknowledged is
kept beside them, never by changing them. Intents record a charge about to be sent to a card,
so that a commit whose answer was lost can be settled at the card's next tap.

QR tickets (docs/qr-ticket.md) have no chip to keep their fare state: the journal keeps it, per
virtual card number, in the card's own fare record bytes (`qr_fares`), and notes each QR code it
journaled (`qr_codes`: credential, signing time, amount charged) for the replay memory across
restarts and the offline spending limit; both are written in the tap's own transaction. The
snapshot's `ticket_issuers` are kept whole, replaced by each snapshot that carries them.

One Journal object per thread: sqlite3 connections are not shared across threads, and WAL lets
the tap loop and the sync thread each open the same file.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS intents (
    tap_id TEXT PRIMARY KEY,
    card_uid TEXT NOT NULL,
    card_tx_before INTEGER NOT NULL,
    draft TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open'  -- open, reported (still open), finished, dropped
);
CREATE INDEX IF NOT EXISTS intents_open ON intents (card_uid) WHERE state = 'open';
CREATE TABLE IF NOT EXISTS taps (
    device_seq INTEGER PRIMARY KEY,
    tap_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS acks (
    tap_id TEXT PRIMARY KEY REFERENCES taps (tap_id),
    status TEXT NOT NULL,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS deny (card_uid TEXT PRIMARY KEY, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    card_uid TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (card_uid, seq)
);
CREATE TABLE IF NOT EXISTS qr_codes (
    tap_id TEXT PRIMARY KEY REFERENCES taps (tap_id),
    credential_id TEXT NOT NULL,  -- 16 lowercase hex digits
    signed_at INTEGER NOT NULL,  -- unix seconds, the phone's signing time
    charged INTEGER NOT NULL  -- VND this validator charged (0 for a refused tap)
);
CREATE INDEX IF NOT EXISTS qr_codes_credential ON qr_codes (credential_id);
CREATE INDEX IF NOT EXISTS qr_codes_signed ON qr_codes (signed_at);
CREATE TABLE IF NOT EXISTS qr_fares (card_number TEXT PRIMARY KEY, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ticket_issuers (kid TEXT PRIMARY KEY, public_key TEXT NOT NULL);
-- QR credentials revoked before they expire (a lost phone): the latest snapshot's list.
CREATE TABLE IF NOT EXISTS revoked_credentials (credential_id TEXT PRIMARY KEY);
"""


@dataclass(frozen=True)
class Intent:
    """A charge sent to a card whose outcome the validator does not know."""

    tap_id: str
    card_uid: str
    card_tx_before: int
    draft: dict[str, Any]


class Journal:
    """The tap journal, the outbox, and the local copies of deny list and pending loads."""

    def __init__(self, path: Path, *, backlog_warning: int = 5_000) -> None:
        self.path = path
        self.backlog_warning = backlog_warning
        self._warned = False
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(SCHEMA)
        with self._transaction():
            # How many taps the server holds, kept beside the acks so the backlog is one read.
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) SELECT 'acked', COUNT(*) FROM acks"
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # -- taps ------------------------------------------------------------------------------

    def begin_tap(self, card_uid: str, card_tx_before: int, draft: dict[str, Any]) -> str:
        """Durably note a charge about to be sent to the card; returns its tap id."""
        tap_id = "tap_" + uuid.uuid4().hex
        with self._transaction():
            self._db.execute(
                "INSERT INTO intents (tap_id, card_uid, card_tx_before, draft) VALUES (?,?,?,?)",
                (tap_id, card_uid, card_tx_before, json.dumps(draft)),
            )
        return tap_id

    def record_tap(self, tap: dict[str, Any]) -> str:
        """Append a tap that charged nothing (a refusal) in one transaction; returns its id."""
        tap_id = "tap_" + uuid.uuid4().hex
        self._append(tap_id, tap, "finished")
        return tap_id

    def finish_tap(self, tap_id: str, tap: dict[str, Any]) -> int:
        """Append the tap and close its intent, in one transaction; returns its device_seq."""
        return self._append(tap_id, tap, "finished")

    def open_intent(self, card_uid: str) -> Intent | None:
        row = self._db.execute(
            "SELECT tap_id, card_tx_before, draft FROM intents"
            " WHERE card_uid = ? AND state IN ('open', 'reported') ORDER BY rowid DESC LIMIT 1",
            (card_uid,),
        ).fetchone()
        if row is None:
            return None
        return Intent(row[0], card_uid, row[1], json.loads(row[2]))

    def resolve_intent(self, tap_id: str, tap: dict[str, Any] | None) -> int | None:
        """Settle an open intent: the tap the card did commit, or None when it did not. An
        intent already reported as unknown (`report_lingering`) has its report replaced by the
        settled tap, which goes up again; one that did not commit leaves its report, which no
        tap of the card will ever prove."""
        with self._transaction():
            row = self._db.execute(
                "SELECT state FROM intents WHERE tap_id = ?", (tap_id,)
            ).fetchone()
            if row is not None and row[0] == "reported":
                self._db.execute(
                    "UPDATE intents SET state = ? WHERE tap_id = ?",
                    ("finished" if tap is not None else "dropped", tap_id),
                )
                return None if tap is None else self._replace_report(tap_id, tap)
        if tap is not None:
            return self._append(tap_id, tap, "finished")
        with self._transaction():
            self._db.execute(
                "UPDATE intents SET state = 'dropped' WHERE tap_id = ? AND state = 'open'",
                (tap_id,),
            )
        return None

    def report_lingering(self, before: datetime) -> int:
        """Report the charges whose answer the card never gave and that it has not come back to
        settle by `before` (the rider went on, perhaps to another bus): each goes into the
        outbox as `commit` `unknown` under its intent's tap id, and the server holds it until
        the card's next tap elsewhere proves it. The intent stays open: if the card does come
        back here, its settlement replaces the report. Returns how many were reported."""
        rows = self._db.execute("SELECT tap_id, draft FROM intents WHERE state = 'open'").fetchall()
        reported = 0
        for tap_id, draft in rows:
            body = json.loads(draft)
            began = body.get("time")
            if not isinstance(began, str) or datetime.fromisoformat(began) >= before:
                continue
            with self._transaction():
                # The tap thread may have settled it meanwhile (through its own connection).
                (state,) = self._db.execute(
                    "SELECT state FROM intents WHERE tap_id = ?", (tap_id,)
                ).fetchone()
                if state != "open":
                    continue
                self._insert_tap(tap_id, dict(body, commit="unknown"))
                self._db.execute(
                    "UPDATE intents SET state = 'reported' WHERE tap_id = ?", (tap_id,)
                )
            reported += 1
        if reported:
            log.warning("%d charges with no answer from the card reported as unknown", reported)
            self.backlog()
        return reported

    def _replace_report(self, tap_id: str, tap: dict[str, Any]) -> int:
        """Inside the caller's transaction: the settled tap in place of its unknown report, to
        be uploaded again. Returns its device_seq."""
        (seq,) = self._db.execute(
            "SELECT device_seq FROM taps WHERE tap_id = ?", (tap_id,)
        ).fetchone()
        self._db.execute(
            "UPDATE taps SET body = ? WHERE tap_id = ?",
            (json.dumps(dict(tap, tap_id=tap_id, device_seq=seq), ensure_ascii=False), tap_id),
        )
        unacked = self._db.execute("DELETE FROM acks WHERE tap_id = ?", (tap_id,)).rowcount
        if unacked:
            self._db.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) - ? WHERE key = 'acked'",
                (unacked,),
            )
        return int(seq)

    def _append(self, tap_id: str, tap: dict[str, Any], state: str) -> int:
        with self._transaction():
            seq = self._insert_tap(tap_id, tap)
            self._db.execute("UPDATE intents SET state = ? WHERE tap_id = ?", (state, tap_id))
        self.backlog()
        return seq

    def _insert_tap(self, tap_id: str, tap: dict[str, Any]) -> int:
        """Append a tap inside the caller's transaction; returns its device_seq."""
        (last,) = self._db.execute("SELECT COALESCE(MAX(device_seq), 0) FROM taps").fetchone()
        seq = int(last) + 1
        body = dict(tap, tap_id=tap_id, device_seq=seq)
        self._db.execute(
            "INSERT INTO taps (device_seq, tap_id, body) VALUES (?,?,?)",
            (seq, tap_id, json.dumps(body, ensure_ascii=False)),
        )
        return seq

    # -- QR tickets --------------------------------------------------------------------------

    def record_qr_tap(
        self,
        tap: dict[str, Any],
        *,
        credential_id: str,
        signed_at: int,
        fare_record: bytes | None,
    ) -> str:
        """Journal a QR tap, accepted or refused, in one transaction with what it changes: the
        code (for replays and the spending limit; `tap["amount"]` is what it charged) and, for
        an accepted tap, the virtual card's new fare record. Returns the tap's id."""
        tap_id = "tap_" + uuid.uuid4().hex
        with self._transaction():
            self._insert_tap(tap_id, tap)
            self._db.execute(
                "INSERT INTO qr_codes (tap_id, credential_id, signed_at, charged) VALUES (?,?,?,?)",
                (tap_id, credential_id, signed_at, int(tap["amount"])),
            )
            if fare_record is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO qr_fares (card_number, record) VALUES (?,?)",
                    (tap["card_number"], fare_record),
                )
        self.backlog()
        return tap_id

    def qr_fare(self, card_number: str) -> bytes | None:
        """The fare record this validator keeps for a virtual card, None before its first tap."""
        row = self._db.execute(
            "SELECT record FROM qr_fares WHERE card_number = ?", (card_number,)
        ).fetchone()
        return bytes(row[0]) if row else None

    def qr_charged(self, credential_id: str) -> int:
        """VND this validator has charged on a credential."""
        (total,) = self._db.execute(
            "SELECT COALESCE(SUM(charged), 0) FROM qr_codes WHERE credential_id = ?",
            (credential_id,),
        ).fetchone()
        return int(total)

    def qr_codes_since(self, signed_at: int) -> list[tuple[str, int]]:
        """(credential id, signing time) of the QR codes journaled, signed at `signed_at` or
        later: what the replay memory takes back after a restart."""
        rows = self._db.execute(
            "SELECT credential_id, signed_at FROM qr_codes WHERE signed_at >= ?", (signed_at,)
        ).fetchall()
        return [(str(credential), int(signed)) for credential, signed in rows]

    def forget_qr_codes(self, signed_before: int) -> int:
        """Forget the QR codes signed before `signed_before` (unix seconds): once their
        credential has expired no code of it can be accepted, so they count for neither the
        replay memory nor the spending limit. Their taps stay. Returns how many went."""
        with self._transaction():
            cursor = self._db.execute("DELETE FROM qr_codes WHERE signed_at < ?", (signed_before,))
        return cursor.rowcount

    # -- outbox ----------------------------------------------------------------------------

    def outbox(self, limit: int) -> list[dict[str, Any]]:
        """Taps the server has not acknowledged, oldest first."""
        rows = self._db.execute(
            "SELECT t.body FROM taps t LEFT JOIN acks a ON a.tap_id = t.tap_id"
            " WHERE a.tap_id IS NULL ORDER BY t.device_seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [json.loads(body) for (body,) in rows]

    def acknowledge(
        self, tap_ids: Iterable[str], status: str = "accepted", reason: str | None = None
    ) -> None:
        """The server has these taps (accepted, duplicate, or rejected with a reason).

        An id the journal never wrote (a server's answer gone wrong) is ignored, not an error
        that would stop every later upload.
        """
        with self._transaction():
            cursor = self._db.executemany(
                "INSERT OR IGNORE INTO acks (tap_id, status, reason)"
                " SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM taps WHERE tap_id = ?)",
                [(tap_id, status, reason, tap_id) for tap_id in tap_ids],
            )
            if cursor.rowcount > 0:
                self._db.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'acked'",
                    (cursor.rowcount,),
                )

    def backlog(self) -> int:
        """Taps written and not yet acknowledged; warns once when past the threshold."""
        (count,) = self._db.execute(
            "SELECT COALESCE((SELECT MAX(device_seq) FROM taps), 0)"
            " - (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'acked')"
        ).fetchone()
        if count > self.backlog_warning and not self._warned:
            log.warning("%d taps wait for upload (warning above %d)", count, self.backlog_warning)
            self._warned = True
        elif count <= self.backlog_warning:
            self._warned = False
        return int(count)

    # -- local copies from the server ------------------------------------------------------

    def apply_snapshot(self, snapshot: dict[str, Any]) -> None:
        """Merge a snapshot (or replace the copies when it says `full`)."""
        with self._transaction():
            if snapshot.get("full"):
                self._db.execute("DELETE FROM deny")
                self._db.execute("DELETE FROM pending")
            self._db.executemany(
                "INSERT OR REPLACE INTO deny (card_uid, reason) VALUES (?,?)",
                [(d["card_uid"], d["reason"]) for d in snapshot.get("deny", [])],
            )
            self._db.executemany(
                "DELETE FROM deny WHERE card_uid = ?",
                [(uid,) for uid in snapshot.get("allow", [])],
            )
            self._db.executemany(
                "DELETE FROM pending WHERE card_uid = ? AND seq = ?",
                [(w["card_uid"], int(w["seq"])) for w in snapshot.get("withdrawn", [])],
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO pending (card_uid, seq, body) VALUES (?,?,?)",
                [
                    (p["card_uid"], int(p["seq"]), json.dumps(p))
                    for p in snapshot.get("pending", [])
                ],
            )
            if "revoked_credentials" in snapshot:
                self._db.execute("DELETE FROM revoked_credentials")
                self._db.executemany(
                    "INSERT OR IGNORE INTO revoked_credentials (credential_id) VALUES (?)",
                    [(str(c),) for c in snapshot["revoked_credentials"]],
                )
            if "ticket_issuers" in snapshot:
                self._replace_ticket_issuers(
                    {i["kid"]: i["public_key"] for i in snapshot["ticket_issuers"]}
                )
            for key in ("version", "tariff_version"):
                if key in snapshot:
                    self._db.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES (?,?)",
                        (key, str(snapshot[key])),
                    )

    def credential_revoked(self, credential_id: str) -> bool:
        """Whether the latest snapshot lists this QR credential (hex id) as revoked."""
        found = self._db.execute(
            "SELECT 1 FROM revoked_credentials WHERE credential_id = ?", (credential_id,)
        ).fetchone()
        return found is not None

    def _replace_ticket_issuers(self, issuers: dict[str, str]) -> None:
        """The snapshot's list replaces the stored one; its revision moves only on a change."""
        if issuers == self.ticket_issuers():
            return
        self._db.execute("DELETE FROM ticket_issuers")
        self._db.executemany(
            "INSERT INTO ticket_issuers (kid, public_key) VALUES (?,?)", sorted(issuers.items())
        )
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('ticket_issuers_revision', 1)"
            " ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def ticket_issuers(self) -> dict[str, str]:
        """The keys QR credentials may be certified with: hex key id to hex public key."""
        rows = self._db.execute("SELECT kid, public_key FROM ticket_issuers").fetchall()
        return {str(kid): str(public) for kid, public in rows}

    def ticket_issuers_revision(self) -> int:
        """Goes up whenever a snapshot changes the issuer list (one read, for a cache's key)."""
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = 'ticket_issuers_revision'"
        ).fetchone()
        return int(row[0]) if row else 0

    def snapshot_version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row[0]) if row else 0

    def denied(self, card_uid: str) -> str | None:
        row = self._db.execute("SELECT reason FROM deny WHERE card_uid = ?", (card_uid,)).fetchone()
        return str(row[0]) if row else None

    def pending_for(self, card_uid: str, after_seq: int) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT body FROM pending WHERE card_uid = ? AND seq > ? ORDER BY seq",
            (card_uid, after_seq),
        ).fetchall()
        return [json.loads(body) for (body,) in rows]

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
