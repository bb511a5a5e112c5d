"""A virtual card that cuts the validator's power at an exact command, for crash tests.

    python -m tests.support.killer_card --uid UID --state card.json --kill PID
                                        --command C7 [--nth 1] [--when after]

It is the emulator's card, and when the validator sends the `nth` command with the given
DESFire instruction it sends SIGKILL to the validator: `before` the card runs it (the card never
sees that command), or `after` the card has run it and saved its memory but before the answer
leaves (the validator dies not knowing). Then it stays in the field until vpcd hangs up.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from cards.emulator.card import VirtualCard
from cards.emulator.cli import StateFile
from cards.emulator.vpcd import DEFAULT_PORT, serve


class KillingCard:
    def __init__(self, card: VirtualCard, pid: int, command: int, nth: int, when: str) -> None:
        self.card = card
        self.pid = pid
        self.command = command
        self.nth = nth
        self.when = when
        self.seen = 0
        self.armed = False

    def process(self, apdu: bytes) -> bytes:
        if len(apdu) > 1 and apdu[0] == 0x90 and apdu[1] == self.command:
            self.seen += 1
            if self.seen == self.nth:
                if self.when == "before":
                    self.kill()
                else:
                    self.armed = True
        return self.card.process(apdu)

    def reset(self) -> None:
        self.card.reset()

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        print("killed", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uid", required=True)
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--kill", type=int, required=True, help="the validator's pid")
    parser.add_argument("--command", required=True, help="DESFire instruction, in hex")
    parser.add_argument("--nth", type=int, default=1)
    parser.add_argument("--when", choices=("before", "after"), default="after")
    args = parser.parse_args()
    uid = bytes.fromhex(args.uid)
    state = StateFile(args.state)
    card = VirtualCard(state.load(uid))
    chip = KillingCard(card, args.kill, int(args.command, 16), args.nth, args.when)
    saved = card.changes

    def after_apdu() -> None:
        nonlocal saved
        if card.changes != saved:
            state.save(card.memory)
            saved = card.changes
        if chip.armed:
            chip.armed = False
            chip.kill()

    serve(chip, "127.0.0.1", args.port, after_apdu=after_apdu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
