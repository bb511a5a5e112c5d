"""The issuer's master keys, kept in a file only the service account can read.

Never in the database, never in logs. The file is JSON: {"picc": "<32 hex>", "issuer": ...}
with one AES-128 key per name in cards.layout.KEY_NAMES plus "picc".
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from cards.application import MasterKeys
from cards.layout import KEY_FILE_NAMES


class KeyFileError(ValueError):
    """The key file is missing, unreadable, too open or malformed."""


def load_master_keys(path: Path) -> MasterKeys:
    """Read and check the key file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: no key file; create one with `flask --app wsgi cards keygen`"
        ) from None
    if mode & 0o077:
        raise KeyFileError(f"{path}: readable by others (mode {mode & 0o777:o}); chmod 600 it")
    try:
        return MasterKeys.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise KeyFileError(f"{path}: {error}") from None


def create_key_file(path: Path) -> None:
    """Write fresh random master keys to a new file readable by its owner only."""
    content = json.dumps({name: secrets.token_hex(16) for name in KEY_FILE_NAMES}, indent=1)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as sink:
        sink.write(content + "\n")
