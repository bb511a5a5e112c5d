"""The validator's side of docs/validator-protocol.md: Ed25519 over `wire`'s canonical bytes."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from wire.signing import canonical_request, new_nonce, signed_headers


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
    nonce = nonce or new_nonce()
    key = Ed25519PrivateKey.from_private_bytes(private_seed)
    signature = key.sign(canonical_request(method, path_with_query, timestamp, nonce, body))
    return signed_headers(device_id, timestamp, nonce, signature)
