"""The validator protocol (docs/validator-protocol.md), defined once for both ends.

The validator (`readers/`) and the backend (`transit/`) import these records and the signing
rules instead of writing the JSON out each on its own side. Standard library only: the device
and the server each add their own Ed25519 step and storage around it. The QR ticket
(`wire.qr`, docs/qr-ticket.md) follows the same rule: its format here, its signatures at each end.
"""

from wire.records import (
    Denial,
    PassRecord,
    PendingAction,
    ProfileRecord,
    Snapshot,
    Tap,
    TicketIssuer,
    Withdrawal,
)
from wire.signing import (
    CLOCK_SKEW_SECONDS,
    DEVICE_ID,
    NONCE,
    NONCE_MEMORY_SECONDS,
    SIGNATURE,
    TIMESTAMP,
    canonical_request,
    new_nonce,
    signed_headers,
)

__all__ = [
    "CLOCK_SKEW_SECONDS",
    "DEVICE_ID",
    "NONCE",
    "NONCE_MEMORY_SECONDS",
    "SIGNATURE",
    "TIMESTAMP",
    "Denial",
    "PassRecord",
    "PendingAction",
    "ProfileRecord",
    "Snapshot",
    "Tap",
    "TicketIssuer",
    "Withdrawal",
    "canonical_request",
    "new_nonce",
    "signed_headers",
]
