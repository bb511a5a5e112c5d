"""Domain errors: each has a stable code that the API turns into a problem response."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the domain said no; `code` is stable and names the message to show."""

    code = "domain_error"
    status = 400

    def __init__(self, detail: str | None = None, **params: Any) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.params = params


class NotFound(DomainError):
    """The thing does not exist, or it is not the caller's to see."""

    code = "not_found"
    status = 404


class RouteNotFound(NotFound):
    code = "route_not_found"
