"""The public real-card EV1 AES trace (Elmue, reference §10.7), byte for byte, from both sides.

The client runs over a connection that replays the card's answers and asserts every APDU it is
sent; the virtual card, with RndB injected, must answer the client's APDUs exactly as the real
card did. The PCD's second-pass token is computed here with the `cryptography` package directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cards.client import DesfireClient
from cards.desfire import AccessRights, CommMode, DataFileSettings
from cards.emulator.card import VirtualCard
from cards.emulator.memory import Application, CardMemory, Key

H = bytes.fromhex
AID = 0x00AE16
ZERO = bytes(16)
KEY_1018 = H("10182028303840485058606870788088")
KEY_0010 = H("00102030405060708090A0B0B0A09080")
SELECT = (H("90 5A 00 00 03 16 AE 00 00"), H("91 00"))


def _aes_cbc(key: bytes, iv: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    worker = cipher.decryptor() if decrypt else cipher.encryptor()
    return worker.update(data) + worker.finalize()


@dataclass
class Auth:
    key_no: int
    key: bytes
    rnd_b: bytes
    encrypted_b: bytes
    rnd_a: bytes
    card_reply: bytes

    def apdus(self) -> list[tuple[bytes, bytes]]:
        rotated_b = self.rnd_b[1:] + self.rnd_b[:1]
        token = _aes_cbc(self.key, self.encrypted_b, self.rnd_a + rotated_b)
        return [
            (H("90 AA 00 00 01") + bytes([self.key_no, 0]), self.encrypted_b + H("91 AF")),
            (H("90 AF 00 00 20") + token + b"\x00", self.card_reply + H("91 00")),
        ]


AUTH_A = Auth(
    0,
    ZERO,
    H("C05DDD714FD788A6B7B754F3C4D066E8"),
    H("B969FDFE56FD91FC9DE6F6F213B8FD1E"),
    H("F44B26F5686F3A391CD38EBD10772281"),
    H("800DB680BC146BD121D6578F2D2E2059"),
)
AUTH_B = Auth(
    0,
    KEY_1018,
    H("910368457E2E9AA167355BFB544B9931"),
    H("3E2BE626C05E7798EE518355A751648E"),
    H("90F7A201C4DB760538FF8A49EC63DECD"),
    H("1CE6C574E24923D404E18B6A240C1B08"),
)
AUTH_C = Auth(
    0,
    ZERO,
    H("D81000444B976F48340DCDE34D7AB17C"),
    H("EDDAF0C5D9A7CF42B8808BE2013899A1"),
    H("C2A1E47B96A5589FAAE90C03FE6D00A7"),
    H("459C76B71AB9F1736413F5ACD73E7DF9"),
)
AUTH_D = Auth(
    1,
    KEY_1018,
    H("626FFBD45CAF334ACCA45599304F5B17"),
    H("B351CB2465D4F33AC627FD6E87A168F2"),
    H("40E7D27174CBA675E8EFBAB99C530E3D"),
    H("A2EE144B1012FBEB7B2F11132D95A454"),
)


def test_first_pass_token_of_the_trace_is_what_the_pcd_sent() -> None:
    token = AUTH_A.apdus()[1][0][5:-1]
    assert token == H("36AAD7DF6E436BA08D18613830A70D5A D43E3D3F4A8D47541EEE623A934E4774")
    assert _aes_cbc(ZERO, bytes(16), AUTH_A.encrypted_b, decrypt=True) == AUTH_A.rnd_b


FILE_SETTINGS = DataFileSettings(CommMode.PLAIN, AccessRights(0, 0, 1, 1), 0x50)
WRITE_1 = H("90 3D 00 00 3B 05 000000 340000") + bytes(range(0x34)) + b"\x00"
WRITE_2 = H("90 3D 00 00 23 05 340000 1C0000") + bytes(range(0x34, 0x50)) + b"\x00"


@dataclass
class Segment:
    """One authenticated session of the trace, with the card memory it needs."""

    name: str
    keys: list[Key]
    auth: Auth
    steps: list[tuple[bytes, bytes]]
    run: Callable[[DesfireClient], None]
    keys_after: list[Key]


def _segment_a(client: DesfireClient) -> None:
    client.change_key(0, KEY_0010, 0x10)


def _segment_b(client: DesfireClient) -> None:
    assert client.get_key_version(0) == 0x10
    client.change_key(0, ZERO, 0x00)


def _segment_c(client: DesfireClient) -> None:
    client.change_key(1, KEY_0010, 0x10, old_key=ZERO)


def _segment_d(client: DesfireClient) -> None:
    client.create_std_data_file(5, FILE_SETTINGS)
    assert client.get_file_ids() == [5]
    assert client.get_file_settings(5) == FILE_SETTINGS
    client.write_data(5, 0, bytes(range(0x34)), mode=CommMode.PLAIN)
    client.write_data(5, 0x34, bytes(range(0x34, 0x50)), mode=CommMode.PLAIN)
    assert client.read_data(5, 0, 0x30, mode=CommMode.PLAIN) == bytes(range(0x30))


SEGMENTS = [
    Segment(
        "change own key 0",
        [Key(ZERO, 0), Key(ZERO, 0)],
        AUTH_A,
        [
            (
                H("90 C4 00 00 21 00")
                + H("E9F85E219496C2B58C1090DC3935FAE9 E840CF61B383D9531946256B1F110C10")
                + b"\x00",
                H("91 00"),
            )
        ],
        _segment_a,
        [Key(KEY_0010, 0x10), Key(ZERO, 0)],
    ),
    Segment(
        "key version then change own key back",
        [Key(KEY_1018, 0x10), Key(ZERO, 0)],
        AUTH_B,
        [
            (H("90 64 00 00 01 00 00"), H("10 8A8FA36F55CD210D 91 00")),
            (
                H("90 C4 00 00 21 00")
                + H("635375E4919F8AF2E9E86B1C1BA55B0C 0807EAF484D7A7EF6E0C3084160F5A61")
                + b"\x00",
                H("91 00"),
            ),
        ],
        _segment_b,
        [Key(ZERO, 0), Key(ZERO, 0)],
    ),
    Segment(
        "change key 1 with key 0",
        [Key(ZERO, 0), Key(ZERO, 0)],
        AUTH_C,
        [
            (
                H("90 C4 00 00 21 01")
                + H("E7ECCB6BD1CA64BC161A12B1C024F714 30337408C8A87EACAB7A1FF18951FCA3")
                + b"\x00",
                H("2128D3CD9C9ACFFF 91 00"),
            )
        ],
        _segment_c,
        [Key(ZERO, 0), Key(KEY_0010, 0x10)],
    ),
    Segment(
        "plain data file session",
        [Key(ZERO, 0), Key(KEY_1018, 0x10)],
        AUTH_D,
        [
            (H("90 CD 00 00 07 05 00 11 00 50 00 00 00"), H("A75316AD1596B953 91 00")),
            (H("90 6F 00 00 00"), H("05 2D5FF67FFEC9D2D3 91 00")),
            (H("90 F5 00 00 01 05 00"), H("00 00 11 00 50 00 00 2AAC7517024E09DC 91 00")),
            (WRITE_1, H("765C9DAA50ECB62F 91 00")),
            (WRITE_2, H("3E0AED986B8B0F37 91 00")),
            (
                H("90 BD 00 00 07 05 000000 300000 00"),
                bytes(range(0x30)) + H("4C65F1F842262BAC 91 00"),
            ),
        ],
        _segment_d,
        [Key(ZERO, 0), Key(KEY_1018, 0x10)],
    ),
]


class Replay:
    """Plays the real card: asserts each APDU it is sent and answers as the trace did."""

    def __init__(self, exchanges: list[tuple[bytes, bytes]]) -> None:
        self.exchanges = list(exchanges)

    def transmit(self, apdu: bytes) -> bytes:
        expected, response = self.exchanges.pop(0)
        assert apdu.hex(" ").upper() == expected.hex(" ").upper()
        return response


def _exchanges(segment: Segment) -> list[tuple[bytes, bytes]]:
    return [SELECT, *segment.auth.apdus(), *segment.steps]


@pytest.mark.parametrize("segment", SEGMENTS, ids=lambda s: s.name)
def test_client_sends_exactly_what_the_pcd_sent_in_the_trace(segment: Segment) -> None:
    replay = Replay(_exchanges(segment))
    client = DesfireClient(replay, rng=lambda n: segment.auth.rnd_a)
    client.select_application(AID)
    client.authenticate(segment.auth.key_no, segment.auth.key)
    segment.run(client)
    assert replay.exchanges == []


@pytest.mark.parametrize("segment", SEGMENTS, ids=lambda s: s.name)
def test_virtual_card_answers_exactly_what_the_real_card_answered(segment: Segment) -> None:
    memory = CardMemory.blank(H("04063F72633480"))
    memory.applications[AID] = Application(0x0F, list(segment.keys))
    card = VirtualCard(memory, rng=lambda n: segment.auth.rnd_b)
    for command, response in _exchanges(segment):
        assert card.process(command).hex(" ").upper() == response.hex(" ").upper()
    assert memory.applications[AID].keys == segment.keys_after


def test_trace_session_keys_are_derived_by_both_sides() -> None:
    replay = Replay([SELECT, *AUTH_A.apdus()])
    client = DesfireClient(replay, rng=lambda n: AUTH_A.rnd_a)
    client.select_application(AID)
    client.authenticate(0, ZERO)
    memory = CardMemory.blank(H("04063F72633480"))
    memory.applications[AID] = Application(0x0F, [Key(), Key()])
    card = VirtualCard(memory, rng=lambda n: AUTH_A.rnd_b)
    for command, _ in [SELECT, *AUTH_A.apdus()]:
        card.process(command)
    session = H("F44B26F5C05DDD7110772281C4D066E8")
    assert client._channel is not None
    assert card._channel is not None
    assert client._channel.key == card._channel.key == session
