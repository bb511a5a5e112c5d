"""The issuing station: `flask cards issue` writing the card that lies on a PC/SC reader.

Issuing needs both the card register (api/, transit/) and a reader (readers/), yet api/ never
imports readers/: the backend runs without pyscard, and a server has no reader. This package is
the one place that joins the two. wsgi.py plugs `card_on_reader` into the app; nothing else but
the tests imports this package, and it reaches pyscard only through readers/pcsc.py
(tests/unit/test_layering.py holds both rules).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask

from api.cli.cards import plug_in_reader
from cards.connection import CardConnection


def install(app: Flask) -> None:
    """Let the app's `flask cards issue` write cards in this machine's PC/SC readers."""
    plug_in_reader(app, card_on_reader)


@contextmanager
def card_on_reader(name: str, wait: float) -> Iterator[CardConnection | None]:
    """The card put on the reader `name` within `wait` seconds, connected; None if none came."""
    try:
        # Imported only when a card is issued: the backend runs without pyscard.
        from readers.pcsc import Pcsc
    except ImportError:
        raise click.ClickException(
            "issuing needs pyscard: pip install -r requirements-reader.txt"
        ) from None
    with Pcsc() as context:
        card = context.reader(name).wait_for_card(timeout=wait)
        if card is None:
            yield None
            return
        with card:
            yield card
