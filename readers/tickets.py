"""QR tickets at the validator (docs/qr-ticket.md): both signatures, the deny list and replays.

`wire.qr.verify` checks the format, the signatures (with `Signatures` here, on `cryptography`),
the credential's validity and the ticket's freshness. `TicketGate` adds what the validator
itself knows: the issuer keys and deny list of its latest snapshot, and the codes it has
already accepted, remembered by (credential id, signing time) for as long as a code is fresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from wire import qr

DENIED = "qr_denied"  # the card or the credential is on the deny list
REPLAYED = "qr_replayed"  # this code was accepted here already


class Signatures:
    """wire.qr.SignatureCheck with `cryptography`: Ed25519 for the issuer, ES256 for the phone.
    A phone key is parsed once and kept (a credential's key signs every code for a day)."""

    def __init__(self) -> None:
        self._phones: dict[bytes, ec.EllipticCurvePublicKey] = {}

    def issuer(self, key: ed25519.Ed25519PublicKey, message: bytes, signature: bytes) -> bool:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def phone(self, key: bytes, message: bytes, signature: bytes) -> bool:
        public = self._phones.get(key)
        if public is None:
            try:
                public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key)
            except ValueError:
                return False
            if len(self._phones) > 10_000:
                self._phones.clear()
            self._phones[key] = public
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            public.verify(der, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


def compressed(key: ec.EllipticCurvePublicKey) -> bytes:
    """A P-256 public key as a credential carries it (SEC1 compressed, 33 bytes)."""
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def code_signature(credential: bytes, signed_at: int, phone: ec.EllipticCurvePrivateKey) -> bytes:
    """The phone's ES256 signature of a ticket (r || s): over the ticket's Sig_structure."""
    message = qr.ticket_signed_bytes(credential, signed_at)
    r, s = decode_dss_signature(phone.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sign_code(credential: bytes, signed_at: int, phone: ec.EllipticCurvePrivateKey) -> str:
    """A QR code's text as the rider's phone makes it (api/static/app/ticket.js does this in
    the app). Here for demos, tests and the benchmarks, which play the phone."""
    return qr.ticket_text(credential, signed_at, code_signature(credential, signed_at, phone))


def issuer_keys(raw: Mapping[str, str]) -> dict[bytes, ed25519.Ed25519PublicKey]:
    """The snapshot's issuer keys, hex key id to hex Ed25519 public key, ready for `verify`."""
    keys = {}
    for kid, public in raw.items():
        key = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))
        if qr.key_id(bytes.fromhex(public)) != bytes.fromhex(kid):
            raise ValueError(f"issuer key {kid}: the id is not the key's")
        keys[bytes.fromhex(kid)] = key
    return keys


@dataclass
class TicketGate:
    """The validator's checks of a QR code, with what its snapshot and its memory hold."""

    issuers: Mapping[bytes, ed25519.Ed25519PublicKey]
    denied_cards: frozenset[str] = frozenset()
    denied_credentials: frozenset[bytes] = frozenset()
    signatures: Signatures = field(default_factory=Signatures)
    _seen: dict[tuple[bytes, int], int] = field(default_factory=dict)

    def remember(self, accepted: Iterable[tuple[bytes, int]]) -> None:
        """Codes accepted before a restart (from the journal): still refused while fresh."""
        for key in accepted:
            self._seen[key] = key[1] + qr.MAX_AGE + qr.CLOCK_SLACK

    def check(self, text: str, now: int) -> qr.Ticket:
        """The ticket, or TicketRefused; a code that passes is remembered at once, so the same
        code shown again (here) is refused even if the tap that follows is not completed."""
        ticket = qr.verify(text, self.issuers, now, self.signatures)
        credential = ticket.credential
        if (
            credential.card_number in self.denied_cards
            or credential.credential_id in self.denied_credentials
        ):
            raise qr.TicketRefused(DENIED, "the card or the credential is on the deny list")
        self._forget(now)
        if ticket.replay_key in self._seen:
            raise qr.TicketRefused(REPLAYED, "this code was shown here already")
        self._seen[ticket.replay_key] = ticket.signed_at + qr.MAX_AGE + qr.CLOCK_SLACK
        return ticket

    def _forget(self, now: int) -> None:
        """Codes too old to pass `verify` again need not be remembered."""
        if len(self._seen) > 256:
            for key, until in list(self._seen.items()):
                if until < now:
                    del self._seen[key]
