"""The validator on the bus: one tap at a time, decided offline, journaled before the green light.

    python -m readers.validator --config device.toml [--once] [--no-sync]
    python -m readers.validator --config device.toml --qr-image code.png
    python -m readers.validator --config device.toml --sync-once

A tap: read the UID, refuse a deny-listed card, authenticate, read the card, settle a tap whose
commit answer was lost last time, apply pending loads for this card, price the tap with
`fares`, write an intent to the journal, charge the card, journal the tap (fsync), and only then
show green. Each tap prints one JSON line on stdout.

A phone's QR ticket (docs/qr-ticket.md) is a tap too, from the QR scanner (`qr_scanner` in
device.toml): check the code (`readers.tickets`), refuse a deny-listed virtual card, price it
with the same fare engine from the credential's category and passes and the fare state this
validator's journal keeps for the virtual card, refuse a fare above what is left of the
credential's offline limit, and journal the tap with the new fare state (one transaction,
fsync) before the green light. There is no card to write: the account pays what is journaled.
`--qr-image` decides the first QR code in an image file and exits (no card reader, no pyscard);
`--sync-once` uploads the journal and fetches the snapshot once, and exits.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import queue
import sys
import threading
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import wire
from cards.application import (
    CardFull,
    CardState,
    MasterKeys,
    apply_credit,
    apply_pass,
    apply_profile,
    charge,
    open_for_tap,
    read,
)
from cards.client import DesfireClient
from cards.connection import (
    CardConnection,
    CardError,
    CardRemoved,
    IsoStatusError,
    ProtocolError,
    read_uid,
)
from cards.layout import (
    FARE_RECORD_SIZE,
    MAX_BALANCE,
    PASSES_SIZE,
    TAP_KINDS,
    TransitCardError,
    pack_fare_state,
    unpack_fare_state,
)
from fares import (
    Decision,
    Direction,
    FareState,
    PaidBy,
    Tap,
    Tariff,
    card_seconds,
    load_hanoi_tariff,
    price_tap,
)
from fares.model import CARD_EPOCH, Pass
from readers.display import AMBER, GREEN, RED, ConsoleDisplay, Display, Signal
from readers.journal import Journal
from readers.position import (
    FixedStop,
    GpsdClient,
    PositionTracker,
    StopLocator,
    StopSource,
    stops_for_route,
)
from readers.tickets import DENIED, TicketGate, issuer_keys
from wire import qr

log = logging.getLogger(__name__)

# A rider told "tap again" does so within seconds; a card settled later is boarding anew.
RETAP_WINDOW = timedelta(minutes=2)
VERSION = "0.1.0"
# A QR ticket's fare above what is left of its credential's offline limit.
QR_LIMIT = "qr_limit"
# How long the main loop waits for a card before it looks at the QR scanner's codes again.
_QR_POLL_S = 0.2
# QR codes read but not yet decided; more are dropped (they would be stale before their turn).
_QR_QUEUE = 16
# How long the scanner thread waits before it opens a scanner that failed again.
_SCANNER_RETRY_S = 5.0

_PAID_CODES = {
    PaidBy.AT_EXIT: "entered",
    PaidBy.AT_ENTRY: "tapped_off",
    PaidBy.FREE_DAY: "free_day",
    PaidBy.STORED_VALUE: "paid",
    PaidBy.PASS: "pass",
    PaidBy.FREE_CATEGORY: "free",
    PaidBy.FREE_FARE: "free",
    PaidBy.TRANSFER: "transfer",
    PaidBy.CAP: "cap",
}


@dataclass(frozen=True)
class DeviceConfig:
    """device.toml: who the validator is, where it is, and where its files live."""

    device_id: str
    private_key: bytes
    server_url: str
    reader: str
    route_id: str
    stop_id: str
    keys_file: Path
    journal: Path
    language: str = "vi"
    # entry (boarding, an entry gate), exit (tapping off, an exit gate), or both (a bus door:
    # the card's open journey decides).
    direction: Direction = Direction.ENTRY
    vehicle_id: str = ""  # the bus this validator is on; "" at a gate
    # A bus finds its stop from GPS: gpsd at "host:port", the stops of its route from a GTFS
    # folder. Without gpsd the stop is `stop_id`, a gate's station (docs/validator-position.md).
    gpsd: str = ""
    gtfs_dir: Path | None = None
    stop_radius_m: float = 50.0
    # The QR scanner, as readers.scanner.open_scanner reads it ("serial:/dev/ttyACM0",
    # "serial:/dev/ttyACM0@9600", "images:/path/a.png"); "" for none.
    qr_scanner: str = ""

    def __post_init__(self) -> None:
        if not self.server_url.startswith(("http://", "https://")):
            raise ValueError(f"server_url must be http(s), not {self.server_url!r}")
        if self.direction not in tuple(Direction):
            raise ValueError(f"direction must be entry, exit or both, not {self.direction!r}")
        if self.gpsd and self.gtfs_dir is None:
            raise ValueError("gpsd needs gtfs_dir: the stops of the route come from the feed")
        if self.gpsd:
            _gpsd_address(self.gpsd)
        if len(self.private_key) != 32:
            raise ValueError("private_key must be 64 hex digits (the Ed25519 seed)")
        if self.qr_scanner:
            # Only a validator with a scanner needs the scanner's libraries.
            from readers.scanner import check_spec

            try:
                check_spec(self.qr_scanner)
            except ValueError as error:
                raise ValueError(f"qr_scanner: {error}") from None

    def __repr__(self) -> str:
        return f"DeviceConfig(device_id={self.device_id!r}, private_key=<secret>)"

    @classmethod
    def load(cls, path: Path) -> DeviceConfig:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ValueError(f"{path}: {error}") from None
        try:
            base = path.parent
            return cls(
                device_id=str(raw["device_id"]),
                private_key=bytes.fromhex(str(raw["private_key"])),
                server_url=str(raw["server_url"]).rstrip("/"),
                reader=str(raw["reader"]),
                route_id=str(raw["route_id"]),
                stop_id=str(raw.get("stop_id", "")),
                keys_file=base / str(raw["keys_file"]),
                journal=base / str(raw["journal"]),
                language=str(raw.get("language", "vi")),
                direction=_direction(raw.get("direction", "entry")),
                vehicle_id=str(raw.get("vehicle_id", "")),
                gpsd=str(raw.get("gpsd", "")),
                gtfs_dir=base / str(raw["gtfs_dir"]) if "gtfs_dir" in raw else None,
                stop_radius_m=float(raw.get("stop_radius_m", 50.0)),
                qr_scanner=_qr_scanner(raw.get("qr_scanner", "")),
            )
        except KeyError as missing:
            raise ValueError(f"{path}: missing setting {missing}") from None
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None


def _gpsd_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"gpsd must be host:port, not {text!r}")
    return host, int(port)


def _qr_scanner(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"qr_scanner must be a string, not {value!r}")
    return value


def _direction(value: object) -> Direction:
    try:
        return Direction(str(value))
    except ValueError:
        raise ValueError(f"direction must be entry, exit or both, not {value!r}") from None


@dataclass(frozen=True)
class Outcome:
    """What one tap came to: the signal shown and the journal entry, if one was written."""

    signal: Signal
    card_number: str | None
    paid_by: str | None
    tap_id: str | None
    medium: str = "card"  # card, or qr for a phone's QR ticket

    def as_json(self) -> str:
        number = self.card_number
        masked = f"{'*' * (len(number) - 4)}{number[-4:]}" if number else None
        return json.dumps(
            {
                "result": "accepted" if self.signal.colour == GREEN else "denied",
                "reason": self.signal.code,
                "detail": self.signal.detail,
                "amount": self.signal.amount or 0,
                "balance": self.signal.balance,
                "paid_by": self.paid_by,
                "card": masked,
                "tap_id": self.tap_id,
                "medium": self.medium,
            },
            ensure_ascii=False,
        )


class Validator:
    """Decides taps against one reader's cards, a journal, the tariff and the master keys."""

    def __init__(
        self,
        journal: Journal,
        masters: MasterKeys,
        tariff: Tariff,
        *,
        device_id: str,
        route_id: str,
        stop_id: str,
        direction: Direction = Direction.ENTRY,
        vehicle_id: str = "",
        stops: StopSource | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.journal = journal
        self.masters = masters
        self.tariff = tariff
        self.device_id = device_id
        self.route_id = route_id
        # Where the validator is at each tap: GPS on a bus, the configured station at a gate.
        self.stops: StopSource = stops if stops is not None else FixedStop(stop_id)
        self.stop_id = stop_id
        self.direction = direction
        self.vehicle_id = vehicle_id
        self.clock = clock
        # QR tickets: the issuer keys come from the journal's snapshot, parsed again only when
        # a snapshot changed them; the codes accepted before a restart are still refused.
        self._gate = TicketGate({})
        self._issuers_revision = -1
        self._remembered = False
        self.qr_refusals: Counter[str] = Counter()

    def tap(self, card: CardConnection) -> Outcome:
        """Handle the card now in the field. Never raises for a card's fault or its removal."""
        now = self.clock()
        self.stop_id = self.stops.current_stop()
        try:
            uid = read_uid(card)
        except (IsoStatusError, ProtocolError):
            return self._signal(RED, "not_a_transit_card")
        except CardError:
            return self._signal(AMBER, "tap_again")
        uid_hex = uid.hex().upper()
        reason = self.journal.denied(uid_hex)
        if reason is not None:
            tap_id = self._record_denied(uid_hex, None, now, "denied_card", reason)
            return Outcome(Signal(RED, "denied_card", detail=reason), None, None, tap_id)
        client = DesfireClient(card)
        try:
            open_for_tap(client, uid, self.masters)
            state = read(client, uid)
        except TransitCardError:
            return self._signal(RED, "not_a_transit_card")
        except CardError:
            return self._signal(AMBER, "tap_again")
        number = str(state.profile.card_number)
        try:
            settled = self._settle_unknown_commit(client, uid_hex, state)
        except CardError:
            return self._signal(AMBER, "tap_again")
        if settled is not None and now - settled.time < RETAP_WINDOW:
            return Outcome(
                Signal(GREEN, "already_paid", settled.amount, state.balance),
                number,
                settled.paid_by,
                settled.tap_id,
            )
        try:
            state, applied, loaded = self._apply_loads(client, uid_hex, state, now)
        except CardError:
            return self._signal(AMBER, "tap_again")
        return self._charge(client, state, uid_hex, number, applied, loaded, now)

    def qr_tap(self, text: str) -> Outcome:
        """Handle the text of a QR code from the scanner. Never raises for the code's fault.

        The text is never logged nor journaled: a ticket is a credential, and whoever reads it
        could ride with it. A code refused before it proved to be a valid ticket (junk, a bad
        signature, a screenshot, a code shown twice) is counted in `qr_refusals` and logged by
        its refusal code; a valid ticket refused (the deny list, the fare engine, the spending
        limit) is journaled as a denied tap, like a card's.
        """
        now = self.clock()
        self.stop_id = self.stops.current_stop()
        gate = self._ticket_gate(int(now.timestamp()))
        try:
            ticket = gate.check(text, int(now.timestamp()))
        except qr.TicketRefused as refusal:
            self.qr_refusals[refusal.code] += 1
            log.info("QR code refused: %s (%s)", refusal.code, refusal.detail)
            return Outcome(Signal(RED, refusal.code), None, None, None, "qr")
        credential = ticket.credential
        number = credential.card_number
        reason = self.journal.denied(number)
        if reason is None and self.journal.credential_revoked(credential.credential_id.hex()):
            reason = "credential_revoked"  # a lost phone's: the rider revoked it
        if reason is not None:
            tap_id = self._record_denied(number, number, now, DENIED, reason, ticket=ticket)
            return Outcome(Signal(RED, DENIED, detail=reason), number, None, tap_id, "qr")
        state = _virtual_fare_state(self.journal.qr_fare(number), credential)
        tap = Tap(now, self.route_id, self.stop_id, self.device_id, self.direction, self.vehicle_id)
        decision = price_tap(state, tap, self.tariff)
        if not decision.accepted:
            code = decision.denial.code if decision.denial else "no_fare_rule"
            tap_id = self._record_denied(
                number, number, now, code, decision.explanation, ticket=ticket
            )
            return Outcome(Signal(RED, code), number, None, tap_id, "qr")
        # An account may go below zero by at most one fare (docs/virtual-card.md): a fare is
        # taken while anything is left of the credential's offline limit on this validator,
        # even if it takes more than is left; the backend then refuses the card until a
        # top-up. With nothing left, nothing is charged offline.
        needed = max(decision.amount, decision.required)
        credential_hex = credential.credential_id.hex()
        if needed:
            left = max(0, credential.limit - self.journal.qr_charged(credential_hex))
            if left <= 0:
                tap_id = self._record_denied(
                    number,
                    number,
                    now,
                    QR_LIMIT,
                    f"needs {needed}, {left} left of the credential's offline limit of "
                    f"{credential.limit}: {decision.explanation}",
                    direction=decision.direction,
                    ticket=ticket,
                )
                return Outcome(Signal(RED, QR_LIMIT, needed), number, None, tap_id, "qr")
        record = replace(
            self._accepted_record(number, number, now, decision, balance_after=None, card_tx=None),
            commit="confirmed",  # final once journaled: the account pays it
            **_qr_fields(ticket),
        )
        tap_id = self.journal.record_qr_tap(
            record.to_json(),
            credential_id=credential_hex,
            signed_at=ticket.signed_at,
            fare_record=_fare_record(decision.state),
        )
        code = _PAID_CODES.get(decision.paid_by, "paid")
        return Outcome(
            Signal(GREEN, code, decision.amount), number, str(decision.paid_by), tap_id, "qr"
        )

    def _ticket_gate(self, now: int) -> TicketGate:
        """The QR checks with the issuer keys of the journal's latest snapshot (the sync thread
        writes snapshots through its own connection: the revision tells when to parse again).
        Before its first code, the gate takes back the codes journaled while still fresh: a
        restart opens no window for a code shown a second time."""
        if not self._remembered:
            fresh_since = now - (qr.MAX_AGE + qr.CLOCK_SLACK)
            self._gate.remember(
                (bytes.fromhex(credential), signed_at)
                for credential, signed_at in self.journal.qr_codes_since(fresh_since)
            )
            self._remembered = True
        revision = self.journal.ticket_issuers_revision()
        if revision != self._issuers_revision:
            self._gate.issuers = _issuers(self.journal.ticket_issuers().items())
            self._issuers_revision = revision
        return self._gate

    def _settle_unknown_commit(
        self, client: DesfireClient, uid_hex: str, state: CardState
    ) -> wire.Tap | None:
        """Settle the last charge of this card whose commit answer was lost, from the card.

        The charge happened if the card's log holds it: its transaction number, time and amount.
        A higher counter alone is not proof, since another bus may have charged the card since.
        The journal records the outcome exactly once.
        """
        intent = self.journal.open_intent(uid_hex)
        if intent is None:
            return None
        draft = wire.Tap.from_json(intent.draft)
        committed = False
        if state.counters.transactions > intent.card_tx_before:
            wanted = intent.card_tx_before + 1
            with_log = read(client, state.uid, with_log=True)
            committed = any(
                record.kind in TAP_KINDS
                and record.transaction == wanted & 0xFFFF
                and record.amount == draft.amount
                and record.time == card_seconds(draft.time)
                for record in with_log.log
            )
            if not committed and with_log.log and min(r.transaction for r in with_log.log) > wanted:
                log.warning(
                    "tap %s: the card's log no longer reaches transaction %d; counted as not "
                    "charged",
                    intent.tap_id,
                    wanted,
                )
        if committed:
            tap = replace(draft, commit="recovered", tap_id=intent.tap_id)
            self.journal.resolve_intent(intent.tap_id, tap.to_json())
            return tap
        self.journal.resolve_intent(intent.tap_id, None)
        return None

    def _apply_loads(
        self, client: DesfireClient, uid_hex: str, state: CardState, now: datetime
    ) -> tuple[CardState, list[int], list[int]]:
        """Write this card's pending loads; returns the state, all loads it holds, those written."""
        pending = [wire.PendingAction.from_json(p) for p in self.journal.pending_for(uid_hex, 0)]
        # Loads the card already holds are confirmed again with this tap: a validator that
        # applied one may have lost power before it could report it.
        applied = [p.seq for p in pending if p.seq <= state.counters.last_load_seq]
        fresh = [p for p in pending if p.seq > state.counters.last_load_seq]
        loaded: list[int] = []
        seconds = card_seconds(now)
        for load in fresh:
            seq, kind = load.seq, load.kind
            try:
                if kind == "credit":
                    amount = load.amount
                    if amount > MAX_BALANCE - state.balance:
                        # The card would refuse it: it waits until the rider has spent enough.
                        log.warning("pending credit %d waits: the purse cannot take it", seq)
                        break
                    state = apply_credit(
                        client,
                        state,
                        self.masters,
                        seq=seq,
                        amount=amount,
                        time=seconds,
                    )
                elif kind == "pass" and load.pass_ is not None:
                    version = self.tariff.version_at(seconds) or self.tariff.versions[0]
                    state = apply_pass(
                        client,
                        state,
                        self.masters,
                        seq=seq,
                        entry=_pass(load.pass_),
                        time=seconds,
                        today=version.service_day(seconds),
                    )
                elif kind == "profile" and load.profile is not None:
                    state = apply_profile(
                        client,
                        state,
                        self.masters,
                        seq=seq,
                        category_code=load.profile.category_code,
                        valid_until=load.profile.valid_until,
                        time=seconds,
                    )
                else:
                    # Loads apply in order: one this validator cannot apply holds the later
                    # ones back, rather than being skipped for ever.
                    log.warning("pending action %d of kind %r is not supported", seq, kind)
                    break
            except CardFull:
                log.warning("pending pass %d waits: the card's pass slots are full", seq)
                break
            loaded.append(seq)
        if loaded:
            open_for_tap(client, state.uid, self.masters)
        return state, applied + loaded, loaded

    def _charge(
        self,
        client: DesfireClient,
        state: CardState,
        uid_hex: str,
        number: str,
        applied: list[int],
        loaded: list[int],
        now: datetime,
    ) -> Outcome:
        tap = Tap(now, self.route_id, self.stop_id, self.device_id, self.direction, self.vehicle_id)
        decision = price_tap(state.fare, tap, self.tariff)
        if not decision.accepted:
            code = decision.denial.code if decision.denial else "no_fare_rule"
            tap_id = self._record_denied(
                uid_hex, number, now, code, decision.explanation, applied, loaded, None, state
            )
            return Outcome(Signal(RED, code, None, state.balance), number, None, tap_id)
        # At an entry priced at exit the purse must hold the dearest fare from here, not 0.
        needed = max(decision.amount, decision.required)
        if needed > state.balance:
            tap_id = self._record_denied(
                uid_hex,
                number,
                now,
                "insufficient_balance",
                f"needs {needed}, holds {state.balance}: {decision.explanation}",
                applied,
                loaded,
                decision.direction,
                state,
            )
            return Outcome(
                Signal(RED, "insufficient_balance", needed, state.balance),
                number,
                None,
                tap_id,
            )
        draft = self._tap_record(uid_hex, number, now, decision, state, applied, loaded)
        tap_id = self.journal.begin_tap(uid_hex, state.counters.transactions, draft.to_json())
        try:
            result = charge(client, state, decision, tap)
        except CardRemoved:
            # The commit may or may not have happened: the intent stays open, and the card's
            # counter settles it at its next tap.
            return Outcome(Signal(AMBER, "tap_again"), number, None, None)
        except CardError:
            self.journal.resolve_intent(tap_id, None)
            return Outcome(Signal(AMBER, "tap_again"), number, None, None)
        final = replace(
            draft, tap_id=tap_id, commit="confirmed", card_tx=result.state.counters.transactions
        )
        self.journal.finish_tap(tap_id, final.to_json())
        paid_by = str(decision.paid_by)
        code = _PAID_CODES.get(decision.paid_by, "paid")
        return Outcome(
            Signal(GREEN, code, decision.amount, result.state.balance), number, paid_by, tap_id
        )

    def _tap_record(
        self,
        uid_hex: str,
        number: str,
        now: datetime,
        decision: Decision,
        state: CardState,
        applied: list[int],
        loaded: list[int],
    ) -> wire.Tap:
        """The charge about to be sent to the card; the journal gives it its id and number."""
        return self._accepted_record(
            uid_hex,
            number,
            now,
            decision,
            balance_after=state.balance - decision.amount,
            card_tx=state.counters.transactions + 1,
            applied=applied,
            loaded=loaded,
        )

    def _accepted_record(
        self,
        card_uid: str,
        number: str,
        now: datetime,
        decision: Decision,
        *,
        balance_after: int | None,
        card_tx: int | None,
        applied: Iterable[int] = (),
        loaded: Iterable[int] = (),
    ) -> wire.Tap:
        """An accepted tap's record, a card's or a QR ticket's."""
        return wire.Tap(
            time=now,
            card_uid=card_uid,
            card_number=number,
            route_id=self.route_id,
            stop_id=self.stop_id,
            result="accepted",
            amount=decision.amount,
            paid_by=str(decision.paid_by),
            balance_after=balance_after,
            card_tx=card_tx,
            applied_loads=tuple(applied),
            loaded=tuple(loaded),
            tariff_version=decision.tariff_version_id,
            explanation=decision.explanation,
            direction=str(decision.direction),
            vehicle_id=self.vehicle_id,
            entry_time=_card_time(decision.journey_start) if decision.journey_start else None,
            unfinished=decision.unfinished,
        )

    def _record_denied(
        self,
        uid_hex: str,
        number: str | None,
        now: datetime,
        code: str,
        explanation: str,
        applied: list[int] | None = None,
        loaded: list[int] | None = None,
        direction: Direction | None = None,
        state: CardState | None = None,
        *,
        ticket: qr.Ticket | None = None,
    ) -> str:
        """Journal a refused tap. When this tap wrote loads to the card before it was refused,
        the card's counter and purse after them go with it: the server's ledger follows the
        card through the loads without waiting for the next accepted tap. A QR ticket's tap
        names its credential and code, and the journal notes the code with it."""
        if direction is None:
            direction = Direction.ENTRY if self.direction == Direction.BOTH else self.direction
        after_loads = state is not None and bool(loaded)
        tap = wire.Tap(
            time=now,
            card_uid=uid_hex,
            card_number=number,
            route_id=self.route_id,
            stop_id=self.stop_id,
            result="denied",
            reason=code,
            amount=0,
            paid_by=str(PaidBy.NOTHING),
            balance_after=state.balance if state is not None and after_loads else None,
            card_tx=state.counters.transactions if state is not None and after_loads else None,
            applied_loads=tuple(applied or ()),
            loaded=tuple(loaded or ()),
            explanation=explanation,
            direction=str(direction),
            vehicle_id=self.vehicle_id,
        )
        if ticket is not None:
            return self.journal.record_qr_tap(
                replace(tap, **_qr_fields(ticket)).to_json(),
                credential_id=ticket.credential.credential_id.hex(),
                signed_at=ticket.signed_at,
                fare_record=None,
            )
        return self.journal.record_tap(tap.to_json())

    @staticmethod
    def _signal(colour: str, code: str) -> Outcome:
        return Outcome(Signal(colour, code), None, None, None)


def _card_time(seconds: int) -> datetime:
    return CARD_EPOCH + timedelta(seconds=seconds)


def _pass(record: wire.PassRecord | qr.PassGrant) -> Pass:
    """A pass the fare engine prices with, from a pending load or a QR credential: both carry
    the card layout's pass fields."""
    return Pass(
        pass_code=record.pass_code,
        category_code=record.category_code,
        valid_from=record.valid_from,
        valid_until=record.valid_until,
        route_key=record.route_key,
    )


# A virtual card's passes come from its credential at each tap: the journal keeps only the fare
# record (the card's 64 bytes), read back as a card's with empty pass slots.
_NO_PASSES = bytes(PASSES_SIZE)


def _virtual_fare_state(record: bytes | None, credential: qr.Credential) -> FareState:
    """What a card would hold for the virtual card: the fare record this validator keeps for
    it (journeys, transfers, caps), with the credential's rider category and passes."""
    passes = tuple(_pass(grant) for grant in credential.passes)
    if record is None:
        return FareState(credential.category_code, credential.category_until, passes=passes)
    return unpack_fare_state(record + _NO_PASSES)._replace(
        category_code=credential.category_code,
        category_valid_until=credential.category_until,
        passes=passes,
    )


def _fare_record(state: FareState) -> bytes:
    """The fare record to keep for a virtual card, in the card layout's bytes (without passes:
    they are the credential's)."""
    return pack_fare_state(state._replace(passes=()))[:FARE_RECORD_SIZE]


def _qr_fields(ticket: qr.Ticket) -> dict[str, Any]:
    """What a QR tap's record adds to a card's."""
    return {
        "medium": "qr",
        "credential_id": ticket.credential.credential_id.hex(),
        "code_signed_at": datetime.fromtimestamp(ticket.signed_at, UTC),
        "code_signature": base64.urlsafe_b64encode(ticket.signature).rstrip(b"=").decode(),
    }


def _issuers(entries: Iterable[tuple[str, str]]) -> dict[bytes, Any]:
    """The snapshot's issuer keys for `wire.qr.verify`; a key that does not parse, or whose id
    is not its own, is left out (and logged), not a reason to refuse every ticket."""
    keys: dict[bytes, Any] = {}
    for kid, public in entries:
        try:
            keys.update(issuer_keys({kid: public}))
        except ValueError as error:
            log.warning("snapshot's ticket issuer %s left out: %s", kid, error)
    return keys


class FieldCard(CardConnection, Protocol):
    """A card in a reader's field, held for one tap."""

    def __enter__(self) -> object: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> object: ...


class CardReader(Protocol):
    """What the main loop needs of the card reader (readers.pcsc.Reader)."""

    def wait_for_card(self, timeout: float | None) -> FieldCard | None: ...

    def wait_for_removal(self, timeout: float | None) -> bool: ...


def run(
    config: DeviceConfig,
    *,
    once: bool,
    sync: bool,
    display: Display,
    card_reader: CardReader | None = None,
) -> int:
    """The validator's main loop: wait for a card or a QR code, decide, show, and for a card
    wait for it to leave. `card_reader` stands in for the PC/SC reader (tests)."""
    if card_reader is not None:
        return _serve(config, card_reader, once=once, sync=sync, display=display)
    from readers.pcsc import Pcsc  # pyscard stays out of everything that only decides taps

    with Pcsc() as context:
        return _serve(config, context.reader(config.reader), once=once, sync=sync, display=display)


def _serve(
    config: DeviceConfig, reader: CardReader, *, once: bool, sync: bool, display: Display
) -> int:
    masters = MasterKeys.from_json(config.keys_file.read_text(encoding="utf-8"))
    stop = threading.Event()
    threads: list[threading.Thread] = []
    # QR codes from the scanner's thread: the tap loop decides them between cards.
    codes: queue.Queue[str] = queue.Queue(maxsize=_QR_QUEUE)
    with Journal(config.journal) as journal:
        if sync:
            threads.append(threading.Thread(target=_sync, args=(config, stop), daemon=True))
        if config.qr_scanner:
            threads.append(
                threading.Thread(
                    target=_scan, args=(config.qr_scanner, codes, stop), daemon=True, name="qr"
                )
            )
        stops = _stop_source(config)
        try:
            for thread in threads:
                thread.start()
            validator = _validator(config, journal, masters, stops)

            def serve_codes() -> bool:
                """Decide the QR codes read so far; True if there was one."""
                served = False
                while True:
                    try:
                        text = codes.get_nowait()
                    except queue.Empty:
                        return served
                    _show(display, validator.qr_tap(text))
                    served = True
                    if once:
                        return True

            wait = _QR_POLL_S if config.qr_scanner else 1.0
            while True:
                card = reader.wait_for_card(timeout=wait)
                if card is not None:
                    with card:
                        outcome = validator.tap(card)
                    _show(display, outcome)
                    if once:
                        return 0
                    if config.qr_scanner:
                        # A card left on the reader does not hold the QR codes back.
                        while not reader.wait_for_removal(timeout=wait):
                            serve_codes()
                    else:
                        reader.wait_for_removal(timeout=None)
                if serve_codes() and once:
                    return 0
        finally:
            stop.set()
            stops.close()
            for thread in threads:
                if thread.is_alive():
                    thread.join(timeout=5)


def _validator(
    config: DeviceConfig, journal: Journal, masters: MasterKeys, stops: StopSource
) -> Validator:
    return Validator(
        journal,
        masters,
        load_hanoi_tariff(),
        device_id=config.device_id,
        route_id=config.route_id,
        stop_id=config.stop_id,
        direction=config.direction,
        vehicle_id=config.vehicle_id,
        stops=stops,
    )


def _show(display: Display, outcome: Outcome) -> None:
    display.show(outcome.signal)
    display.beep(outcome.signal.colour)
    print(outcome.as_json(), flush=True)


def _scan(spec: str, codes: queue.Queue[str], stop: threading.Event) -> None:
    """The QR scanner's thread: its codes into `codes` until `stop`. A scanner that cannot be
    opened, or fails (unplugged), is opened again a few seconds later; cards go on meanwhile.
    Never a code's text in the log (readers/scanner.py)."""
    from readers.scanner import Scanner, open_scanner

    scanner: Scanner | None = None
    try:
        while not stop.is_set():
            if scanner is None:
                try:
                    scanner = open_scanner(spec)
                except (OSError, ValueError) as error:
                    log.error("QR scanner %s: %s; trying again", spec, error)
                    stop.wait(_SCANNER_RETRY_S)
                    continue
            try:
                text = scanner.read(0.5)
            except OSError as error:
                log.error("QR scanner %s failed: %s; opening it again", spec, error)
                scanner.close()
                scanner = None
                stop.wait(_SCANNER_RETRY_S)
                continue
            if text is not None:
                try:
                    codes.put_nowait(text)
                except queue.Full:
                    log.warning("QR code dropped: %d codes wait to be decided", codes.qsize())
            elif getattr(scanner, "exhausted", False):
                return  # image files: all read
    finally:
        if scanner is not None:
            scanner.close()


def decide_image(config: DeviceConfig, image: Path, display: Display) -> int:
    """Decide the first QR code in an image file as a tap at the configured stop, print its
    JSON line, and return 0 if it was accepted, 1 if refused, 2 if the image has no code.
    No card reader: pyscard is not imported."""
    from PIL import Image

    from readers.scanner import decode_qr

    try:
        with Image.open(image) as opened:
            found = decode_qr(opened.convert("L"))
    except OSError as error:
        print(f"error: {image}: {error}", file=sys.stderr)
        return 2
    if not found:
        print(f"error: {image}: no QR code found", file=sys.stderr)
        return 2
    masters = MasterKeys.from_json(config.keys_file.read_text(encoding="utf-8"))
    with Journal(config.journal) as journal:
        outcome = _validator(config, journal, masters, FixedStop(config.stop_id)).qr_tap(found[0])
    _show(display, outcome)
    return 0 if outcome.signal.colour == GREEN else 1


def sync_once(config: DeviceConfig) -> int:
    """Upload everything the journal holds and fetch the snapshot, once: 0 when both worked,
    1 (with the reason on stderr) when the server could not be reached."""
    from readers.sync import SyncClient, SyncError

    with Journal(config.journal) as journal:
        client = SyncClient(config.server_url, config.device_id, config.private_key, journal)
        try:
            sent = 0
            while (batch := client.upload_once()) > 0:
                sent += batch
            changed = client.refresh_snapshot()
        except SyncError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(
            json.dumps(
                {
                    "uploaded": sent,
                    "snapshot_changed": changed,
                    "snapshot_version": journal.snapshot_version(),
                    "backlog": journal.backlog(),
                }
            ),
            flush=True,
        )
    return 0


def _stop_source(config: DeviceConfig) -> FixedStop | PositionTracker:
    """GPS for a bus with gpsd configured, else the configured stop (a gate's station)."""
    if not config.gpsd or config.gtfs_dir is None:
        return FixedStop(config.stop_id)
    host, port = _gpsd_address(config.gpsd)
    locator = StopLocator(stops_for_route(config.gtfs_dir, config.route_id), config.stop_radius_m)
    return PositionTracker(locator, GpsdClient(host, port)).start()


def _sync(config: DeviceConfig, stop: threading.Event) -> None:
    from readers.sync import SyncClient

    # sqlite3 connections stay in the thread that made them: the sync thread opens its own.
    with Journal(config.journal) as journal:
        SyncClient(config.server_url, config.device_id, config.private_key, journal).run_forever(
            stop
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m readers.validator")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--once", action="store_true", help="handle one tap and exit")
    parser.add_argument("--no-sync", action="store_true", help="never talk to the server")
    parser.add_argument(
        "--sync-once",
        action="store_true",
        help="upload the journal's taps and fetch the snapshot once, then exit (no reader)",
    )
    parser.add_argument(
        "--qr-image",
        type=Path,
        help="decide the first QR code in this image (PNG) as a tap, with no reader, and exit",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = DeviceConfig.load(args.config)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    display = ConsoleDisplay(language=config.language)
    if args.sync_once:
        return sync_once(config)
    if args.qr_image is not None:
        return decide_image(config, args.qr_image, display)
    try:
        return run(config, once=args.once, sync=not args.no_sync, display=display)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
