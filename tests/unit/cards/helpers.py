"""Small factories for the card tests: cards, clients over them, connections that misbehave."""

from __future__ import annotations

import random
from collections.abc import Callable

from cards.client import DesfireClient
from cards.desfire import (
    AccessRights,
    CommMode,
    DataFileSettings,
    RecordFileSettings,
    ValueFileSettings,
)
from cards.emulator.card import VirtualCard
from cards.emulator.memory import CardMemory

UID = bytes.fromhex("04A1B2C3D4E5F6")
ZERO_KEY = bytes(16)
AID = 0x00AE16
KEYS = [bytes([0x10 * n + i for i in range(16)]) for n in range(1, 5)]

# File numbers of the little application most tests use.
STD, BACKUP, VALUE, RECORDS = 1, 2, 3, 4
LOWER, UPPER = -1_000, 1_000_000


def seeded_rng(seed: int) -> Callable[[int], bytes]:
    """A reproducible stand-in for os.urandom."""
    generator = random.Random(seed)
    return generator.randbytes


class InProcess:
    """A CardConnection straight to a VirtualCard."""

    def __init__(self, card: VirtualCard) -> None:
        self.card = card
        self.log: list[tuple[bytes, bytes]] = []

    def transmit(self, apdu: bytes) -> bytes:
        response = self.card.process(apdu)
        self.log.append((apdu, response))
        return response


def make_card(seed: int = 1) -> VirtualCard:
    return VirtualCard(CardMemory.blank(UID), rng=seeded_rng(seed))


def connect(card: VirtualCard, seed: int = 2) -> tuple[DesfireClient, InProcess]:
    link = InProcess(card)
    return DesfireClient(link, rng=seeded_rng(seed)), link


def access(read: int, write: int, read_write: int, change: int = 0) -> AccessRights:
    return AccessRights(read, write, read_write, change)


def personalize(
    card: VirtualCard,
    mode: CommMode = CommMode.ENCIPHERED,
    *,
    value: int = 500,
    limited_credit: bool = True,
) -> None:
    """One application with keys 0-3 set, and one file of each kind, all in `mode`.

    Key 1 reads, key 2 writes, key 3 reads and writes; key 0 is the application master key.
    """
    client, _ = connect(card, seed=99)
    client.authenticate(0, ZERO_KEY)
    client.create_application(AID, 0x0B, 4)  # no free create/delete, free directory listing
    client.select_application(AID)
    client.authenticate(0, ZERO_KEY)
    for key_no in (1, 2, 3):
        client.change_key(key_no, KEYS[key_no], 1, old_key=ZERO_KEY)
    client.change_key(0, KEYS[0], 1)
    client.authenticate(0, KEYS[0])
    rights = access(1, 2, 3)
    client.create_std_data_file(STD, DataFileSettings(mode, rights, 100))
    client.create_backup_data_file(BACKUP, DataFileSettings(mode, rights, 32, backup=True))
    client.create_value_file(
        VALUE,
        ValueFileSettings(mode, rights, LOWER, UPPER, limited_credit_enabled=limited_credit),
        value,
    )
    client.create_cyclic_record_file(RECORDS, RecordFileSettings(mode, rights, 16, 5))
    card.reset()
