"""Names typed on any keyboard compare equal; keys depend on the secret."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from transit import names

COMPOSED = unicodedata.normalize("NFC", "Nguyễn Văn An")
DECOMPOSED = unicodedata.normalize("NFD", "Nguyễn Văn An")


def test_composed_and_decomposed_vietnamese_are_the_same_name() -> None:
    assert COMPOSED != DECOMPOSED
    assert names.normal(COMPOSED) == names.normal(DECOMPOSED) == "nguyễn văn an"


@pytest.mark.parametrize("typed", ["NGUYỄN VĂN AN", "  nguyễn   văn an ", "Nguyễn\tVăn\nAn"])
def test_case_and_spaces_do_not_matter(typed: str) -> None:
    assert names.normal(typed) == names.normal(COMPOSED)


def test_the_loose_form_drops_diacritics_and_the_crossed_d() -> None:
    assert names.loose("Đặng Thị Ánh") == "dang thi anh"
    assert names.loose(DECOMPOSED) == "nguyen van an"
    assert names.normal("Đặng Thị Ánh") != names.normal("Dang Thi Anh")


def test_keys_need_the_same_code_birthday_and_secret() -> None:
    keys = names.Keys(b"k" * 32)
    key = keys.student("hs-0012 ", date(2010, 5, 1))
    assert keys.student("HS-0012", date(2010, 5, 1)) == key
    assert keys.student("HS-0012", date(2010, 5, 2)) != key
    assert keys.student("HS-0013", date(2010, 5, 1)) != key
    assert names.Keys(b"j" * 32).student("HS-0012", date(2010, 5, 1)) != key
    assert keys.name(COMPOSED) == keys.name(DECOMPOSED)
    assert keys.loose_name("Nguyen Van An") == keys.loose_name(COMPOSED) != keys.name(COMPOSED)
    with pytest.raises(ValueError, match="32 bytes"):
        names.Keys(b"short")
