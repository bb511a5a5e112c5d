"""The validator's QR checks beyond the format (readers/tickets.py): the snapshot's issuer keys
and deny list, and codes it has seen."""

from __future__ import annotations

import pytest

from readers.tickets import DENIED, REPLAYED, TicketGate, issuer_keys
from tests.unit.wire import qr_vector
from tests.unit.wire.test_qr import ISSUERS, VECTOR, parts, text_of
from wire import qr

NOW = VECTOR["accepted_at"]
CARD = VECTOR["credential_fields"]["card_number"]
CREDENTIAL_ID = bytes.fromhex(VECTOR["credential_fields"]["credential_id"])


def refused(gate: TicketGate, text: str, now: int = NOW) -> str:
    with pytest.raises(qr.TicketRefused) as refusal:
        gate.check(text, now)
    return refusal.value.code


def test_a_code_is_accepted_once_and_its_rewritten_twin_is_a_replay_too() -> None:
    gate = TicketGate(ISSUERS)
    assert gate.check(VECTOR["ticket"], NOW).credential.card_number == CARD
    assert refused(gate, VECTOR["ticket"]) == REPLAYED
    protected, _, payload, signature = parts(VECTOR["ticket"])
    s = int.from_bytes(signature[32:], "big")
    twin = text_of(
        protected, payload, signature[:32] + (qr_vector.P256_ORDER - s).to_bytes(32, "big")
    )
    assert refused(gate, twin) == REPLAYED


def test_the_next_code_of_the_same_phone_is_a_new_tap() -> None:
    gate = TicketGate(ISSUERS)
    gate.check(VECTOR["ticket"], NOW)
    later = qr_vector.sign_ticket(
        bytes.fromhex(VECTOR["credential"]), VECTOR["signed_at"] + 30, qr_vector.phone_key()
    )
    assert gate.check(later, NOW + 30).signed_at == VECTOR["signed_at"] + 30


def test_codes_accepted_before_a_restart_are_still_refused_while_fresh() -> None:
    gate = TicketGate(ISSUERS)
    gate.remember([(CREDENTIAL_ID, VECTOR["signed_at"])])
    assert refused(gate, VECTOR["ticket"]) == REPLAYED


@pytest.mark.parametrize(
    "gate",
    [
        TicketGate(ISSUERS, denied_cards=frozenset({CARD})),
        TicketGate(ISSUERS, denied_credentials=frozenset({CREDENTIAL_ID})),
    ],
)
def test_a_denied_card_or_credential_is_refused(gate: TicketGate) -> None:
    assert refused(gate, VECTOR["ticket"]) == DENIED


def test_the_memory_forgets_codes_too_old_to_pass_again() -> None:
    gate = TicketGate(ISSUERS)
    gate.remember([(bytes(8), VECTOR["signed_at"] - 600 + i) for i in range(300)])
    gate.check(VECTOR["ticket"], NOW)
    assert len(gate._seen) == 1  # only the code just accepted


def test_issuer_keys_come_from_the_snapshot_and_must_match_their_ids() -> None:
    raw = {VECTOR["kid"]: VECTOR["issuer_public"]}
    assert TicketGate(issuer_keys(raw)).check(VECTOR["ticket"], NOW).issuer.hex() == VECTOR["kid"]
    with pytest.raises(ValueError, match="the id is not the key's"):
        issuer_keys({"00" * 8: VECTOR["issuer_public"]})
