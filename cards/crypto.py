"""AES-128 primitives for DESFire EV1: CBC, CMAC with a running IV, CRC32, padding, session keys.

AES and CMAC come from the `cryptography` package; this module only arranges how DESFire uses
them. The card and the client share these helpers, so both sides of the secure channel agree.
"""

from __future__ import annotations

import zlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

BLOCK = 16
KEY_SIZE = 16
ZERO_IV = bytes(BLOCK)
MAC_SIZE = 8  # DESFire sends the first 8 bytes of the 16-byte CMAC
CRC_SIZE = 4


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"an AES-128 key is {KEY_SIZE} bytes, not {len(key)}")


def aes_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CBC encryption of whole blocks, no padding."""
    _check_key(key)
    if len(data) % BLOCK:
        raise ValueError("CBC data must be a whole number of blocks")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CBC decryption of whole blocks, no padding."""
    _check_key(key)
    if len(data) % BLOCK:
        raise ValueError("CBC data must be a whole number of blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def cmac(key: bytes, message: bytes, iv: bytes = ZERO_IV) -> bytes:
    """The full 16-byte AES-CMAC of `message`, chained from `iv` as DESFire EV1 does.

    With a zero IV this is RFC 4493 CMAC. With a running IV the first CBC step starts from `iv`
    instead of zero; prefixing the block D_K(iv) makes the library's CMAC start from exactly that
    state, so no CMAC step is written by hand. DESFire never MACs an empty message (the command
    code or the status byte is always there), and the prefix trick needs one.
    """
    _check_key(key)
    if len(iv) != BLOCK:
        raise ValueError("the CMAC IV is one block")
    signer = CMAC(algorithms.AES(key))
    if iv != ZERO_IV:
        if not message:
            raise ValueError("cannot chain a CMAC over an empty message")
        decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305 - one block
        signer.update(decryptor.update(iv) + decryptor.finalize())
    signer.update(message)
    return signer.finalize()


def cmac_subkeys(key: bytes) -> tuple[bytes, bytes]:
    """The CMAC subkeys K1, K2 of `key`, recovered from the library's own CMAC.

    CMAC(0^16) = E(K1) and CMAC(empty) = E(80 00.. xor K2), so one block decryption of each gives
    the subkeys without doubling in GF(2^128) by hand.
    """
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305 - one block
    k1 = decryptor.update(cmac(key, bytes(BLOCK)))
    k2 = xor(decryptor.update(cmac(key, b"")), pad_iso(b""))
    decryptor.finalize()
    return k1, k2


def crc32(data: bytes) -> bytes:
    """DESFire's CRC32: reflected 0xEDB88320, preset all ones, no final XOR, little-endian."""
    return ((zlib.crc32(data) ^ 0xFFFFFFFF) & 0xFFFFFFFF).to_bytes(CRC_SIZE, "little")


def xor(left: bytes, right: bytes) -> bytes:
    """Bytewise XOR of two equally long strings."""
    if len(left) != len(right):
        raise ValueError("XOR operands differ in length")
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def padded_length(length: int) -> int:
    """Length after DESFire's zero padding: up to a whole block, an empty input to one block."""
    if length and length % BLOCK == 0:
        return length
    return (length // BLOCK + 1) * BLOCK


def pad_zero(data: bytes) -> bytes:
    """Zero padding to a whole block, as enciphered DESFire frames use (none if already whole)."""
    return data + bytes(padded_length(len(data)) - len(data))


def pad_iso(data: bytes, size: int = BLOCK) -> bytes:
    """ISO/IEC 9797-1 method 2 padding (80 00 ..) to a multiple of `size`; always adds a byte."""
    padded = data + b"\x80"
    return padded + bytes(-len(padded) % size)


def rotate_left(data: bytes, count: int = 1) -> bytes:
    """`data` rotated left by `count` bytes (RndA' and RndB' in authentication)."""
    if not data:
        return data
    count %= len(data)
    return data[count:] + data[:count]


def rotate_right(data: bytes, count: int = 1) -> bytes:
    """`data` rotated right by `count` bytes."""
    return rotate_left(data, -count)


def session_key(rnd_a: bytes, rnd_b: bytes) -> bytes:
    """EV1 AES session key: RndA[0:4] || RndB[0:4] || RndA[12:16] || RndB[12:16]."""
    if len(rnd_a) != BLOCK or len(rnd_b) != BLOCK:
        raise ValueError("RndA and RndB are 16 bytes each")
    return rnd_a[0:4] + rnd_b[0:4] + rnd_a[12:16] + rnd_b[12:16]


def strip_crc_padding(
    plain: bytes, trailer: bytes, *, length: int | None = None, unit: int = 1
) -> bytes | None:
    """The data in a deciphered `data || CRC32(data || trailer) || padding`, or None if none fits.

    The padding is zeros (libfreefare also accepts 80 then zeros). With `length` known only that
    position is checked. Otherwise every position the padding allows whose length is a multiple
    of `unit` is tried, longest data first: this CRC variant has no final XOR, so leading zero
    bytes shift it (CRC(00 00) = 00 ED 26 BE, CRC(00 00 00) = ED 26 BE 00) and a free search over
    short zero data can match one byte too far. Callers pass the length whenever they know it.
    """
    if length is not None:
        candidates: range | list[int] = [length]
    else:
        candidates = range(len(plain) - CRC_SIZE, max(-1, len(plain) - CRC_SIZE - BLOCK), -1)
    for end in candidates:
        if end < 0 or end % unit or end + CRC_SIZE > len(plain):
            continue
        padding = plain[end + CRC_SIZE :]
        if len(padding) >= BLOCK or (any(padding) and (padding[0] != 0x80 or any(padding[1:]))):
            continue
        data = plain[:end]
        if crc32(data + trailer) == plain[end : end + CRC_SIZE]:
            return data
    return None


class SecureChannel:
    """One side of an authenticated EV1 AES session: the session key and the running IV.

    Every command and every OK response moves the IV along (CMAC or CBC), on the card and on
    the client alike, so both sides must feed it the same bytes in the same order.
    """

    def __init__(self, key: bytes, key_no: int) -> None:
        _check_key(key)
        self.key = key
        self.key_no = key_no
        self.iv = ZERO_IV

    def mac(self, message: bytes) -> bytes:
        """CMAC `message` from the running IV, which becomes the full CMAC; returns the wire MAC."""
        self.iv = cmac(self.key, message, self.iv)
        return self.iv[:MAC_SIZE]

    def encrypt(self, plain: bytes) -> bytes:
        """CBC-encrypt whole blocks from the running IV; the last cipher block becomes the IV."""
        ciphertext = aes_cbc_encrypt(self.key, self.iv, plain)
        self.iv = ciphertext[-BLOCK:]
        return ciphertext

    def decrypt(self, ciphertext: bytes) -> bytes:
        """CBC-decrypt whole blocks from the running IV; the last cipher block becomes the IV."""
        plain = aes_cbc_decrypt(self.key, self.iv, ciphertext)
        self.iv = ciphertext[-BLOCK:]
        return plain

    def encipher(self, crc_input: bytes, body: bytes) -> bytes:
        """E(body || CRC32(crc_input) || zero padding): an enciphered command or response."""
        return self.encrypt(pad_zero(body + crc32(crc_input)))
