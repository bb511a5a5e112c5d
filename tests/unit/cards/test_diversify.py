"""AN10922 AES-128 key diversification and the operator's command line tool."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cards.diversify import diversify_aes128
from cards.keys import main

MASTER = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
UID = bytes.fromhex("04782E21801D80")
AID = bytes.fromhex("3042F5")
SYSTEM_ID = bytes.fromhex("4E585020416275")
# The CMAC subkey K2 of MASTER (published, pm3 desfiretest.c).
MASTER_K2 = bytes.fromhex("F793EEB928278083BFDC8A5A7E0E0D25")


def test_an10922_vector_is_reproduced() -> None:
    key = diversify_aes128(MASTER, UID, AID, SYSTEM_ID)
    assert key == bytes.fromhex("A8DD63A3B89D54B37CA802473FDA9175")
    assert key != bytes.fromhex("721e2c01e81af85d815633969cea2607")  # libfreefare issue #91


def test_uid_only_input_is_padded_to_two_blocks_not_one() -> None:
    message = b"\x01" + UID + b"\x80" + bytes(23)
    last = bytes(a ^ b for a, b in zip(message[16:], MASTER_K2, strict=True))
    encryptor = Cipher(algorithms.AES(MASTER), modes.CBC(bytes(16))).encryptor()
    expected = (encryptor.update(message[:16] + last) + encryptor.finalize())[-16:]
    assert diversify_aes128(MASTER, UID) == expected


def test_different_uids_give_different_keys() -> None:
    other = bytes.fromhex("04782E21801D81")
    assert diversify_aes128(MASTER, UID, AID) != diversify_aes128(MASTER, other, AID)


@pytest.mark.parametrize(
    ("master", "uid", "aid", "system_id"),
    [
        (MASTER[:15], UID, b"", b""),
        (MASTER, UID[:4], b"", b""),
        (MASTER, UID, b"\x01\x02", b""),
        (MASTER, UID, AID, bytes(22)),
    ],
)
def test_wrong_lengths_are_refused(master: bytes, uid: bytes, aid: bytes, system_id: bytes) -> None:
    with pytest.raises(ValueError, match="bytes"):
        diversify_aes128(master, uid, aid, system_id)


def test_cli_prints_the_diversified_key(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diversify", "--master", MASTER.hex(), "--uid", UID.hex(), "--aid", AID.hex()]
    status = main([*argv, "--system-id", SYSTEM_ID.hex()])
    assert status == 0
    assert capsys.readouterr().out.strip() == "A8DD63A3B89D54B37CA802473FDA9175"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--master", "zz", "--uid", UID.hex()], "not hexadecimal"),
        (["--master", MASTER.hex(), "--uid", "0478"], "UID is 7 bytes"),
        (["--master", MASTER.hex(), "--uid", UID.hex(), "--aid", "30"], "AID is 3 bytes"),
    ],
)
def test_cli_rejects_bad_input_with_exit_status_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diversify", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ")
    assert message in captured.err


def test_cli_without_required_options_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["diversify", "--uid", UID.hex()])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")
