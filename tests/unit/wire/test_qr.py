"""The QR ticket (wire/qr.py, docs/qr-ticket.md): the test vector, each refusal, the CBOR it is
written in, and the properties a validator relies on."""

from __future__ import annotations

import dataclasses
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from readers.tickets import Signatures
from tests.unit.wire import qr_vector
from wire import qr

VECTOR = qr_vector.load()
ISSUERS = {bytes.fromhex(VECTOR["kid"]): qr_vector.issuer_key().public_key()}
ES256 = qr.dumps({qr.ALG: qr.ES256})


def verify(text: str, now: int, issuers: dict[bytes, Any] = ISSUERS) -> qr.Ticket:
    return qr.verify(text, issuers, now, Signatures())


def refusal(text: str, now: int, issuers: dict[bytes, Any] = ISSUERS) -> str:
    with pytest.raises(qr.TicketRefused) as refused:
        verify(text, now, issuers)
    return refused.value.code


def parts(text: str) -> list[Any]:
    """[protected, unprotected, payload, signature] of a ticket's text."""
    return list(qr.loads(qr.b45decode(text[len(qr.PREFIX) :])).value)


def text_of(protected: bytes, payload: bytes, signature: bytes) -> str:
    return qr.PREFIX + qr.b45encode(qr.sign1(protected, payload, signature))


def test_the_vector_is_what_the_code_makes_from_its_seeds() -> None:
    """Keys and the credential are deterministic (Ed25519, deterministic CBOR); only the
    ticket's ECDSA signature is random, so the vector's ticket is verified, not remade."""
    assert {k: v for k, v in VECTOR.items() if k != "ticket"} == qr_vector.expected()


def test_the_vector_s_ticket_is_accepted_within_its_freshness_and_refused_a_minute_later() -> None:
    ticket = verify(VECTOR["ticket"], VECTOR["accepted_at"])
    assert ticket.credential == qr_vector.credential()
    assert ticket.signed_at == VECTOR["signed_at"]
    assert ticket.issuer == bytes.fromhex(VECTOR["kid"])
    assert ticket.replay_key == (bytes.fromhex("0102030405060708"), VECTOR["signed_at"])
    assert refusal(VECTOR["ticket"], VECTOR["refused_at"]) == qr.STALE


@pytest.mark.parametrize(("data", "text"), [tuple(pair) for pair in VECTOR["base45"]])
def test_base45_is_rfc_9285(data: str, text: str) -> None:
    assert qr.b45encode(data.encode()) == text
    assert qr.b45decode(text) == data.encode()


@pytest.mark.parametrize("bad", ["GGW", "A", "abc", "ZZZZ", "ZZ"])
def test_base45_refuses_what_no_encoder_writes(bad: str) -> None:
    with pytest.raises(ValueError, match="base45"):
        qr.b45decode(bad)


@given(st.binary(max_size=300))
def test_base45_round_trips(data: bytes) -> None:
    assert qr.b45decode(qr.b45encode(data)) == data


CBOR_VALUES = st.recursive(
    st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.binary(max_size=40) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.integers(min_value=0, max_value=2**20), inner, max_size=4).map(
            lambda found: dict(sorted(found.items(), key=lambda item: qr.dumps(item[0])))
        )
    ),
    max_leaves=12,
)


@given(CBOR_VALUES)
def test_our_cbor_is_cbor2_s_canonical_cbor_and_reads_back(value: Any) -> None:
    """A second implementation agrees byte for byte with the deterministic encoding."""
    ours = qr.dumps(value)
    assert ours == cbor2.dumps(value, canonical=True)
    assert qr.loads(ours) == value


@pytest.mark.parametrize(
    "data",
    [
        b"\x18\x05",  # 5 in two bytes: not the shortest
        b"\x19\x00\x10",
        b"\x5f\x41\x00\xff",  # an indefinite-length byte string
        b"\xa2\x02\x00\x01\x00",  # map keys out of order
        b"\xa2\x01\x00\x01\x00",  # a repeated key
        b"\xf5",  # true
        b"\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00",  # a float
        b"\x01\x02",  # bytes after the value
        b"\x5a\xff\xff\xff\xff",  # a byte string longer than the data
        b"\x9b\x00\x00\x00\x01\x00\x00\x00\x00",  # an array longer than the data could hold
        b"\x81" * 20 + b"\x00",  # nested too deeply
        b"\x62\xff\xfe",  # text that is not UTF-8
    ],
)
def test_the_cbor_reader_is_strict(data: bytes) -> None:
    with pytest.raises(ValueError, match="CBOR|utf-8"):
        qr.loads(data)


def test_a_ticket_fits_a_qr_code_a_phone_can_show() -> None:
    import segno

    assert 300 < len(VECTOR["ticket"]) < 450
    assert segno.make(VECTOR["ticket"], error="m").version <= 13


def test_freshness_bounds() -> None:
    signed = VECTOR["signed_at"]
    verify(VECTOR["ticket"], signed + qr.MAX_AGE)
    assert refusal(VECTOR["ticket"], signed + qr.MAX_AGE + 1) == qr.STALE
    verify(VECTOR["ticket"], signed - qr.CLOCK_SLACK)  # the phone's clock a little ahead
    assert refusal(VECTOR["ticket"], signed - qr.CLOCK_SLACK - 1) == qr.STALE
    assert qr.MAX_AGE < 60, "a screenshot shown a minute later must be refused"


