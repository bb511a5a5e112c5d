"""The virtual card as a process: a DESFire EV1 behind pcscd's vpcd reader.

    python -m cards.emulator --uid 04A1B2C3D4E5F6 --state card.json [--port 35963]
                             [--host 127.0.0.1] [--tear-after N]

The card's memory lives in the state file (a factory-blank card is created when it is missing),
so the card keeps its data between taps. The process stays in the field until vpcd hangs up or,
with --tear-after N, until it has run N APDUs: then it leaves before the N-th answer, as a card
pulled away too early. Running it again is tapping the card again. It prints one JSON line when
it leaves the field: {"apdus": N, "torn": bool}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cards.emulator.card import VirtualCard
from cards.emulator.memory import CardMemory
from cards.emulator.vpcd import DEFAULT_PORT, FieldLost, serve


class StateFile:
    """The card's EEPROM on disk: replaced whole, so a killed emulator never leaves half a card."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, uid: bytes) -> CardMemory:
        if not self.path.exists():
            memory = CardMemory.blank(uid)
            self.save(memory)
            return memory
        memory = CardMemory.from_json(self.path.read_text(encoding="utf-8"))
        if memory.uid != uid:
            raise ValueError(
                f"{self.path} holds the card {memory.uid.hex().upper()}, not {uid.hex().upper()}"
            )
        return memory

    def save(self, memory: CardMemory) -> None:
        scratch = self.path.with_name(self.path.name + ".tmp")
        scratch.write_text(memory.to_json(), encoding="utf-8")
        os.replace(scratch, self.path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cards.emulator", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--uid", required=True, help="the card's 7-byte UID in hex")
    parser.add_argument("--state", required=True, type=Path, help="the card's memory file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="vpcd slot port")
    parser.add_argument("--tear-after", type=int, help="leave the field after N APDUs")
    args = parser.parse_args(argv)
    try:
        uid = bytes.fromhex(args.uid)
        if len(uid) != 7:
            raise ValueError("a DESFire EV1 UID is 7 bytes (14 hex digits)")
        if args.tear_after is not None and args.tear_after < 1:
            raise ValueError("--tear-after must be 1 or more")
        state = StateFile(args.state)
        memory = state.load(uid)
    except (ValueError, OSError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    card = VirtualCard(memory)
    saved = card.changes

    def save_if_changed() -> None:
        nonlocal saved
        if card.changes != saved:
            state.save(card.memory)
            saved = card.changes

    try:
        result = serve(
            card, args.host, args.port, tear_after=args.tear_after, after_apdu=save_if_changed
        )
    except (OSError, FieldLost) as error:
        print(f"error: cannot reach vpcd at {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"apdus": result.apdus, "torn": result.torn}), flush=True)
    return 0
