"""NXP AN10922 AES-128 key diversification: one key per card from a master key and the UID."""

from __future__ import annotations

from cards.crypto import BLOCK, KEY_SIZE, ZERO_IV, aes_cbc_encrypt, cmac_subkeys, pad_iso, xor

DIV_CONSTANT_AES128 = b"\x01"
UID_SIZE = 7
AID_SIZE = 3
MAX_INPUT = 31  # the diversification input after the constant byte fills at most two blocks


def diversify_aes128(master: bytes, uid: bytes, aid: bytes = b"", system_id: bytes = b"") -> bytes:
    """The AN10922 AES-128 key for one card: CMAC-style MAC over 01 || UID || AID || system id.

    `aid` is in wire order (least significant byte first), as libfreefare feeds it. The message
    is always padded to two blocks (the "pad to 32" rule): a short input ends in 80 00.. with K2,
    which plain CMAC would only do up to one block (libfreefare issue #91).
    """
    if len(master) != KEY_SIZE:
        raise ValueError(f"the master key is {KEY_SIZE} bytes, not {len(master)}")
    if len(uid) != UID_SIZE:
        raise ValueError(f"the UID is {UID_SIZE} bytes, not {len(uid)}")
    if aid and len(aid) != AID_SIZE:
        raise ValueError(f"the AID is {AID_SIZE} bytes, not {len(aid)}")
    div_input = uid + aid + system_id
    if len(div_input) > MAX_INPUT:
        raise ValueError(f"UID, AID and system identifier exceed {MAX_INPUT} bytes together")
    message = DIV_CONSTANT_AES128 + div_input
    k1, k2 = cmac_subkeys(master)
    if len(message) == 2 * BLOCK:
        blocks = message[:BLOCK] + xor(message[BLOCK:], k1)
    else:
        padded = pad_iso(message, 2 * BLOCK)
        blocks = padded[:BLOCK] + xor(padded[BLOCK:], k2)
    return aes_cbc_encrypt(master, ZERO_IV, blocks)[-BLOCK:]
