"""Validators: registering them, and checking the signature on every request they make."""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import delete

from transit.errors import DomainError, NotFound
from transit.models import Alert, Device, DeviceNonce, DeviceStatus
from transit.uow import UnitOfWork
from wire.signing import CLOCK_SKEW_SECONDS, NONCE_MEMORY_SECONDS, canonical_request

log = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(seconds=CLOCK_SKEW_SECONDS)
NONCE_MEMORY = timedelta(seconds=NONCE_MEMORY_SECONDS)


class DeviceUnauthorized(DomainError):
    """One answer for every failed check, so a caller learns nothing about which one failed."""

    code = "device_unauthorized"
    status = 401


class DeviceNotFound(NotFound):
    code = "device_not_found"


@dataclass(frozen=True)
class RegisteredDevice:
    device_id: str
    private_key: str  # shown once, never stored
    route_id: str


def register_device(route_id: str, now: datetime, uow: UnitOfWork) -> RegisteredDevice:
    """A new validator for `route_id`; its private key is returned once and kept nowhere."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    seed = key.private_bytes_raw()
    device = Device(
        device_id="dev_" + secrets.token_hex(12),
        route_id=route_id,
        public_key=public.hex(),
        status=DeviceStatus.ACTIVE,
        created_at=now,
    )
    uow.session.add(device)
    return RegisteredDevice(device.device_id, seed.hex(), route_id)


def disable_device(device_id: str, uow: UnitOfWork) -> None:
    device = uow.session.get(Device, device_id)
    if device is None:
        raise DeviceNotFound(device_id=device_id)
    device.status = DeviceStatus.DISABLED


def verify_request(
    uow: UnitOfWork,
    *,
    device_id: str | None,
    method: str,
    path_with_query: str,
    timestamp: str | None,
    nonce: str | None,
    signature: str | None,
    body: bytes,
    user_agent: str | None,
    now: datetime,
) -> Device:
    """The device behind a signed request, or DeviceUnauthorized. Records the nonce."""
    session = uow.session
    device = session.get(Device, device_id) if device_id else None
    reason = _problem(device, timestamp, nonce, signature, now)
    if reason is None and device is not None and timestamp and nonce and signature:
        message = canonical_request(method, path_with_query, int(timestamp), nonce, body)
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(device.public_key)).verify(
                base64.b64decode(signature, validate=True), message
            )
        except (InvalidSignature, ValueError):
            reason = "bad signature"
    if reason is None and device is not None and nonce is not None:
        # Only this device's old nonces: requests from different buses never contend here.
        session.execute(
            delete(DeviceNonce).where(
                DeviceNonce.device_id == device.device_id,
                DeviceNonce.seen_at < now - NONCE_MEMORY,
            )
        )
        if session.get(DeviceNonce, (device.device_id, nonce)) is not None:
            reason = "nonce reused"
        else:
            session.add(DeviceNonce(device_id=device.device_id, nonce=nonce, seen_at=now))
    # Checked last: only a request the device's own key signed says the device is in use, so
    # naming a disabled device without its key raises no alert (and a replay is refused above).
    if reason is None and device is not None and device.status != DeviceStatus.ACTIVE:
        reason = "device disabled"
    if reason is not None:
        log.info("device request refused", extra={"device_id": device_id, "why": reason})
        if reason == "device disabled" and device is not None:
            session.add(
                Alert(
                    kind="disabled_device",
                    device_id=device.device_id,
                    card_uid=None,
                    detail=f"{method} {path_with_query}",
                    created_at=now,
                )
            )
            uow.commit()
        raise DeviceUnauthorized()
    if device is None:  # _problem said so already; this keeps the type checker informed
        raise DeviceUnauthorized()
    device.last_seen_at = now
    if user_agent and user_agent.startswith("transit-validator/"):
        device.version = user_agent.removeprefix("transit-validator/")[:64]
    return device


def _problem(
    device: Device | None,
    timestamp: str | None,
    nonce: str | None,
    signature: str | None,
    now: datetime,
) -> str | None:
    if device is None:
        return "unknown device"
    if not (timestamp and timestamp.isdigit() and nonce and signature):
        return "missing or malformed header"
    if len(nonce) != 32 or any(c not in "0123456789abcdef" for c in nonce):
        return "malformed nonce"
    if abs(int(timestamp) - now.timestamp()) > CLOCK_SKEW.total_seconds():
        return "timestamp outside the window"
    return None
