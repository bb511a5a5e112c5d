"""The validator's journal: append-only taps, intents, outbox, local copies, and kill -9."""

from __future__ import annotations

import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from readers.journal import Journal

UID = "04A1B2C3D4E5F6"
ROOT = Path(__file__).resolve().parents[3]


def test_taps_get_consecutive_device_sequence_numbers(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        seqs = [journal.finish_tap(journal.begin_tap(UID, n, {}), {"n": n}) for n in range(5)]
        assert seqs == [1, 2, 3, 4, 5]
        assert [t["n"] for t in journal.outbox(10)] == [0, 1, 2, 3, 4]


def test_an_acknowledged_tap_leaves_the_outbox_but_stays_in_the_journal(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        first = journal.begin_tap(UID, 0, {})
        journal.finish_tap(first, {"n": 1})
        second = journal.begin_tap(UID, 1, {})
        journal.finish_tap(second, {"n": 2})
        journal.acknowledge([first, first])
        assert [t["tap_id"] for t in journal.outbox(10)] == [second]
        assert journal.backlog() == 1


def test_an_open_intent_is_found_until_it_is_settled(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        tap_id = journal.begin_tap(UID, 4, {"amount": 10_000})
        intent = journal.open_intent(UID)
        assert intent is not None
        assert (intent.tap_id, intent.card_tx_before, intent.draft) == (
            tap_id,
            4,
            {"amount": 10_000},
        )
        assert journal.outbox(10) == []
        journal.resolve_intent(tap_id, None)
        assert journal.open_intent(UID) is None
        assert journal.outbox(10) == []


def test_a_recovered_intent_becomes_a_tap(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        tap_id = journal.begin_tap(UID, 4, {"amount": 10_000})
        assert journal.resolve_intent(tap_id, {"amount": 10_000, "commit": "recovered"}) == 1
        assert journal.open_intent(UID) is None
        assert journal.outbox(10)[0]["commit"] == "recovered"


def test_snapshots_merge_and_a_full_one_replaces(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        journal.apply_snapshot(
            {
                "version": 3,
                "deny": [{"card_uid": "A", "reason": "lost"}],
                "allow": [],
                "pending": [{"seq": 2, "card_uid": UID, "kind": "credit", "amount": 5}],
            }
        )
        journal.apply_snapshot(
            {
                "version": 4,
                "deny": [{"card_uid": "B", "reason": "suspected_clone"}],
                "allow": ["A"],
                "pending": [{"seq": 1, "card_uid": UID, "kind": "credit", "amount": 9}],
            }
        )
        assert journal.snapshot_version() == 4
        assert (journal.denied("A"), journal.denied("B")) == (None, "suspected_clone")
        assert [p["seq"] for p in journal.pending_for(UID, 0)] == [1, 2]
        assert [p["seq"] for p in journal.pending_for(UID, 1)] == [2]
        journal.apply_snapshot(
            {
                "version": 5,
                "deny": [],
                "allow": [],
                "pending": [],
                "withdrawn": [{"card_uid": UID, "seq": 1}],
            }
        )
        assert [p["seq"] for p in journal.pending_for(UID, 0)] == [2]
        journal.apply_snapshot({"version": 9, "full": True, "deny": [], "allow": [], "pending": []})
        assert journal.denied("B") is None
        assert journal.pending_for(UID, 0) == []


def test_an_acknowledgement_for_a_tap_it_never_wrote_is_ignored(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        kept = journal.record_tap({"result": "denied"})
        journal.acknowledge(["tap_" + "0" * 32, "", kept], "rejected", "invalid: time")
        assert journal.outbox(10) == []
        assert journal.backlog() == 0


def test_the_backlog_counts_what_the_server_has_not_got_across_reopenings(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite3"
    with Journal(path) as journal:
        ids = [journal.record_tap({"n": n}) for n in range(6)]
        journal.acknowledge(ids[:2])
        journal.acknowledge(ids[1:3], "duplicate")  # the second copy of ids[1] counts once
        assert journal.backlog() == 3
    with Journal(path) as again, Journal(path) as other_thread:
        assert again.backlog() == 3
        other_thread.acknowledge(ids[3:])
        assert again.backlog() == 0
        assert again.outbox(10) == []


def test_a_backlog_past_the_threshold_is_warned_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        Journal(tmp_path / "j.sqlite3", backlog_warning=2) as journal,
        caplog.at_level(logging.WARNING),
    ):
        for n in range(5):
            journal.finish_tap(journal.begin_tap(UID, n, {}), {})
    assert len([r for r in caplog.records if "wait for upload" in r.message]) == 1


def test_kill_9_at_random_moments_loses_no_finished_tap(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    printed: list[str] = []
    chance = random.Random(5)
    for _ in range(25):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.support.journal_writer", str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        time.sleep(0.05 + chance.random() * 0.15)
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        printed += [line for line in out.decode().splitlines() if line.startswith("tap_")]
    assert len(printed) > 25
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    seqs = [row[0] for row in db.execute("SELECT device_seq FROM taps ORDER BY device_seq")]
    assert seqs == list(range(1, len(seqs) + 1))
    stored = {row[0] for row in db.execute("SELECT tap_id FROM taps")}
    assert set(printed) <= stored
    db.close()


def issuers(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"kid": kid, "public_key": public} for kid, public in pairs]


def test_each_snapshot_replaces_the_ticket_issuers_and_moves_their_revision_on_a_change(
    tmp_path: Path,
) -> None:
    a, b = ("aa" * 8, "01" * 32), ("bb" * 8, "02" * 32)
    with Journal(tmp_path / "j.sqlite3") as journal:
        assert (journal.ticket_issuers(), journal.ticket_issuers_revision()) == ({}, 0)
        journal.apply_snapshot({"version": 1, "ticket_issuers": issuers(a, b)})
        assert journal.ticket_issuers() == dict([a, b])
        first = journal.ticket_issuers_revision()
        journal.apply_snapshot({"version": 2, "ticket_issuers": issuers(b, a)})  # the same list
        assert journal.ticket_issuers_revision() == first
        journal.apply_snapshot({"version": 3, "ticket_issuers": issuers(b)})  # not merged
        assert journal.ticket_issuers() == dict([b])
        assert journal.ticket_issuers_revision() > first
        journal.apply_snapshot({"version": 4, "deny": []})  # a snapshot without the list
        assert journal.ticket_issuers() == dict([b])
        journal.apply_snapshot({"version": 5, "ticket_issuers": []})
        assert journal.ticket_issuers() == {}


def qr_tap(amount: int, card: str = "8401000000000017") -> dict[str, object]:
    return {"card_uid": card, "card_number": card, "amount": amount, "medium": "qr"}


def test_a_qr_tap_its_code_and_its_fare_record_are_written_together(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        assert journal.qr_fare("8401000000000017") is None
        journal.record_qr_tap(
            qr_tap(10_000), credential_id="01" * 8, signed_at=1_000, fare_record=b"\x02" * 64
        )
        journal.record_qr_tap(qr_tap(0), credential_id="01" * 8, signed_at=1_030, fare_record=None)
        journal.record_qr_tap(
            qr_tap(7_000), credential_id="02" * 8, signed_at=1_060, fare_record=b"\x03" * 64
        )
        assert [t["amount"] for t in journal.outbox(10)] == [10_000, 0, 7_000]
        assert journal.qr_fare("8401000000000017") == b"\x03" * 64
        assert (journal.qr_charged("01" * 8), journal.qr_charged("02" * 8)) == (10_000, 7_000)
        assert journal.qr_charged("03" * 8) == 0
        assert sorted(journal.qr_codes_since(1_030)) == [("01" * 8, 1_030), ("02" * 8, 1_060)]
        # A tap that cannot be written leaves nothing of itself behind.
        with pytest.raises(KeyError):
            journal.record_qr_tap(
                {"amount": 5}, credential_id="04" * 8, signed_at=2_000, fare_record=b"\x04" * 64
            )
        assert len(journal.outbox(10)) == 3
        assert journal.qr_codes_since(2_000) == []


def test_old_qr_codes_are_forgotten_but_their_taps_stay(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        for signed_at, amount in ((1_000, 10_000), (1_030, 7_000), (90_000, 8_000)):
            journal.record_qr_tap(
                qr_tap(amount), credential_id="01" * 8, signed_at=signed_at, fare_record=None
            )
        assert journal.forget_qr_codes(1_031) == 2
        assert journal.qr_codes_since(0) == [("01" * 8, 90_000)]
        assert journal.qr_charged("01" * 8) == 8_000
        assert [t["amount"] for t in journal.outbox(10)] == [10_000, 7_000, 8_000]
        assert journal.forget_qr_codes(1_031) == 0


def test_a_reported_charge_settled_later_goes_up_again_in_its_place(tmp_path: Path) -> None:
    began = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    draft = {"time": began.isoformat(), "amount": 10_000, "card_tx": 3, "commit": "none"}
    with Journal(tmp_path / "j.sqlite3") as journal:
        kept = journal.begin_tap("04A1B2C3D4E5F6", 2, draft)
        dropped = journal.begin_tap("04A1B2C3D4E5F7", 5, dict(draft, card_tx=6))
        assert journal.report_lingering(began + timedelta(seconds=1)) == 2
        sent = journal.outbox(10)
        assert [(t["tap_id"], t["commit"]) for t in sent] == [
            (kept, "unknown"),
            (dropped, "unknown"),
        ]
        journal.acknowledge([kept, dropped])
        assert journal.backlog() == 0
        # The first card came back: its log shows the charge, which replaces the report.
        journal.resolve_intent(kept, dict(draft, commit="recovered"))
        # The second came back too, and the charge never happened: its report stays as it was.
        journal.resolve_intent(dropped, None)
        assert journal.backlog() == 1
        [again] = journal.outbox(10)
        assert (again["tap_id"], again["commit"], again["device_seq"]) == (kept, "recovered", 1)
        assert journal.open_intent("04A1B2C3D4E5F6") is None
        assert journal.open_intent("04A1B2C3D4E5F7") is None
        journal.acknowledge([kept])
        assert journal.backlog() == 0
