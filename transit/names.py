"""Names and codes as people type them, made comparable, and keyed hashes of them.

"Nguyễn Văn An" reaches the server composed or decomposed (NFC or NFD), in any case, with any
spacing, from any phone keyboard. `normal` makes those the same text; `loose` also drops the
diacritics (and đ becomes d), for a match that is only accepted together with an exact student
code and date of birth. Rosters keep only HMACs of these, keyed with a server secret.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import date


def normal(text: str) -> str:
    """NFC, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def loose(text: str) -> str:
    """`normal`, then without diacritics: Nguyễn Văn Ân and nguyen van an are the same."""
    decomposed = unicodedata.normalize("NFD", normal(text).replace("đ", "d"))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped)


def code(text: str) -> str:
    """A student code: case and spaces do not matter, nothing else is changed."""
    return "".join(unicodedata.normalize("NFC", text).casefold().split())


class Keys:
    """HMAC-SHA256 of normalised values, under one server key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the matching key needs 32 bytes")
        self._key = key

    def _mac(self, kind: str, value: str) -> str:
        return hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()

    def student(self, student_code: str, born: date) -> str:
        """The lookup key: the student code and the date of birth, both exact."""
        return self._mac("student", f"{code(student_code)}\0{born.isoformat()}")

    def name(self, full_name: str) -> str:
        return self._mac("name", normal(full_name))

    def loose_name(self, full_name: str) -> str:
        return self._mac("loose", loose(full_name))
