"""A trivial chip behind vpcd, to test the link and the reader before any card logic.

It answers the PC/SC UID request and echoes any other APDU's command data reversed, with 90 00.
`python -m tests.support.fake_chip [--tear-after N]`.
"""

from __future__ import annotations

import argparse

from cards.emulator.vpcd import serve

UID = bytes.fromhex("04A1B2C3D4E5F6")


class EchoChip:
    def process(self, apdu: bytes) -> bytes:
        if apdu[:2] == b"\xff\xca":
            return UID + b"\x90\x00"
        return apdu[5 : 5 + apdu[4]][::-1] + b"\x90\x00"

    def reset(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tear-after", type=int)
    args = parser.parse_args()
    result = serve(EchoChip(), tear_after=args.tear_after)
    print(f"apdus={result.apdus} torn={result.torn}", flush=True)


if __name__ == "__main__":
    main()
