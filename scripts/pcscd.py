"""pcscd with the vpcd virtual reader, started for a demo, a benchmark or a test session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

VPCD_PORT = 35963  # reader slot 0: "Virtual PCD 00 00"
VPCD_READER = "Virtual PCD 00 00"
VPCD_CONFIG = Path("/etc/reader.conf.d/vpcd")


class PcscdUnavailable(RuntimeError):
    """pcscd or the vpcd driver cannot be had on this machine."""


def vpcd_listening(port: int = VPCD_PORT) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_pcscd() -> subprocess.Popen[bytes] | None:
    """Start pcscd in the foreground unless one with vpcd already runs; None if reused."""
    if vpcd_listening():
        return None
    pcscd = shutil.which("pcscd") or "/usr/sbin/pcscd"
    if not Path(pcscd).exists() or not VPCD_CONFIG.exists():
        raise PcscdUnavailable("install the Debian packages pcscd and vsmartcard-vpcd")
    if os.geteuid() != 0:
        raise PcscdUnavailable("pcscd must be started as root (CI runs as root)")
    process = subprocess.Popen(
        [pcscd, "--foreground"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 20
    while not vpcd_listening():
        if process.poll() is not None:
            raise PcscdUnavailable(f"pcscd exited: {process.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            process.kill()
            raise PcscdUnavailable("vpcd did not listen on 127.0.0.1:35963 within 20 s")
        time.sleep(0.1)
    return process


def stop_pcscd(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stderr is not None:
        process.stderr.close()