def test_a_credential_works_only_within_its_validity() -> None:
    made = qr_vector.credential()
    phone = qr_vector.phone_key()
    credential = qr_vector.issue(made, qr_vector.issuer_key())
    late = made.expires + qr.CLOCK_SLACK
    assert refusal(qr_vector.sign_ticket(credential, late, phone), late) == qr.CREDENTIAL_EXPIRED
    early = made.not_before - qr.CLOCK_SLACK - 1
    text = qr_vector.sign_ticket(credential, early, phone)
    assert refusal(text, early) == qr.CREDENTIAL_EXPIRED


def test_an_unknown_issuer_or_a_forged_credential_is_refused() -> None:
    assert refusal(VECTOR["ticket"], VECTOR["accepted_at"], {}) == qr.UNKNOWN_ISSUER
    # Someone's own Ed25519 key, signing under the issuer's key id.
    forger = ed25519.Ed25519PrivateKey.generate()
    richer = dataclasses.replace(qr_vector.credential(), limit=10**9)
    forged = qr.issue(richer, bytes.fromhex(VECTOR["kid"]), forger.sign)
    text = qr_vector.sign_ticket(forged, VECTOR["signed_at"], qr_vector.phone_key())
    assert refusal(text, VECTOR["accepted_at"]) == qr.BAD_SIGNATURE


def test_another_phone_cannot_use_the_credential() -> None:
    """The credential names the phone's key: a copy of it, signed by another key, is no use."""
    thief = ec.generate_private_key(ec.SECP256R1())
    text = qr_vector.sign_ticket(bytes.fromhex(VECTOR["credential"]), VECTOR["signed_at"], thief)
    assert refusal(text, VECTOR["accepted_at"]) == qr.BAD_SIGNATURE


def test_a_changed_time_breaks_the_phone_s_signature() -> None:
    """A screenshot's time cannot be moved forward: it is under the phone's signature."""
    protected, _, payload, signature = parts(VECTOR["ticket"])
    body = qr.loads(payload)
    body[qr.T_TIME] += 50
    moved = text_of(protected, qr.dumps(body), signature)
    assert refusal(moved, VECTOR["signed_at"] + 60) == qr.BAD_SIGNATURE


def test_the_other_valid_signature_of_a_code_is_the_same_ticket_for_replay() -> None:
    """ECDSA's (r, n - s) is also valid: the replay key is the credential and the time, never
    the text, so the rewritten code is still seen as a replay."""
    protected, _, payload, signature = parts(VECTOR["ticket"])
    s = int.from_bytes(signature[32:], "big")
    flipped = signature[:32] + (qr_vector.P256_ORDER - s).to_bytes(32, "big")
    text = text_of(protected, payload, flipped)
    assert text != VECTOR["ticket"]
    twin = verify(text, VECTOR["accepted_at"])
    assert twin.replay_key == verify(VECTOR["ticket"], VECTOR["accepted_at"]).replay_key


def test_a_ticket_with_more_in_its_header_is_not_a_ticket_even_signed_right() -> None:
    """The header is exactly {1: -7}: what the phone signed is then rebuilt by the backend from
    the credential and the time alone, to prove a tap (transit.services.credentials)."""
    _, _, payload, _ = parts(VECTOR["ticket"])
    header = qr.dumps({qr.ALG: qr.ES256, qr.KID: b"phone-01"})
    message = qr.to_be_signed(header, payload)
    r, s = decode_dss_signature(qr_vector.phone_key().sign(message, ec.ECDSA(hashes.SHA256())))
    signed = text_of(header, payload, r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    assert refusal(signed, VECTOR["accepted_at"]) == qr.NOT_A_TICKET
    # The same payload under the plain header, signed the same way, is the vector's ticket.
    ticket = verify(VECTOR["ticket"], VECTOR["accepted_at"])
    assert qr.ticket_signed_bytes(bytes.fromhex(VECTOR["credential"]), ticket.signed_at) == (
        qr.to_be_signed(qr.TICKET_HEADER, payload)
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "HC1:NCFOXN%TS3DH",  # another scheme's prefix
        "HT1:",
        "HT1:" + "A" * 2_000,  # longer than any ticket
        "HT1:abc",  # not base45
        "HT1:" + qr.b45encode(b"\xff\xff\xff"),  # not CBOR
        "HT1:" + qr.b45encode(qr.dumps([1, 2, 3, 4])),  # not tagged
        "HT1:" + qr.b45encode(qr.dumps(qr.Tag(18, [b"", {}, b"", b""]))),
        "HT1:" + qr.b45encode(qr.sign1(ES256, b"", b"x" * 64)),  # an empty payload
        "HT1:" + qr.b45encode(qr.sign1(ES256, qr.dumps({1: b"", 2: -5}), b"x" * 64)),
        "HT1:" + qr.b45encode(b"\x81" * 600),  # deep nesting
    ],
)
def test_anything_else_is_not_a_ticket(text: str) -> None:
    assert refusal(text, VECTOR["accepted_at"]) == qr.NOT_A_TICKET


def test_the_backend_will_not_issue_a_credential_for_more_than_a_day() -> None:
    made = dataclasses.replace(qr_vector.credential(), expires=qr_vector.NOT_BEFORE + 86_401)
    with pytest.raises(ValueError, match="24 hours"):
        qr_vector.issue(made, qr_vector.issuer_key())
