"""What views need from the app: a unit of work bound to this app's database."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from transit.uow import UnitOfWork

EXTENSION = "transit"


@dataclass
class Backend:
    """The database handles one app owns, made once by create_app."""

    engine: Engine
    session_factory: sessionmaker[Session]
    head_revision: str


def backend(app: Flask | None = None) -> Backend:
    """The Backend of `app`, or of the app handling the current request or command."""
    found: Backend = (app or current_app).extensions[EXTENSION]
    return found


def unit_of_work() -> UnitOfWork:
    """A fresh unit of work; use it in a `with` block."""
    return UnitOfWork(backend().session_factory)
