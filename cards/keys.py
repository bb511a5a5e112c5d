"""Key tools for key ceremonies: `python -m cards.keys diversify --master HEX --uid HEX ...`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from cards.diversify import diversify_aes128


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse's own errors carry the usage text; keep one `error: ...` line like ours.
        self.exit(2, f"error: {message}\n")


def _hex(text: str, name: str) -> bytes:
    cleaned = "".join(text.split()).replace(":", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"{name} is not hexadecimal: {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the key tool; returns the exit status (0 done, 2 bad arguments)."""
    parser = _Parser(prog="python -m cards.keys", description="DESFire key tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    diversify = commands.add_parser(
        "diversify", help="print the AN10922 AES-128 key diversified for one card"
    )
    diversify.add_argument("--master", required=True, help="master key, 16 bytes in hex")
    diversify.add_argument("--uid", required=True, help="card UID, 7 bytes in hex")
    diversify.add_argument(
        "--aid", default="", help="AID, 3 bytes in hex in wire order (LSB first), e.g. 3042F5"
    )
    diversify.add_argument("--system-id", default="", help="system identifier in hex")
    args = parser.parse_args(argv)
    try:
        key = diversify_aes128(
            _hex(args.master, "--master"),
            _hex(args.uid, "--uid"),
            _hex(args.aid, "--aid"),
            _hex(args.system_id, "--system-id"),
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(key.hex().upper())
    return 0


if __name__ == "__main__":
    sys.exit(main())
