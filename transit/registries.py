"""External education registries, asked when a school's roster cannot answer.

The first speaks Cal-ITP's Eligibility Verification API (the `eligibility-api` package):
a GET whose bearer token is a JWT signed with our private key and encrypted to the
registry's public key, answered by a token signed and encrypted the other way, naming the
requested eligibility types that hold. An unknown person is an empty list, never an error,
so the registry cannot be used to learn who is on it. A registry that cannot be reached
leaves the application in the school's queue; it never approves or refuses by itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from eligibility_api.client import ApiError, Client
from eligibility_api.tokens import TokenError

from transit.names import normal

log = logging.getLogger(__name__)


class RegistryUnavailable(Exception):
    """The registry did not give a usable answer; nothing is known either way."""


class Registry(Protocol):
    name: str

    def is_student(self, student_code: str, full_name: str) -> bool:
        """Whether the registry confirms this person as a student; RegistryUnavailable."""
        ...


@dataclass(frozen=True)
class EligibilityApiSettings:
    """One registry: where it is, who we are to it, and the keys (PEM files)."""

    name: str
    verify_url: str
    issuer: str
    agency: str
    client_private_key: Path
    server_public_key: Path
    eligibility_type: str = "student"
    api_key_header: str = "X-Server-API-Key"
    api_key: str = ""
    jws_signing_alg: str = "RS256"
    jwe_encryption_alg: str = "RSA-OAEP"
    jwe_cek_enc: str = "A256CBC-HS512"
    timeout: float = 5.0

    @classmethod
    def from_mapping(cls, name: str, raw: dict[str, Any], base: Path) -> EligibilityApiSettings:
        known = set(cls.__dataclass_fields__) - {"name"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"registry {name}: unknown settings {', '.join(sorted(unknown))}")
        values = dict(raw)
        for key in ("client_private_key", "server_public_key"):
            values[key] = base / str(values[key])
        return cls(name=name, **values)

    def __repr__(self) -> str:
        return f"EligibilityApiSettings(name={self.name!r}, verify_url={self.verify_url!r})"


class EligibilityApiRegistry:
    """A Cal-ITP Eligibility API server holding a school's (or the city's) student list."""

    def __init__(self, settings: EligibilityApiSettings) -> None:
        self.name = settings.name
        self._type = settings.eligibility_type
        headers = {settings.api_key_header: settings.api_key} if settings.api_key else {}
        self._client = Client(
            verify_url=settings.verify_url,
            issuer=settings.issuer,
            agency=settings.agency,
            jws_signing_alg=settings.jws_signing_alg,
            client_private_key=settings.client_private_key.read_bytes(),
            jwe_encryption_alg=settings.jwe_encryption_alg,
            jwe_cek_enc=settings.jwe_cek_enc,
            server_public_key=settings.server_public_key.read_bytes(),
            headers=headers,
            timeout=settings.timeout,
        )

    def __repr__(self) -> str:
        return f"EligibilityApiRegistry({self.name!r})"

    def is_student(self, student_code: str, full_name: str) -> bool:
        # The registry compares names as given: send the form every keyboard agrees on.
        try:
            answer = self._client.verify(student_code.strip(), normal(full_name), [self._type])
        except (ApiError, TokenError) as error:
            log.warning("registry %s did not answer: %s", self.name, error)
            raise RegistryUnavailable(str(error)) from None
        if getattr(answer, "error", None):
            log.warning("registry %s refused the request: %s", self.name, answer.error)
            raise RegistryUnavailable(str(answer.error))
        return self._type in list(answer.eligibility)
