"""AES helpers, CMAC with a running IV, DESFire CRC32, padding and session keys."""

from __future__ import annotations

import pytest

from cards.crypto import (
    SecureChannel,
    cmac,
    cmac_subkeys,
    crc32,
    pad_iso,
    pad_zero,
    rotate_left,
    rotate_right,
    session_key,
    strip_crc_padding,
)

RFC4493_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
RFC4493_MESSAGE = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710"
)


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, "bb1d6929e95937287fa37d129b756746"),
        (16, "070a16b46b4d4144f79bdd9dd04a287c"),
        (40, "dfa66747de9ae63030ca32611497c827"),
        (64, "51f0bebf7e3b9d92fc49741779363cfe"),
    ],
)
def test_cmac_matches_rfc_4493(length: int, expected: str) -> None:
    assert cmac(RFC4493_KEY, RFC4493_MESSAGE[:length]).hex() == expected


@pytest.mark.parametrize(
    ("key", "k1", "k2"),
    [
        (
            "2b7e151628aed2a6abf7158809cf4f3c",
            "fbeed618357133667c85e08f7236a8de",
            "f7ddac306ae266ccf90bc11ee46d513b",
        ),
        (
            "00112233445566778899AABBCCDDEEFF",
            "FBC9F75C9413C041DFEE452D3F0706D1",
            "F793EEB928278083BFDC8A5A7E0E0D25",
        ),
    ],
)
def test_cmac_subkeys_match_published_values(key: str, k1: str, k2: str) -> None:
    assert cmac_subkeys(bytes.fromhex(key)) == (bytes.fromhex(k1), bytes.fromhex(k2))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"123456789", "D9C60B34"),
        (bytes.fromhex("C400 00102030405060708090A0B0B0A09080 10"), "D2C6E66B"),
        (bytes.fromhex("C401 00102030405060708090A0B0B0A09080 10"), "3370B484"),
        (bytes.fromhex("00102030405060708090A0B0B0A09080"), "BFE37919"),
    ],
)
def test_desfire_crc32_matches_reference_vectors(data: bytes, expected: str) -> None:
    assert crc32(data) == bytes.fromhex(expected)


def test_running_iv_cmac_reproduces_the_get_key_version_exchange_of_the_trace() -> None:
    key = bytes.fromhex("90F7A20191036845EC63DECD544B9931")
    tx = cmac(key, bytes.fromhex("6400"))
    assert tx == bytes.fromhex("257FC538618A944A3A20967B6F314348")
    assert cmac(key, bytes.fromhex("1000"), tx) == bytes.fromhex("8A8FA36F55CD210DD8054658AC70D99A")


def test_cmac_with_a_running_iv_refuses_an_empty_message() -> None:
    with pytest.raises(ValueError, match="empty"):
        cmac(RFC4493_KEY, b"", bytes(range(16)))


def test_secure_channel_follows_the_plain_file_session_of_the_trace() -> None:
    channel = SecureChannel(bytes.fromhex("40E7D271626FFBD49C530E3D304F5B17"), 1)
    steps = [
        ("CD 05 00 11 00 50 00 00", "F23B0368578C65AD705C52AFE76261B6"),
        ("00", "A75316AD1596B95374EEF55FB7FA00EC"),
        ("6F", "F69B3BADA99A58AA2BD736662E32D4B0"),
        ("05 00", "2D5FF67FFEC9D2D36087211588EAC2D7"),
        ("F5 05", "6365D3B198DCA84043DF6DF8FE76DFD6"),
        ("00 00 11 00 50 00 00 00", "2AAC7517024E09DC452857D5D56FD213"),
        ("3D 05 000000 340000" + bytes(range(0x34)).hex(), "5F7BCA269F97495C64BCFB3DB41449CA"),
        ("00", "765C9DAA50ECB62F59BACA81F2EF80F9"),
        (
            "3D 05 340000 1C0000" + bytes(range(0x34, 0x50)).hex(),
            "EDF32CB90997155F8C0A15BBCA118DA1",
        ),
        ("00", "3E0AED986B8B0F37F64D79B911A5A6C9"),
        ("BD 05 000000 300000", "433303AB3CFFA758BF7EB16FFEC47A70"),
        (bytes(range(0x30)).hex() + "00", "4C65F1F842262BAC65FFBF61CF71FD06"),
    ]
    for message, expected in steps:
        wire_mac = channel.mac(bytes.fromhex(message))
        assert channel.iv == bytes.fromhex(expected)
        assert wire_mac == channel.iv[:8]


def test_session_key_takes_the_first_and_last_four_bytes_of_each_random() -> None:
    rnd_a = bytes.fromhex("F44B26F5686F3A391CD38EBD10772281")
    rnd_b = bytes.fromhex("C05DDD714FD788A6B7B754F3C4D066E8")
    assert session_key(rnd_a, rnd_b) == bytes.fromhex("F44B26F5C05DDD7110772281C4D066E8")


def test_rotations_are_inverse_and_move_one_byte() -> None:
    data = bytes(range(16))
    assert rotate_left(data) == data[1:] + data[:1]
    assert rotate_right(rotate_left(data, 3), 3) == data


def test_zero_padding_fills_to_a_block_but_adds_none_to_a_whole_one() -> None:
    assert pad_zero(b"\x01" * 20) == b"\x01" * 20 + bytes(12)
    assert pad_zero(b"\x01" * 16) == b"\x01" * 16
    assert pad_zero(b"") == bytes(16)
    assert pad_iso(b"\x01" * 16) == b"\x01" * 16 + b"\x80" + bytes(15)


@pytest.mark.parametrize("length", [0, 1, 11, 12, 13, 27, 28, 40])
def test_crc_padding_is_found_for_any_data_length(length: int) -> None:
    data = bytes((i * 7 + 1) & 0xFF for i in range(length))
    plain = pad_zero(data + crc32(data + b"\x00"))
    assert strip_crc_padding(plain, b"\x00") == data


def test_crc_padding_with_a_wrong_crc_is_rejected() -> None:
    data = b"abc"
    plain = bytearray(pad_zero(data + crc32(data + b"\x00")))
    plain[3] ^= 1
    assert strip_crc_padding(bytes(plain), b"\x00") is None
