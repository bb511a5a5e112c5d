"""The validator on the bus: one tap at a time, decided offline, journaled before the green light.

    python -m readers.validator --config device.toml [--once] [--no-sync]

A tap: read the UID, refuse a deny-listed card, authenticate, read the card, settle a tap whose
commit answer was lost last time, apply pending loads for this card, price the tap with
`fares`, write an intent to the journal, charge the card, journal the tap (fsync), and only then
show green. Each tap prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from cards.layout import MAX_BALANCE, TAP_KINDS, TransitCardError
from fares import (
    Decision,
    Direction,
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

log = logging.getLogger(__name__)

# A rider told "tap again" does so within seconds; a card settled later is boarding anew.
RETAP_WINDOW = timedelta(minutes=2)
VERSION = "0.1.0"

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
                    offered = load.pass_
                    version = self.tariff.version_at(seconds) or self.tariff.versions[0]
                    state = apply_pass(
                        client,
                        state,
                        self.masters,
                        seq=seq,
                        entry=Pass(
                            pass_code=offered.pass_code,
                            category_code=offered.category_code,
                            valid_from=offered.valid_from,
                            valid_until=offered.valid_until,
                            route_key=offered.route_key,
                        ),
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
        return wire.Tap(
            time=now,
            card_uid=uid_hex,
            card_number=number,
            route_id=self.route_id,
            stop_id=self.stop_id,
            result="accepted",
            amount=decision.amount,
            paid_by=str(decision.paid_by),
            balance_after=state.balance - decision.amount,
            card_tx=state.counters.transactions + 1,
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
    ) -> str:
        """Journal a refused tap. When this tap wrote loads to the card before it was refused,
        the card's counter and purse after them go with it: the server's ledger follows the
        card through the loads without waiting for the next accepted tap."""
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
        return self.journal.record_tap(tap.to_json())

    @staticmethod
    def _signal(colour: str, code: str) -> Outcome:
        return Outcome(Signal(colour, code), None, None, None)


def _card_time(seconds: int) -> datetime:
    return CARD_EPOCH + timedelta(seconds=seconds)


def run(config: DeviceConfig, *, once: bool, sync: bool, display: Display) -> int:
    """The validator's main loop: wait for a card, decide, show, wait for it to leave."""
    from readers.pcsc import Pcsc  # pyscard stays out of everything that only decides taps

    masters = MasterKeys.from_json(config.keys_file.read_text(encoding="utf-8"))
    stop = threading.Event()
    syncer: threading.Thread | None = None
    with Journal(config.journal) as journal, Pcsc() as context:
        if sync:
            syncer = threading.Thread(target=_sync, args=(config, stop), daemon=True)
            syncer.start()
        stops = _stop_source(config)
        validator = Validator(
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
        reader = context.reader(config.reader)
        try:
            while True:
                card = reader.wait_for_card(timeout=1.0)
                if card is None:
                    continue
                with card:
                    outcome = validator.tap(card)
                display.show(outcome.signal)
                display.beep(outcome.signal.colour)
                print(outcome.as_json(), flush=True)
                if once:
                    return 0
                reader.wait_for_removal(timeout=None)
        finally:
            stop.set()
            stops.close()
            if syncer is not None:
                syncer.join(timeout=5)


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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = DeviceConfig.load(args.config)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    display = ConsoleDisplay(language=config.language)
    try:
        return run(config, once=args.once, sync=not args.no_sync, display=display)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
