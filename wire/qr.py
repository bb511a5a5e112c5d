"""The QR ticket (docs/qr-ticket.md): a phone's virtual card, checked by a validator offline.

Two COSE_Sign1 messages (RFC 9052), one inside the other, in CBOR (RFC 8949), written as base45
text (RFC 9285) after the prefix `HT1:`, the way the EU's health certificates are built:

- the *credential*, signed by the backend (EdDSA, Ed25519): the card number, the rider's
  category, the passes, how much a validator may charge it offline, the phone's own public key
  (ECDSA P-256) and a validity of at most 24 hours;
- the *ticket*, signed by the phone's key (ES256) every few seconds: the credential and the time.

Standard library only, like the rest of wire/: the bytes to sign and their assembly are here,
the signature arithmetic stays with each end (the backend signs credentials in
transit/services/credentials.py; the validator checks both signatures in readers/tickets.py,
passing its checks to `verify` as a `SignatureCheck`). What a validator remembers (codes seen,
the deny list) is its own too: `verify` is a pure function of the text, the keys and the clock.
The rider's app writes tickets in JavaScript (api/static/app/ticket.js); the test vector
(tests/data/qr-ticket-vector.json) binds all three.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

PREFIX = "HT1:"
MAX_TEXT = 1_200  # characters; a ticket is about 400, and nothing longer is decoded
MAX_CREDENTIAL_SECONDS = 24 * 3600
# A phone re-signs its code at least every REFRESH seconds. A validator takes a code signed at
# most MAX_AGE seconds ago (REFRESH plus CLOCK_SLACK for the two clocks and the scan), or up to
# CLOCK_SLACK seconds ahead: a screenshot is useless a minute later.
REFRESH = 30
CLOCK_SLACK = 15
MAX_AGE = REFRESH + CLOCK_SLACK
# COSE header labels and algorithms (RFC 9053).
ALG, KID = 1, 4
EDDSA, ES256 = -8, -7
COSE_SIGN1 = 18
# The credential's and the ticket's payload keys.
C_ID, C_CARD, C_PROFILE, C_PASSES, C_LIMIT, C_KEY, C_NOT_BEFORE, C_EXPIRES = range(1, 9)
T_CREDENTIAL, T_TIME = 1, 2
_BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_BASE45_VALUE = {char: value for value, char in enumerate(_BASE45)}

# Refusal codes, stable: validators journal them and the rider's app explains them.
NOT_A_TICKET = "qr_not_a_ticket"  # not our prefix, not base45, not the expected CBOR
UNKNOWN_ISSUER = "qr_unknown_issuer"  # a key id the snapshot does not hold
BAD_SIGNATURE = "qr_bad_signature"  # either signature
CREDENTIAL_EXPIRED = "qr_credential_expired"  # outside the credential's validity
STALE = "qr_stale"  # signed too long ago (a screenshot) or too far ahead


class TicketRefused(Exception):
    """The code is not a ticket this validator may accept; `code` says why, for the journal
    and the rider's explanation."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class PassGrant:
    """A pass the credential carries, in the card layout's terms (wire.PassRecord)."""

    pass_code: int
    category_code: int
    valid_from: int  # card day
    valid_until: int  # card day
    route_key: int = 0


@dataclass(frozen=True)
class Credential:
    """What the backend certifies for a phone's key."""

    credential_id: bytes  # 8 random bytes
    card_number: str  # the virtual card's number, digits only
    category_code: int
    category_until: int  # card day; 65535 for no end
    passes: tuple[PassGrant, ...]
    limit: int  # VND a validator may charge on this credential with no network
    phone_key: bytes  # SEC1 compressed P-256 point, 33 bytes
    not_before: int  # unix seconds
    expires: int  # unix seconds

    def payload(self) -> bytes:
        return dumps(
            {
                C_ID: self.credential_id,
                C_CARD: int(self.card_number),
                C_PROFILE: [self.category_code, self.category_until],
                C_PASSES: [
                    [p.pass_code, p.category_code, p.valid_from, p.valid_until, p.route_key]
                    for p in self.passes
                ],
                C_LIMIT: self.limit,
                C_KEY: self.phone_key,
                C_NOT_BEFORE: self.not_before,
                C_EXPIRES: self.expires,
            }
        )


@dataclass(frozen=True)
class Ticket:
    """A ticket that passed every check `verify` makes."""

    credential: Credential
    signed_at: int  # unix seconds, the phone's signing time
    issuer: bytes  # the key id that certified it
    signature: bytes = b""  # the phone's (r || s): with the credential, the proof of the tap

    @property
    def replay_key(self) -> tuple[bytes, int]:
        """What a validator remembers to refuse the same code twice. Not the text: an ECDSA
        signature can be rewritten into another valid one for the same message."""
        return self.credential.credential_id, self.signed_at


