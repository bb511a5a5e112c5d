"""What a validator signs and how it sends the signature (docs/validator-protocol.md).

The Ed25519 operation itself needs `cryptography`, so it stays with each end (readers/signing.py
signs, transit/services/devices.py verifies); both sign or check these same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

DEVICE_ID = "X-Device-Id"
TIMESTAMP = "X-Timestamp"
NONCE = "X-Nonce"
SIGNATURE = "X-Signature"

# The server refuses a timestamp further than this from its clock, and a nonce it has seen from
# the same device within the memory; the memory outlasts the window on both sides of it.
CLOCK_SKEW_SECONDS = 300
NONCE_MEMORY_SECONDS = 600


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


def new_nonce() -> str:
    """32 lowercase hex digits, random: a device never sends one twice."""
    return secrets.token_hex(16)


def signed_headers(device_id: str, timestamp: int, nonce: str, signature: bytes) -> dict[str, str]:
    """The four authentication headers of one request, around its raw Ed25519 signature."""
    return {
        DEVICE_ID: device_id,
        TIMESTAMP: str(timestamp),
        NONCE: nonce,
        SIGNATURE: base64.b64encode(signature).decode(),
    }
