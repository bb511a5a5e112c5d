"""The QR ticket's test vector (tests/data/qr-ticket-vector.json): its keys and credential come
from fixed seeds, so anyone can make them again; the ticket's ECDSA signature is random, so the
vector keeps the one made when it was written, and checks verify it rather than remake it.

The backend's Ed25519 signing here is the tests' own, on `cryptography`, as wire/ leaves the
arithmetic to each end; the phone's is readers.tickets.sign_code.
`python -m tests.unit.wire.qr_vector` writes the file again (with a new ticket signature)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from readers.tickets import compressed
from readers.tickets import sign_code as sign_ticket
from wire import qr

__all__ = ["compressed", "sign_ticket"]  # the phone's side, from readers.tickets

PATH = Path(__file__).resolve().parents[2] / "data" / "qr-ticket-vector.json"
NOT_BEFORE = 1_796_536_800  # 2026-12-06T06:00:00Z
SIGNED_AT = NOT_BEFORE + 600
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def issuer_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"qr-ticket test vector: issuer").digest()
    )


def phone_key() -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(hashlib.sha256(b"qr-ticket test vector: phone").digest(), "big")
    return ec.derive_private_key(scalar % P256_ORDER, ec.SECP256R1())


def raw(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def issue(credential: qr.Credential, issuer: ed25519.Ed25519PrivateKey) -> bytes:
    return qr.issue(credential, qr.key_id(raw(issuer.public_key())), issuer.sign)


def credential() -> qr.Credential:
    return qr.Credential(
        credential_id=bytes.fromhex("0102030405060708"),
        card_number="8401000000000017",
        category_code=2,
        category_until=65535,
        passes=(qr.PassGrant(5, 2, 2530, 2560, 0),),
        limit=200_000,
        phone_key=compressed(phone_key().public_key()),
        not_before=NOT_BEFORE,
        expires=NOT_BEFORE + 86_400,
    )


def expected() -> dict[str, Any]:
    """Everything in the vector but the ticket, which `write` adds."""
    issuer, phone = issuer_key(), phone_key()
    made = credential()
    pkcs8 = phone.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "issuer_seed": hashlib.sha256(b"qr-ticket test vector: issuer").hexdigest(),
        "issuer_public": raw(issuer.public_key()).hex(),
        "kid": qr.key_id(raw(issuer.public_key())).hex(),
        "phone_private_pkcs8": base64.b64encode(pkcs8).decode(),
        "phone_public_raw": phone.public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        .hex(),
        "credential_fields": {
            "credential_id": made.credential_id.hex(),
            "card_number": made.card_number,
            "category_code": made.category_code,
            "category_until": made.category_until,
            "passes": [[5, 2, 2530, 2560, 0]],
            "limit": made.limit,
            "phone_key": made.phone_key.hex(),
            "not_before": made.not_before,
            "expires": made.expires,
        },
        "credential": issue(made, issuer).hex(),
        "signed_at": SIGNED_AT,
        "accepted_at": SIGNED_AT + 20,
        "refused_at": SIGNED_AT + 60,
        "base45": [["AB", "BB8"], ["Hello!!", "%69 VD92EX0"], ["base-45", "UJCLQE7W581"]],
    }


def load() -> dict[str, Any]:
    return dict(json.loads(PATH.read_text(encoding="utf-8")))


def write() -> None:
    vector = expected()
    vector["ticket"] = sign_ticket(bytes.fromhex(vector["credential"]), SIGNED_AT, phone_key())
    PATH.write_text(json.dumps(vector, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
