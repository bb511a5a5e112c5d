"""The records a validator and the backend exchange, each with its JSON as it goes on the wire.

`to_json()` gives exactly the keys, in the order, that docs/validator-protocol.md shows;
`from_json()` reads them back and leaves out what it does not know, so a newer peer's extra keys
are ignored. Validation of untrusted input is the receiver's (the API's schemas); these assume a
well-formed document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self


@dataclass(frozen=True, kw_only=True)
class Tap:
    """One journaled tap (POST /api/v1/validator/taps).

    `tap_id` and `device_seq` are given by the device's journal when it writes the tap; a tap
    the validator has decided but not yet journaled has them empty.
    """

    time: datetime
    card_uid: str
    card_number: str | None = None
    route_id: str
    stop_id: str = ""
    result: str  # accepted, denied
    reason: str | None = None  # the denial code
    amount: int
    paid_by: str
    balance_after: int | None = None
    card_tx: int | None = None  # the card's transaction counter after the tap
    applied_loads: tuple[int, ...] = ()  # pending loads the card holds
    loaded: tuple[int, ...] = ()  # those this tap wrote
    tariff_version: str | None = None
    explanation: str = ""
    commit: str = "none"  # confirmed, recovered, none; unknown: the card's answer was lost
    direction: str = "entry"  # entry (boarding, an entry gate) or exit (tapping off, an exit gate)
    vehicle_id: str = ""  # the bus a door validator is on; "" at a gate
    entry_time: datetime | None = None  # an exit: when its journey began, as the card says
    unfinished: int = 0  # the part of amount charged for an earlier journey left without exit
    # A QR ticket (docs/qr-ticket.md): "qr", the card_uid is the virtual card's number, and the
    # credential and the code's signing time say which code it was (for replays across devices).
    medium: str = "card"  # card or qr
    credential_id: str = ""  # a QR tap: 16 hex digits
    code_signed_at: datetime | None = None  # a QR tap: when the phone signed the code
    # A QR tap: the phone's signature of the code (r || s, base64url): the backend checks it
    # against the credential it issued, so a validator cannot charge a code it never saw.
    code_signature: str = ""
    tap_id: str = ""
    device_seq: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "card_uid": self.card_uid,
            "card_number": self.card_number,
            "route_id": self.route_id,
            "stop_id": self.stop_id,
            "result": self.result,
            "reason": self.reason,
            "amount": self.amount,
            "paid_by": self.paid_by,
            "balance_after": self.balance_after,
            "card_tx": self.card_tx,
            "applied_loads": list(self.applied_loads),
            "loaded": list(self.loaded),
            "tariff_version": self.tariff_version,
            "explanation": self.explanation,
            "commit": self.commit,
            "direction": self.direction,
            "vehicle_id": self.vehicle_id,
            "entry_time": self.entry_time.isoformat() if self.entry_time else None,
            "unfinished": self.unfinished,
            "medium": self.medium,
            "credential_id": self.credential_id,
            "code_signed_at": self.code_signed_at.isoformat() if self.code_signed_at else None,
            "code_signature": self.code_signature,
            "tap_id": self.tap_id,
            "device_seq": self.device_seq,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            time=datetime.fromisoformat(data["time"]),
            card_uid=data["card_uid"],
            card_number=data.get("card_number"),
            route_id=data["route_id"],
            stop_id=data.get("stop_id") or "",
            result=data["result"],
            reason=data.get("reason"),
            amount=data["amount"],
            paid_by=data["paid_by"],
            balance_after=data.get("balance_after"),
            card_tx=data.get("card_tx"),
            applied_loads=tuple(data.get("applied_loads") or ()),
            loaded=tuple(data.get("loaded") or ()),
            tariff_version=data.get("tariff_version"),
            explanation=data.get("explanation") or "",
            commit=data.get("commit") or "none",
            tap_id=data.get("tap_id") or "",
            device_seq=data.get("device_seq") or 0,
            direction=data.get("direction") or "entry",
            vehicle_id=data.get("vehicle_id") or "",
            entry_time=datetime.fromisoformat(entry) if (entry := data.get("entry_time")) else None,
            unfinished=data.get("unfinished") or 0,
            medium=data.get("medium") or "card",
            credential_id=data.get("credential_id") or "",
            code_signed_at=(
                datetime.fromisoformat(signed) if (signed := data.get("code_signed_at")) else None
            ),
            code_signature=data.get("code_signature") or "",
        )


@dataclass(frozen=True, kw_only=True)
class PassRecord:
    """A pass to write on the card, field by field (docs/card-layout.md)."""

    pass_code: int
    category_code: int
    valid_from: int  # card day
    valid_until: int  # card day
    route_key: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "pass_code": self.pass_code,
            "category_code": self.category_code,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "route_key": self.route_key,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            pass_code=int(data["pass_code"]),
            category_code=int(data["category_code"]),
            valid_from=int(data["valid_from"]),
            valid_until=int(data["valid_until"]),
            route_key=int(data.get("route_key", 0)),
        )


@dataclass(frozen=True, kw_only=True)
class ProfileRecord:
    """A new rider category to write on the card."""

    category_code: int
    valid_until: int  # card day; 65535 for no end

    def to_json(self) -> dict[str, Any]:
        return {"category_code": self.category_code, "valid_until": self.valid_until}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(category_code=int(data["category_code"]), valid_until=int(data["valid_until"]))


@dataclass(frozen=True, kw_only=True)
class PendingAction:
    """What the snapshot offers a card: a credit, a pass or a profile, numbered by `seq`."""

    seq: int
    card_uid: str
    kind: str  # credit, pass, profile
    amount: int
    expires: str | None = None
    pass_: PassRecord | None = None  # for kind "pass"
    profile: ProfileRecord | None = None  # for kind "profile"

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "seq": self.seq,
            "card_uid": self.card_uid,
            "kind": self.kind,
            "amount": self.amount,
            "expires": self.expires,
        }
        if self.pass_ is not None:
            item["pass"] = self.pass_.to_json()
        if self.profile is not None:
            item["profile"] = self.profile.to_json()
        return item

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        pass_ = data.get("pass")
        profile = data.get("profile")
        return cls(
            seq=int(data["seq"]),
            card_uid=data["card_uid"],
            kind=data["kind"],
            amount=int(data.get("amount") or 0),
            expires=data.get("expires"),
            pass_=PassRecord.from_json(pass_) if pass_ is not None else None,
            profile=ProfileRecord.from_json(profile) if profile is not None else None,
        )


@dataclass(frozen=True, kw_only=True)
class Denial:
    """A card on the deny list, and why (the validator shows the reason)."""

    card_uid: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"card_uid": self.card_uid, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(card_uid=data["card_uid"], reason=data["reason"])


@dataclass(frozen=True, kw_only=True)
class Withdrawal:
    """A pending action no validator should write any more: confirmed by a tap, or withdrawn."""

    card_uid: str
    seq: int

    def to_json(self) -> dict[str, Any]:
        return {"card_uid": self.card_uid, "seq": self.seq}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(card_uid=data["card_uid"], seq=int(data["seq"]))


@dataclass(frozen=True, kw_only=True)
class TicketIssuer:
    """A key the backend certifies QR credentials with (docs/qr-ticket.md), by its key id."""

    kid: str  # 16 hex digits: wire.qr.key_id of the key
    public_key: str  # 64 hex digits: the raw Ed25519 public key

    def to_json(self) -> dict[str, Any]:
        return {"kid": self.kid, "public_key": self.public_key}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(kid=data["kid"], public_key=data["public_key"])


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """GET /api/v1/validator/snapshot: what changed since a version, or everything (`full`)."""

    version: int
    full: bool
    tariff_version: str
    deny: tuple[Denial, ...] = ()
    allow: tuple[str, ...] = ()  # cards taken off the deny list
    pending: tuple[PendingAction, ...] = ()
    withdrawn: tuple[Withdrawal, ...] = ()
    # Every key a QR credential may be certified with, in every snapshot (full or not): the
    # device replaces its list with this one.
    ticket_issuers: tuple[TicketIssuer, ...] = ()
    # QR credentials revoked before they expire (a lost phone), hex ids, whole every time.
    revoked_credentials: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "full": self.full,
            "tariff_version": self.tariff_version,
            "deny": [entry.to_json() for entry in self.deny],
            "allow": list(self.allow),
            "pending": [action.to_json() for action in self.pending],
            "withdrawn": [entry.to_json() for entry in self.withdrawn],
            "ticket_issuers": [issuer.to_json() for issuer in self.ticket_issuers],
            "revoked_credentials": list(self.revoked_credentials),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            version=int(data["version"]),
            full=bool(data.get("full")),
            tariff_version=str(data.get("tariff_version") or ""),
            deny=tuple(Denial.from_json(entry) for entry in data.get("deny") or ()),
            allow=tuple(data.get("allow") or ()),
            pending=tuple(PendingAction.from_json(item) for item in data.get("pending") or ()),
            withdrawn=tuple(Withdrawal.from_json(entry) for entry in data.get("withdrawn") or ()),
            ticket_issuers=tuple(
                TicketIssuer.from_json(entry) for entry in data.get("ticket_issuers") or ()
            ),
            revoked_credentials=tuple(data.get("revoked_credentials") or ()),
        )
