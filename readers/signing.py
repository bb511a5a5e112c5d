"""Request signatures of docs/validator-protocol.md: Ed25519 over a canonical string."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def canonical_request(
    method: str, path_with_query: str, timestamp: int, nonce: str, body: bytes
) -> bytes:
    """The five lines a device signs: method, path and query, timestamp, nonce, body hash."""
    lines = (
        method.upper(),
        path_with_query,
        str(timestamp),
        nonce,
        hashlib.sha256(body).hexdigest(),
    )
    return "\n".join(lines).encode()


def sign(
    private_seed: bytes,
    device_id: str,
    method: str,
    path_with_query: str,
    body: bytes,
    *,
    timestamp: int,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four authentication headers for one request."""
    nonce = nonce or secrets.token_hex(16)
    key = Ed25519PrivateKey.from_private_bytes(private_seed)
    signature = key.sign(canonical_request(method, path_with_query, timestamp, nonce, body))
    return {
        "X-Device-Id": device_id,
        "X-Timestamp": str(timestamp),
        "X-Nonce": nonce,
        "X-Signature": base64.b64encode(signature).decode(),
    }