class SignatureCheck(Protocol):
    """The signature arithmetic, from whichever end verifies (readers/tickets.py)."""

    def issuer(self, key: Any, message: bytes, signature: bytes) -> bool:
        """Ed25519: `key` is what the caller's issuer map holds for the credential's kid."""
        ...

    def phone(self, key: bytes, message: bytes, signature: bytes) -> bool:
        """ES256 (r || s, 64 bytes) under a SEC1 compressed P-256 key."""
        ...


# -- base45 (RFC 9285) -------------------------------------------------------------------------


def b45encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        out += [_BASE45[n % 45], _BASE45[n // 45 % 45], _BASE45[n // 2025]]
    if len(data) % 2:
        out += [_BASE45[data[-1] % 45], _BASE45[data[-1] // 45]]
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Strict: an unknown character, a dangling character or a group too large is an error."""
    if len(text) % 3 == 1:
        raise ValueError("base45: a dangling character")
    try:
        values = [_BASE45_VALUE[char] for char in text]
    except KeyError:
        raise ValueError("base45: a character outside the alphabet") from None
    out = bytearray()
    for i in range(0, len(values), 3):
        group = values[i : i + 3]
        if len(group) == 3:
            n = group[0] + group[1] * 45 + group[2] * 2025
            if n > 0xFFFF:
                raise ValueError("base45: a group above 65535")
            out += n.to_bytes(2, "big")
        else:
            n = group[0] + group[1] * 45
            if n > 0xFF:
                raise ValueError("base45: a last group above 255")
            out.append(n)
    return bytes(out)


# -- CBOR (RFC 8949): the subset a ticket uses, in its deterministic encoding ------------------
# Integers, byte and text strings, arrays, maps and tags, definite lengths only. The decoder is
# strict (shortest heads, no trailing bytes, bounded nesting), so one value has one encoding.


@dataclass(frozen=True)
class Tag:
    tag: int
    value: Any


MAX_DEPTH = 8


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | extra]) + value.to_bytes(size, "big")
    raise ValueError("CBOR: an integer above 64 bits")


def dumps(item: Any) -> bytes:
    """Deterministic CBOR (RFC 8949, 4.2.1): shortest heads; map keys are written in the
    order given, which for our small non-negative integer keys is the sorted order."""
    if isinstance(item, bool) or item is None:
        raise TypeError("CBOR: a ticket holds no booleans or nulls")
    if isinstance(item, int):
        return _head(0, item) if item >= 0 else _head(1, -1 - item)
    if isinstance(item, bytes):
        return _head(2, len(item)) + item
    if isinstance(item, str):
        data = item.encode()
        return _head(3, len(data)) + data
    if isinstance(item, list | tuple):
        return _head(4, len(item)) + b"".join(dumps(entry) for entry in item)
    if isinstance(item, dict):
        keys = list(item)
        if keys != sorted(keys, key=dumps):
            raise ValueError("CBOR: map keys out of deterministic order")
        return _head(5, len(item)) + b"".join(dumps(k) + dumps(item[k]) for k in keys)
    if isinstance(item, Tag):
        return _head(6, item.tag) + dumps(item.value)
    raise TypeError(f"CBOR: a {type(item).__name__} is not in a ticket")


def loads(data: bytes) -> Any:
    """The one value `data` holds; ValueError for anything else (trailing bytes included)."""
    value, end = _item(data, 0, 0)
    if end != len(data):
        raise ValueError("CBOR: bytes after the value")
    return value


def _item(data: bytes, at: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise ValueError("CBOR: nested too deeply")
    if at >= len(data):
        raise ValueError("CBOR: cut short")
    major, extra = data[at] >> 5, data[at] & 0x1F
    at += 1
    if extra < 24:
        value = extra
    elif extra <= 27:
        size = 1 << (extra - 24)
        if at + size > len(data):
            raise ValueError("CBOR: cut short")
        value = int.from_bytes(data[at : at + size], "big")
        at += size
        if value < (24 if size == 1 else 1 << (4 * size)):
            raise ValueError("CBOR: not the shortest encoding")
    else:
        raise ValueError("CBOR: indefinite lengths and reserved values are not in a ticket")
    if major == 0:
        return value, at
    if major == 1:
        return -1 - value, at
    if major in (2, 3):
        if at + value > len(data):
            raise ValueError("CBOR: cut short")
        raw = data[at : at + value]
        return (bytes(raw) if major == 2 else raw.decode()), at + value
    if major == 4:
        if value > len(data) - at:  # each entry takes a byte at least
            raise ValueError("CBOR: cut short")
        entries = []
        for _ in range(value):
            entry, at = _item(data, at, depth + 1)
            entries.append(entry)
        return entries, at
    if major == 5:
        if 2 * value > len(data) - at:
            raise ValueError("CBOR: cut short")
        found: dict[Any, Any] = {}
        previous = b""
        for _ in range(value):
            start = at
            key, at = _item(data, at, depth + 1)
            if not isinstance(key, int | str) or data[start:at] <= previous:
                raise ValueError("CBOR: map keys repeated, out of order or not scalars")
            previous = data[start:at]
            found[key], at = _item(data, at, depth + 1)
        return found, at
    if major == 6:
        inner, at = _item(data, at, depth + 1)
        return Tag(value, inner), at
    raise ValueError("CBOR: floats and simple values are not in a ticket")


# -- COSE_Sign1 ---------------------------------------------------------------------------------


def to_be_signed(protected: bytes, payload: bytes) -> bytes:
    """COSE's Sig_structure for a Sign1 message with no external data: what is signed."""
    return dumps(["Signature1", protected, b"", payload])


def sign1(protected: bytes, payload: bytes, signature: bytes) -> bytes:
    return dumps(Tag(COSE_SIGN1, [protected, {}, payload, signature]))


def open1(data: bytes) -> tuple[dict[Any, Any], bytes, bytes, bytes]:
    """(protected header, its bytes, payload, signature) of a tagged COSE_Sign1."""
    try:
        item = loads(data)
    except (ValueError, UnicodeDecodeError):
        raise TicketRefused(NOT_A_TICKET, "not CBOR") from None
    if (
        not isinstance(item, Tag)
        or item.tag != COSE_SIGN1
        or not isinstance(item.value, list)
        or len(item.value) != 4
    ):
        raise TicketRefused(NOT_A_TICKET, "not a COSE_Sign1 message")
    header_bytes, _unprotected, payload, signature = item.value
    if not all(isinstance(part, bytes) for part in (header_bytes, payload, signature)):
        raise TicketRefused(NOT_A_TICKET, "a COSE_Sign1 part is not a byte string")
    return _map(header_bytes, "protected header"), header_bytes, payload, signature


# -- the backend's side: what it signs for a credential ----------------------------------------


def key_id(issuer_public: bytes) -> bytes:
    """The 8 bytes a credential names its issuer's key by: from the raw Ed25519 public key."""
    return hashlib.sha256(issuer_public).digest()[:8]


def new_credential_id() -> bytes:
    return secrets.token_bytes(8)


def credential_header(kid: bytes) -> bytes:
    return dumps({ALG: EDDSA, KID: kid})


def issue(credential: Credential, kid: bytes, sign: Callable[[bytes], bytes]) -> bytes:
    """The credential, signed by `sign` (the issuer's Ed25519 key, named by `kid`): the bytes
    the phone keeps and puts in every ticket."""
    if not 0 < credential.expires - credential.not_before <= MAX_CREDENTIAL_SECONDS:
        raise ValueError("a credential is valid for at most 24 hours")
    if len(credential.phone_key) != 33 or credential.phone_key[0] not in (2, 3):
        raise ValueError("the phone's key goes in compressed (33 bytes)")
    if not credential.card_number.isdigit():
        raise ValueError("a card number is digits")
    if len(credential.credential_id) != 8 or len(kid) != 8:
        raise ValueError("a credential id and a key id are 8 bytes")
    header, payload = credential_header(kid), credential.payload()
    return sign1(header, payload, sign(to_be_signed(header, payload)))


# -- the phone's side (the app does it in JavaScript; this is for tests and benchmarks) ---------

TICKET_HEADER = dumps({ALG: ES256})


def ticket_payload(credential: bytes, signed_at: int) -> bytes:
    return dumps({T_CREDENTIAL: credential, T_TIME: signed_at})


def ticket_signed_bytes(credential: bytes, signed_at: int) -> bytes:
    """What the phone signs for a ticket: with the credential's bytes and the signing time, the
    backend checks a tap's proof (the phone's signature) without the code's text."""
    return to_be_signed(TICKET_HEADER, ticket_payload(credential, signed_at))


def ticket_text(credential: bytes, signed_at: int, signature: bytes) -> str:
    """The QR code's text, from the phone's ES256 signature (r || s) of
    `to_be_signed(TICKET_HEADER, ticket_payload(credential, signed_at))`."""
    payload = ticket_payload(credential, signed_at)
    return PREFIX + b45encode(sign1(TICKET_HEADER, payload, signature))


# -- the validator's side ----------------------------------------------------------------------


def verify(text: str, issuers: Mapping[bytes, Any], now: int, check: SignatureCheck) -> Ticket:
    """The ticket in `text`, if both signatures hold, its credential is valid at `now` and it
    was signed within MAX_AGE seconds (or CLOCK_SLACK ahead); else TicketRefused."""
    if not text.startswith(PREFIX) or len(text) > MAX_TEXT:
        raise TicketRefused(NOT_A_TICKET, "not a ticket's prefix or length")
    try:
        outer = b45decode(text[len(PREFIX) :])
    except ValueError as error:
        raise TicketRefused(NOT_A_TICKET, str(error)) from None
    _header, header_bytes, payload, signature = open1(outer)
    # The header is exactly {alg: ES256}: what the phone signed is then known from the
    # credential and the time alone, and the backend can check a tap's proof.
    if header_bytes != TICKET_HEADER or len(signature) != 64:
        raise TicketRefused(NOT_A_TICKET, "a ticket's header is {1: -7}, its signature ES256")
    body = _map(payload, "ticket")
    credential_bytes, time_field = body.get(T_CREDENTIAL), body.get(T_TIME)
    if not isinstance(credential_bytes, bytes) or not _uint(time_field):
        raise TicketRefused(NOT_A_TICKET, "a ticket holds a credential and a time")
    signed_at = _checked_uint(time_field)
    credential, issuer = _credential(credential_bytes, issuers, now, check)
    if not check.phone(credential.phone_key, to_be_signed(header_bytes, payload), signature):
        raise TicketRefused(BAD_SIGNATURE, "the phone's signature does not hold")
    if not now - MAX_AGE <= signed_at <= now + CLOCK_SLACK:
        raise TicketRefused(STALE, f"signed {now - signed_at} s before the validator's clock")
    return Ticket(credential, signed_at, issuer, signature)


def _credential(
    data: bytes, issuers: Mapping[bytes, Any], now: int, check: SignatureCheck
) -> tuple[Credential, bytes]:
    header, header_bytes, payload, signature = open1(data)
    kid = header.get(KID)
    if header.get(ALG) != EDDSA or not isinstance(kid, bytes) or len(signature) != 64:
        raise TicketRefused(NOT_A_TICKET, "a credential is signed with EdDSA and names its key")
    issuer = issuers.get(kid)
    if issuer is None:
        raise TicketRefused(UNKNOWN_ISSUER, f"no issuer key {kid.hex()}")
    if not check.issuer(issuer, to_be_signed(header_bytes, payload), signature):
        raise TicketRefused(BAD_SIGNATURE, "the issuer's signature does not hold")
    # Signed by the backend, so well formed; checked all the same, as a key can leak.
    body = _map(payload, "credential")
    try:
        profile = body[C_PROFILE]
        credential = Credential(
            credential_id=_bytes(body[C_ID], 8),
            card_number=str(_checked_uint(body[C_CARD])),
            category_code=_checked_uint(profile[0]),
            category_until=_checked_uint(profile[1]),
            passes=tuple(
                PassGrant(*(_checked_uint(field) for field in grant)) for grant in body[C_PASSES]
            ),
            limit=_checked_uint(body[C_LIMIT]),
            phone_key=_bytes(body[C_KEY], 33),
            not_before=_checked_uint(body[C_NOT_BEFORE]),
            expires=_checked_uint(body[C_EXPIRES]),
        )
    except (KeyError, IndexError, TypeError, ValueError):
        raise TicketRefused(NOT_A_TICKET, "a credential without its fields") from None
    if not credential.not_before - CLOCK_SLACK <= now < credential.expires + CLOCK_SLACK:
        raise TicketRefused(CREDENTIAL_EXPIRED, "outside the credential's validity")
    return credential, kid


def _map(data: bytes, what: str) -> dict[Any, Any]:
    try:
        found = loads(data)
    except (ValueError, UnicodeDecodeError):
        raise TicketRefused(NOT_A_TICKET, f"a {what} that is not CBOR") from None
    if not isinstance(found, dict):
        raise TicketRefused(NOT_A_TICKET, f"a {what} that is not a map")
    return found


def _uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _checked_uint(value: object) -> int:
    if not _uint(value):
        raise ValueError("not an unsigned integer")
    assert isinstance(value, int)
    return value


def _bytes(value: object, size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise ValueError(f"not {size} bytes")
    return value
