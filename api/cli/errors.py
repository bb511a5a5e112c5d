"""The one place where the errors an operator command expects become what the operator reads.

A refusal of the domain (`DomainError`), or an outside failure the command names (the card
reader, the payment provider), ends the command with `Error: reason` on stderr and exit status 1,
never a traceback. Lists of problems in a file the operator gave (a feed's or a roster's
`file:line: reason` lines) are printed by the command that read the file, which knows its name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import click

from transit.errors import DomainError

P = ParamSpec("P")
R = TypeVar("R")
Reason = Callable[[Any], str]


def _detail(error: DomainError) -> str:
    return error.detail or error.code


def reports_errors(
    *, prefix: str = "", reasons: Mapping[type[Exception], Reason] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """End the command with `Error: {prefix}{reason}` (exit 1) on the errors it expects.

    A DomainError's reason is its detail, or its code when it has none. `reasons` gives the
    reason for other error types, or another one for some domain errors; the most specific
    type an error is an instance of wins.
    """
    known: dict[type[Exception], Reason] = {DomainError: _detail, **(reasons or {})}

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(command)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return command(*args, **kwargs)
            except tuple(known) as error:
                reason = next(known[kind] for kind in type(error).__mro__ if kind in known)
                raise click.ClickException(prefix + reason(error)) from None

        return run

    return decorate
