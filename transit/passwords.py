"""Passwords as argon2id hashes (the library's RFC 9106 defaults), for riders and schools.

A password is NFKC-normalized before it is hashed or checked (NIST SP 800-63B, 5.1.1.2), so
"Hà Nội" typed on a keyboard that composes accents and on one that sends them as combining
marks is the same password. A hash made before normalization still matches the text as it was
typed, and `verify` then says to hash it again in the normalized form.

Checking costs the same whether or not there is a stored hash to check, so a wrong address and
a wrong password cannot be told apart by timing.
"""

from __future__ import annotations

import secrets
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_DUMMY = _hasher.hash(secrets.token_hex(16))


def normalized(password: str) -> str:
    """The form a password is hashed and checked in."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return _hasher.hash(normalized(password))


def verify(stored: str | None, password: str) -> tuple[bool, bool]:
    """(whether `password` is the one hashed in `stored`, whether to hash it again).

    None checks against a dummy hash and never matches.
    """
    candidate = normalized(password)
    if _argon2_matches(stored, candidate):
        return stored is not None, stored is not None and _hasher.check_needs_rehash(stored)
    if candidate != password and _argon2_matches(stored, password):
        # Hashed before passwords were normalized: right, and due for the normalized hash.
        return stored is not None, stored is not None
    return False, False


def matches(stored: str | None, password: str) -> bool:
    """Whether `password` is the one hashed in `stored`; None checks against a dummy."""
    return verify(stored, password)[0]


def _argon2_matches(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return False
