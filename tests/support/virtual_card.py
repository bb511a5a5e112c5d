"""A virtual card in the field, in-process, that can be torn away after a number of APDUs."""

from __future__ import annotations

import random
from collections.abc import Callable

from cards.connection import CardRemoved
from cards.emulator.card import VirtualCard
from cards.emulator.memory import CardMemory


def rng(seed: int) -> Callable[[int], bytes]:
    """A reproducible stand-in for os.urandom."""
    return random.Random(seed).randbytes


class Field:
    """A CardConnection to a VirtualCard over `memory`; with `tear_after=N` the card runs N
    APDUs and leaves before the N-th answer, as a card pulled away mid-command."""

    def __init__(self, memory: CardMemory, tear_after: int | None = None, seed: int = 7) -> None:
        self.card = VirtualCard(memory, rng=rng(seed))
        self.tear_after = tear_after
        self.apdus = 0

    def transmit(self, apdu: bytes) -> bytes:
        self.apdus += 1
        response = self.card.process(apdu)
        if self.tear_after is not None and self.apdus >= self.tear_after:
            self.card.reset()
            raise CardRemoved("torn")
        return response
