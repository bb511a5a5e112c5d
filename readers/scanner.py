"""QR scanners: hardware input in, decoded QR texts out, one per `read`.

A rider's phone shows a QR-code ticket: ASCII text in the base45 alphabet behind a short
prefix, typically 300-600 characters. Two kinds of hardware read it, and both end here as a
`Scanner`, whose `read(timeout)` returns one decoded text or None:

* A serial QR scanner module (USB-CDC, seen as /dev/ttyACM*, or a UART) decodes the code itself
  and sends each text as one line, ended by CR, LF or CRLF as the module is configured.
  `SerialScanner` splits that byte stream into lines; it drops empty lines, lines longer than
  `MAX_LINE` bytes (and everything up to the next line end, so it resynchronises) and lines that
  are not UTF-8.
* A camera gives frames, which the validator decodes with zxing-cpp: `decode_qr` finds the QR
  codes in one frame, and `FrameScanner` decodes the frames of any iterator until it finds one.
  Capturing frames (V4L2, GStreamer) belongs to the device image; the seam is the iterator.
  `ImageFiles` makes frames from PNG files, for the tests and the bench.

`open_scanner` builds one from the validator's configuration string.

What is read is never checked beyond that, and never de-duplicated: the ticket verifier parses
the text and refuses a replay itself. Nor is it ever logged, not even a dropped line or a piece
of one: a QR ticket is a credential, and whoever reads the log could ride with it. Warnings
say what was dropped and why, by its length at most.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

# pyserial ships no type hints (typeshed's types-pyserial is not a dependency here).
import serial  # type: ignore[import-untyped]
import zxingcpp
from PIL import Image

log = logging.getLogger(__name__)

# A ticket is at most a few hundred characters; a line longer than this is not one.
MAX_LINE = 4096
DEFAULT_BAUDRATE = 115200
# How long one read from the port may block: `SerialScanner.read` looks at its deadline at least
# this often even when no byte comes, and at once after each byte that does.
_POLL_S = 0.1
_LINE_END = re.compile(rb"[\r\n]")

# Phones show full-size QR codes (Model 2). Micro QR holds 35 characters at most, too few for a
# ticket, so it and the other QR variants are not looked for.
_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCodeModel2)

# One camera frame: whatever zxingcpp.read_barcodes accepts. That is a PIL Image, a numpy array
# (grayscale, or BGR as OpenCV gives), a zxingcpp.ImageView over a raw buffer (a V4L2 GREY
# frame, say), or a memoryview cast to (height, width).
Frame = object

SPEC_FORMS = "'serial:DEVICE', 'serial:DEVICE@BAUD' or 'images:FILE.png[,FILE.png...]'"


class Scanner(Protocol):
    """Where QR texts come from."""

    def read(self, timeout: float) -> str | None:
        """The next decoded text, or None when none came within `timeout` seconds."""
        ...

    def close(self) -> None:
        """Let go of the hardware."""
        ...


class SerialScanner:
    """A QR scanner module on a serial port that sends each code as a line of text.

    `port` is a device path (/dev/ttyACM0, /dev/ttyS1, a pty's path) or a pyserial URL. A read
    raises OSError (serial.SerialException) when the device goes away, unplugged say.
    """

    def __init__(
        self, port: str, baudrate: int = DEFAULT_BAUDRATE, *, max_line: int = MAX_LINE
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.max_line = max_line
        self._serial = serial.serial_for_url(port, baudrate=baudrate, timeout=_POLL_S)
        self._timeout = _POLL_S
        # Bytes read but not yet returned: the start of a line, or lines still to return.
        self._pending = bytearray()
        # Inside a line that is too long: drop everything up to the next line end.
        self._skipping = False

    def read(self, timeout: float) -> str | None:
        """The next line, or None once `timeout` seconds have passed without a whole one.

        A partial line stays for the next call. Bytes that trickle in without a line end do not
        hold the call past its deadline by more than one poll.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            line = self._take_line()
            if line is not None:
                return line
            remaining = deadline - time.monotonic()
            self._pending += self._read_some(min(max(0.0, remaining), _POLL_S))
            if remaining <= 0:
                return self._take_line()

    def close(self) -> None:
        self._serial.close()

    def _read_some(self, wait: float) -> bytes:
        """What the port has, or the first byte to come within `wait` seconds, or nothing."""
        if wait != self._timeout:
            self._serial.timeout = wait
            self._timeout = wait
        waiting = int(self._serial.in_waiting)
        data: bytes = self._serial.read(min(max(waiting, 1), self.max_line + 1))
        return data

    def _take_line(self) -> str | None:
        """The first good line in the buffer, dropping the bad ones before it; None if none."""
        while True:
            end = _LINE_END.search(self._pending)
            if end is None:
                if len(self._pending) > self.max_line:
                    if not self._skipping:
                        self._drop_too_long()
                    self._skipping = True
                    self._pending.clear()
                return None
            raw = bytes(self._pending[: end.start()])
            del self._pending[: end.end()]
            if self._skipping:
                # The end of a line already dropped; the next one starts clean.
                self._skipping = False
                continue
            if not raw:
                # A blank line, or the LF of a CRLF whose CR ended the line.
                continue
            if len(raw) > self.max_line:
                self._drop_too_long()
                continue
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                # Never the bytes themselves: see the module docstring.
                log.warning("QR scanner sent a %d-byte line that is not text; dropped", len(raw))

    def _drop_too_long(self) -> None:
        log.warning(
            "QR scanner sent a line longer than %d bytes; dropped up to the next line end",
            self.max_line,
        )


def decode_qr(frame: Frame) -> list[str]:
    """The texts of the valid QR codes in one frame, none if it has none."""
    return [code.text for code in zxingcpp.read_barcodes(frame, formats=_QR) if code.valid]


class FrameScanner:
    """Decodes the frames of an iterator, a camera's say, until one has a QR code.

    Each read decodes one frame at least, even with a timeout of 0; the deadline is looked at
    after each frame, so a frame source that blocks (a camera waiting for its next frame) holds
    a read past it by one frame's capture and decoding at most. Once the iterator has ended
    (`exhausted`), `read` returns None at once. A frame with several codes gives them one per
    read. The same code in consecutive frames is returned each time: a camera that sees one
    phone for a second returns its ticket once a frame, and the verifier refuses the replays.
    """

    def __init__(self, frames: Iterable[Frame]) -> None:
        self._frames: Iterator[Frame] = iter(frames)
        self._found: deque[str] = deque()
        self.exhausted = False

    def read(self, timeout: float) -> str | None:
        deadline = time.monotonic() + max(0.0, timeout)
        while not self._found and not self.exhausted:
            try:
                frame = next(self._frames)
            except StopIteration:
                self.exhausted = True
                break
            self._found.extend(decode_qr(frame))
            if time.monotonic() >= deadline:
                break
        return self._found.popleft() if self._found else None

    def close(self) -> None:
        close = getattr(self._frames, "close", None)
        if callable(close):
            close()


class ImageFiles:
    """Frames from image files (PNG), in order, each read as grayscale as a camera's GREY."""

    def __init__(self, paths: Iterable[str | Path]) -> None:
        self.paths = [Path(path) for path in paths]
        missing = [str(path) for path in self.paths if not path.is_file()]
        if missing:
            raise FileNotFoundError(f"no such image file: {', '.join(missing)}")

    def __iter__(self) -> Iterator[Image.Image]:
        for path in self.paths:
            with Image.open(path) as image:
                yield image.convert("L")


def check_spec(spec: str) -> None:
    """Refuse a configuration string `open_scanner` could not read, without opening anything:
    what a validator checks when it loads its configuration."""
    _parse_spec(spec)


def open_scanner(spec: str) -> Scanner:
    """The scanner a configuration string names.

    `serial:/dev/ttyACM0` (115200 baud), `serial:/dev/ttyACM0@9600`, or
    `images:/path/a.png,/path/b.png`.
    """
    kind, where, baudrate = _parse_spec(spec)
    if kind == "serial":
        return SerialScanner(where[0], baudrate)
    return FrameScanner(ImageFiles(where))


def _parse_spec(spec: str) -> tuple[str, list[str], int]:
    """(kind, the port or the image paths, the baud rate) of a configuration string."""
    kind, colon, rest = spec.partition(":")
    if colon and kind == "serial" and rest:
        port, at, baud = rest.rpartition("@")
        if not at:
            return kind, [rest], DEFAULT_BAUDRATE
        if port and baud.isdigit() and int(baud) > 0:
            return kind, [port], int(baud)
        raise ValueError(f"bad baud rate in scanner spec {spec!r}: expected {SPEC_FORMS}")
    if colon and kind == "images":
        paths = [path for path in rest.split(",") if path]
        if paths:
            return kind, paths, 0
        raise ValueError(f"scanner spec {spec!r} names no image file: expected {SPEC_FORMS}")
    raise ValueError(f"unknown scanner spec {spec!r}: expected {SPEC_FORMS}")
