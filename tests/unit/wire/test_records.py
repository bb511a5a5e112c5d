"""The wire records read and write exactly the JSON of docs/validator-protocol.md."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from wire import Denial, PassRecord, PendingAction, ProfileRecord, Snapshot, Tap, Withdrawal

HANOI = timezone(timedelta(hours=7))

# The upload example of docs/validator-protocol.md, keys in the order the validator journals them.
TAP_JSON = {
    "time": "2026-12-01T07:15:02+07:00",
    "card_uid": "04A1B2C3D4E5F6",
    "card_number": "8401000000000017",
    "route_id": "32",
    "stop_id": "HN0010",
    "result": "accepted",
    "reason": None,
    "amount": 10000,
    "paid_by": "stored_value",
    "balance_after": 40000,
    "card_tx": 12,
    "applied_loads": [6, 7],
    "loaded": [7],
    "tariff_version": "hanoi-2024-11",
    "explanation": "leg rule ...",
    "commit": "confirmed",
    "direction": "entry",
    "vehicle_id": "29B-100.01",
    "entry_time": None,
    "unfinished": 0,
    "medium": "card",
    "credential_id": "",
    "code_signed_at": None,
    "code_signature": "",
    "tap_id": "tap_8c3e0000000000000000000000000000",
    "device_seq": 1234,
}


def test_a_tap_reads_and_writes_the_protocols_json_key_for_key() -> None:
    tap = Tap.from_json(TAP_JSON)
    assert tap.time == datetime(2026, 12, 1, 7, 15, 2, tzinfo=HANOI)
    assert tap.applied_loads == (6, 7)
    assert json.dumps(tap.to_json()) == json.dumps(TAP_JSON)


def test_a_tap_the_journal_has_not_numbered_yet_has_empty_ids() -> None:
    draft = {k: v for k, v in TAP_JSON.items() if k not in {"tap_id", "device_seq"}}
    tap = Tap.from_json(draft)
    assert (tap.tap_id, tap.device_seq) == ("", 0)
    assert list(tap.to_json())[-2:] == ["tap_id", "device_seq"]


def test_a_refused_tap_leaves_the_charge_fields_empty() -> None:
    tap = Tap(
        time=datetime(2026, 12, 1, tzinfo=HANOI),
        card_uid="04A1B2C3D4E5F6",
        route_id="32",
        result="denied",
        reason="denied_card",
        amount=0,
        paid_by="nothing",
    )
    record = tap.to_json()
    assert (record["balance_after"], record["card_tx"], record["commit"]) == (None, None, "none")
    assert (record["applied_loads"], record["loaded"]) == ([], [])
    assert Tap.from_json(record) == tap


def test_a_snapshot_reads_and_writes_the_protocols_json() -> None:
    document = {
        "version": 42,
        "full": False,
        "tariff_version": "hanoi-2024-11",
        "deny": [{"card_uid": "04A1B2C3D4E5F6", "reason": "lost"}],
        "allow": ["04AABBCCDDEEFF"],
        "pending": [
            {
                "seq": 7,
                "card_uid": "04A1B2C3D4E5F6",
                "kind": "credit",
                "amount": 50000,
                "expires": "2026-12-28T00:00:00+07:00",
            },
            {
                "seq": 8,
                "card_uid": "04A1B2C3D4E5F6",
                "kind": "pass",
                "amount": 0,
                "expires": None,
                "pass": {
                    "pass_code": 2,
                    "category_code": 1,
                    "valid_from": 100,
                    "valid_until": 130,
                    "route_key": 0,
                },
            },
            {
                "seq": 9,
                "card_uid": "04A1B2C3D4E5F6",
                "kind": "profile",
                "amount": 0,
                "expires": None,
                "profile": {"category_code": 2, "valid_until": 65535},
            },
        ],
        "withdrawn": [{"card_uid": "04A1B2C3D4E5F6", "seq": 6}],
        "ticket_issuers": [
            {"kid": "2b8f0c995684a1f9", "public_key": "e4adc600cbd5cf2d3995abfa1da40488"
             "821ae9523e672288d804ea84d87fe71a"}
        ],
        "revoked_credentials": ["0102030405060708"],
    }  # fmt: skip
    snapshot = Snapshot.from_json(document)
    assert snapshot.revoked_credentials == ("0102030405060708",)
    assert [issuer.kid for issuer in snapshot.ticket_issuers] == ["2b8f0c995684a1f9"]
    assert snapshot.deny == (Denial(card_uid="04A1B2C3D4E5F6", reason="lost"),)
    assert snapshot.withdrawn == (Withdrawal(card_uid="04A1B2C3D4E5F6", seq=6),)
    credit, pass_, profile = snapshot.pending
    assert (credit.kind, credit.amount) == ("credit", 50000)
    assert credit.pass_ is None
    assert credit.profile is None
    assert pass_.pass_ == PassRecord(
        pass_code=2, category_code=1, valid_from=100, valid_until=130, route_key=0
    )
    assert profile.profile == ProfileRecord(category_code=2, valid_until=65535)
    assert json.dumps(snapshot.to_json()) == json.dumps(document)


def test_a_pending_action_ignores_keys_a_newer_server_adds() -> None:
    action = PendingAction.from_json(
        {"seq": 1, "card_uid": "04A1", "kind": "credit", "amount": 5, "expires": None, "new": 1}
    )
    assert action.to_json() == {
        "seq": 1,
        "card_uid": "04A1",
        "kind": "credit",
        "amount": 5,
        "expires": None,
    }
