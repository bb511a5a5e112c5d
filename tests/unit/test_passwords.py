"""Passwords: one password however the keyboard writes its accents, and old hashes still work."""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher

from transit.passwords import hash_password, matches, verify

TYPED = "Xe buýt Hà Nội 2026"
COMPOSED = unicodedata.normalize("NFC", TYPED)
DECOMPOSED = unicodedata.normalize("NFD", TYPED)


def test_a_password_typed_with_composed_or_combining_accents_is_the_same_password() -> None:
    assert COMPOSED != DECOMPOSED
    for hashed_from in (COMPOSED, DECOMPOSED):
        stored = hash_password(hashed_from)
        assert matches(stored, COMPOSED)
        assert matches(stored, DECOMPOSED)
        assert not matches(stored, "Xe buyt Ha Noi 2026")


def test_compatibility_forms_are_folded_too() -> None:
    stored = hash_password("ｘｅ buýt ２０２６")  # full-width letters and digits
    assert matches(stored, "xe buýt 2026")


def test_a_hash_made_before_normalization_still_matches_and_asks_to_be_redone() -> None:
    old = PasswordHasher().hash(DECOMPOSED)  # how a password typed in NFD used to be stored
    assert verify(old, DECOMPOSED) == (True, True)
    assert verify(old, "something else") == (False, False)
    fresh = hash_password(DECOMPOSED)
    assert verify(fresh, COMPOSED) == (True, False)


def test_no_stored_hash_never_matches() -> None:
    assert verify(None, TYPED) == (False, False)
