"""QR scanners: lines from a serial scanner module (over a pty), codes in camera frames."""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import segno
from PIL import Image, ImageDraw

from readers.scanner import (
    MAX_LINE,
    FrameScanner,
    ImageFiles,
    SerialScanner,
    decode_qr,
    open_scanner,
)

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
# A correctness bound for "returns when its timeout has passed", not a performance figure.
SLACK_S = 0.5


def base45(data: bytes) -> str:
    """RFC 9285's encoding, which the tickets use."""
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        out += [BASE45[n % 45], BASE45[n // 45 % 45], BASE45[n // 2025]]
    if len(data) % 2:
        out += [BASE45[data[-1] % 45], BASE45[data[-1] // 45]]
    return "".join(out)


def ticket(seed: int = 1) -> str:
    """A made-up ticket: a prefix and 297 random bytes in base45, 450 characters in all."""
    rng = random.Random(seed)
    return "HT1:" + base45(bytes(rng.randrange(256) for _ in range(297)))


TICKET = ticket()


# The serial scanner, on a pseudo-terminal: the test writes to the master side as the module
# would, and SerialScanner opens the slave's path as it would /dev/ttyACM0.


@dataclass
class Pty:
    master: int
    path: str

    def send(self, data: bytes) -> None:
        os.write(self.master, data)


@pytest.fixture
def pty() -> Iterator[Pty]:
    master, slave = os.openpty()
    try:
        yield Pty(master, os.ttyname(slave))
    finally:
        os.close(slave)
        os.close(master)


@pytest.fixture
def scanner(pty: Pty) -> Iterator[SerialScanner]:
    opened = SerialScanner(pty.path)
    yield opened
    opened.close()


@contextmanager
def sending(pty: Pty, data: bytes) -> Iterator[None]:
    """Writes `data` from a thread: a pty takes only a few KiB before someone reads."""

    def write_all() -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(pty.master, view) :]

    writer = threading.Thread(target=write_all)
    writer.start()
    try:
        yield
    finally:
        writer.join(timeout=10)


def test_a_code_split_across_two_writes_is_read_whole(pty: Pty, scanner: SerialScanner) -> None:
    pty.send(TICKET[:200].encode())
    assert scanner.read(0.2) is None
    pty.send(TICKET[200:].encode() + b"\r\n")
    assert scanner.read(2) == TICKET


@pytest.mark.parametrize("end", [b"\r\n", b"\r", b"\n"], ids=["crlf", "cr", "lf"])
def test_each_line_end_ends_a_code(pty: Pty, scanner: SerialScanner, end: bytes) -> None:
    pty.send(b"HT1:FIRST" + end)
    assert scanner.read(2) == "HT1:FIRST"
    pty.send(b"HT1:SECOND" + end)
    assert scanner.read(2) == "HT1:SECOND"
    assert scanner.read(0.1) is None


def test_several_codes_in_one_write_come_one_per_read(pty: Pty, scanner: SerialScanner) -> None:
    codes = [ticket(seed) for seed in range(3)]
    pty.send(b"".join(code.encode() + b"\r\n" for code in codes))
    assert [scanner.read(2) for _ in codes] == codes
    assert scanner.read(0.1) is None


def test_the_same_code_twice_is_returned_twice(pty: Pty, scanner: SerialScanner) -> None:
    # No debounce here: the ticket verifier refuses replays itself.
    pty.send(b"HT1:AGAIN\nHT1:AGAIN\n")
    assert [scanner.read(2), scanner.read(2)] == ["HT1:AGAIN", "HT1:AGAIN"]


def test_spaces_are_part_of_a_code(pty: Pty, scanner: SerialScanner) -> None:
    # Space is a base45 character: nothing is stripped but the line end.
    pty.send(b" HT1:A B \n")
    assert scanner.read(2) == " HT1:A B "


def test_empty_lines_are_skipped(pty: Pty, scanner: SerialScanner) -> None:
    pty.send(b"\r\n\n\r\rHT1:AFTER\r\n\r\n")
    assert scanner.read(2) == "HT1:AFTER"
    assert scanner.read(0.1) is None


def test_an_over_long_line_is_dropped_and_not_logged(
    pty: Pty, scanner: SerialScanner, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "HT1:" + base45(random.Random(7).randbytes(4000))  # 6004 characters
    assert len(secret) > MAX_LINE
    with (
        caplog.at_level(logging.WARNING, logger="readers.scanner"),
        sending(pty, secret.encode() + b"\r\n" + TICKET.encode() + b"\r\n"),
    ):
        assert scanner.read(5) == TICKET
    assert f"longer than {MAX_LINE} bytes" in caplog.text
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert not any(secret[i : i + 12] in logged for i in range(0, len(secret) - 12, 6))


def test_after_an_over_long_line_the_scanner_waits_for_its_end(
    pty: Pty, caplog: pytest.LogCaptureFixture
) -> None:
    scanner = SerialScanner(pty.path, max_line=16)
    try:
        with caplog.at_level(logging.WARNING, logger="readers.scanner"):
            pty.send(b"HT1:0123456789ABCDEFGHIJ")  # 24 bytes and no line end yet
            assert scanner.read(0.2) is None
            pty.send(b"KLMNOP\r\nHT1:GOOD\r\n")
            assert scanner.read(2) == "HT1:GOOD"
        assert len(caplog.records) == 1
        assert "0123" not in caplog.text
    finally:
        scanner.close()


def test_a_line_that_is_not_utf8_is_dropped(
    pty: Pty, scanner: SerialScanner, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="readers.scanner"):
        pty.send(b"HT1:\xff\xfe\x80SECRET\r\nHT1:GOOD\r\n")
        assert scanner.read(2) == "HT1:GOOD"
    assert "not text" in caplog.text
    assert "SECRET" not in caplog.text


def test_nothing_within_the_timeout_gives_none_promptly(scanner: SerialScanner) -> None:
    started = time.monotonic()
    assert scanner.read(0.3) is None
    assert time.monotonic() - started < 0.3 + SLACK_S
    assert scanner.read(0) is None


def test_bytes_trickling_in_do_not_hold_a_read_past_its_timeout(
    pty: Pty, scanner: SerialScanner
) -> None:
    stop = threading.Event()
    sent = 0

    def trickle() -> None:
        nonlocal sent
        while not stop.wait(0.02):
            pty.send(b"A")
            sent += 1

    writer = threading.Thread(target=trickle)
    writer.start()
    try:
        started = time.monotonic()
        assert scanner.read(0.5) is None
        assert time.monotonic() - started < 0.5 + SLACK_S
    finally:
        stop.set()
        writer.join()
    # What came before the deadline was kept: the line is whole once its end comes.
    pty.send(b"\n")
    assert scanner.read(2) == "A" * sent


# Camera frames


def qr_image(text: str, tmp_path: Path, name: str = "code.png") -> Path:
    path = tmp_path / name
    segno.make(text, error="m").save(str(path), kind="png", scale=4, border=4)
    return path


def no_code_image() -> Image.Image:
    """A frame with shapes and writing in it, but no QR code."""
    image = Image.new("L", (320, 240), 200)
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, 120, 120), fill=30)
    draw.rectangle((60, 60, 100, 100), fill=220)
    draw.text((150, 100), "no code here", fill=0)
    return image


def test_a_qr_code_decodes_to_its_exact_text(tmp_path: Path) -> None:
    assert len(TICKET) == 450
    assert set(TICKET) <= set(BASE45)
    with Image.open(qr_image(TICKET, tmp_path)) as image:
        assert decode_qr(image) == [TICKET]


def test_a_frame_without_a_code_gives_nothing() -> None:
    assert decode_qr(no_code_image()) == []


def test_a_photo_like_frame_still_decodes(tmp_path: Path) -> None:
    # The code small in a larger grey scene, at lower contrast, scaled down with smoothing so a
    # module is about 2.4 pixels: roughly what a camera at arm's length sees, but deterministic.
    with Image.open(qr_image(TICKET, tmp_path)) as image:
        code = image.convert("L").point(lambda v: 40 if v < 128 else 215)
    scene = Image.new("L", (640, 480), 170)
    scene.paste(code, (150, 60))
    frame = scene.resize((384, 288), Image.Resampling.BILINEAR)
    assert decode_qr(frame) == [TICKET]


def test_a_frame_scanner_returns_the_first_code_in_its_frames(tmp_path: Path) -> None:
    with Image.open(qr_image(TICKET, tmp_path)) as image:
        code = image.convert("L")
    taken = 0

    def frames() -> Iterator[Image.Image]:
        nonlocal taken
        for frame in [no_code_image(), no_code_image(), code, no_code_image()]:
            taken += 1
            yield frame

    scanner = FrameScanner(frames())
    assert scanner.read(10) == TICKET
    assert taken == 3
    assert scanner.read(10) is None
    assert scanner.exhausted
    scanner.close()


def test_a_frame_with_two_codes_gives_both_one_per_read(tmp_path: Path) -> None:
    first, second = ticket(2), ticket(3)
    with (
        Image.open(qr_image(first, tmp_path, "a.png")) as a,
        Image.open(qr_image(second, tmp_path, "b.png")) as b,
    ):
        frame = Image.new("L", (a.width + b.width, max(a.height, b.height)), 255)
        frame.paste(a.convert("L"), (0, 0))
        frame.paste(b.convert("L"), (a.width, 0))
    scanner = FrameScanner([frame])
    assert {scanner.read(1), scanner.read(1)} == {first, second}
    assert scanner.read(1) is None


def test_a_read_with_no_time_left_still_decodes_one_frame(tmp_path: Path) -> None:
    with Image.open(qr_image(TICKET, tmp_path)) as image:
        scanner = FrameScanner([no_code_image(), image.convert("L")])
    assert scanner.read(0) is None
    assert scanner.read(0) == TICKET
    assert scanner.read(0) is None
    assert scanner.exhausted


def test_a_frame_scanner_gives_up_at_its_timeout() -> None:
    def camera() -> Iterator[Image.Image]:
        blank = no_code_image()
        while True:
            yield blank

    scanner = FrameScanner(camera())
    started = time.monotonic()
    assert scanner.read(0.2) is None
    assert time.monotonic() - started < 0.2 + SLACK_S
    assert not scanner.exhausted
    scanner.close()


def test_image_files_are_frames_in_order(tmp_path: Path) -> None:
    paths = [qr_image(ticket(seed), tmp_path, f"{seed}.png") for seed in range(2)]
    assert [decode_qr(frame) for frame in ImageFiles(paths)] == [[ticket(0)], [ticket(1)]]


def test_a_missing_image_file_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.png"):
        ImageFiles([tmp_path / "absent.png"])


# The configuration string


def test_a_serial_spec_opens_the_port_at_115200(pty: Pty) -> None:
    scanner = open_scanner(f"serial:{pty.path}")
    try:
        assert isinstance(scanner, SerialScanner)
        assert (scanner.port, scanner.baudrate) == (pty.path, 115200)
        pty.send(b"HT1:CONFIGURED\r\n")
        assert scanner.read(2) == "HT1:CONFIGURED"
    finally:
        scanner.close()


def test_a_serial_spec_may_name_the_baud_rate(pty: Pty) -> None:
    scanner = open_scanner(f"serial:{pty.path}@9600")
    try:
        assert isinstance(scanner, SerialScanner)
        assert (scanner.port, scanner.baudrate) == (pty.path, 9600)
        pty.send(b"HT1:SLOW\n")
        assert scanner.read(2) == "HT1:SLOW"
    finally:
        scanner.close()


def test_an_images_spec_reads_its_files_in_order(tmp_path: Path) -> None:
    a, b = qr_image(ticket(4), tmp_path, "a.png"), qr_image(ticket(5), tmp_path, "b.png")
    scanner = open_scanner(f"images:{a},{b}")
    assert isinstance(scanner, FrameScanner)
    assert [scanner.read(1), scanner.read(1), scanner.read(1)] == [ticket(4), ticket(5), None]
    scanner.close()


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "/dev/ttyACM0",
        "usb:/dev/ttyACM0",
        "camera:/dev/video0",
        "serial:",
        "serial:/dev/ttyACM0@",
        "serial:/dev/ttyACM0@fast",
        "serial:/dev/ttyACM0@0",
        "serial:@9600",
        "images:",
        "images:,",
    ],
)
def test_a_bad_spec_names_the_accepted_forms(spec: str) -> None:
    with pytest.raises(ValueError, match="scanner spec") as refused:
        open_scanner(spec)
    message = str(refused.value)
    for form in ("'serial:DEVICE'", "'serial:DEVICE@BAUD'", "'images:FILE.png"):
        assert form in message
