"""QR tickets (issue 17): the validator's check and whole tap, a camera frame's decoding, and the
backend's credential issuing.

    python bench/qr_tickets.py [--codes 2000] [--taps 500] [--frames 200] [--issues 2000]
                               [--riders 300] [--no-postgres]

On the validator, one code at a time, as a scanner hands them over:

1. `TicketGate.check` on distinct fresh codes, each of another rider's credential with its own
   phone key: base45, CBOR, the issuer's Ed25519 and the phone's ECDSA P-256 signatures, the
   deny list and the replay memory. The validator's clock moves one second a code.
2. `Validator.qr_tap`, the whole tap: that check, the journal's deny list, the fare engine on the
   Hanoi tariff, the offline limit and the journal write (SQLite on disk in a temporary folder,
   WAL, synchronous=FULL: an fsync a tap), each tap an accepted bus fare of another rider. This
   is the figure held against "p99 <= 20 ms".
3. `decode_qr` (zxing-cpp) on a 640x480 grey camera frame holding a ticket as a phone shows it
   (segno, error level M, scale 4), and on a frame with no code: it depends on the camera, so it
   is reported beside the tap, not in it.

On the backend, `transit.services.credentials.issue` for a few hundred riders' virtual cards (set
up through the services), one credential at a time, each in its own unit of work and committed:
on SQLite (a file, WAL, synchronous=NORMAL, as transit.db sets it) and on a private PostgreSQL
with fsync, synchronous_commit and full_page_writes on; then the same through
`POST /api/v1/cards/{id}/credentials` with Flask's test client (in process: no sockets, no
gunicorn), bearer token, rate limiter, JSON and all. Held against ">= 500 per second".
"""

from __future__ import annotations

import argparse
import base64
import io
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import segno  # noqa: E402
import support  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from PIL import Image  # noqa: E402

from cards.application import MasterKeys  # noqa: E402
from fares import load_hanoi_tariff  # noqa: E402
from readers.display import GREEN  # noqa: E402
from readers.journal import Journal  # noqa: E402
from readers.scanner import decode_qr  # noqa: E402
from readers.tickets import (  # noqa: E402
    TicketGate,
    code_signature,
    compressed,
    issuer_keys,
    sign_code,
)
from readers.validator import Validator  # noqa: E402
from scripts.postgres import start_postgres  # noqa: E402
from transit import migrate  # noqa: E402
from transit.db import make_engine, make_session_factory  # noqa: E402
from transit.models import Card, Rider, RiderStatus, TicketCredential  # noqa: E402
from transit.services import accounts, cards, credentials, ledger  # noqa: E402
from transit.services.riders import CONSENT_VERSION  # noqa: E402
from transit.uow import UnitOfWork  # noqa: E402
from wire import Tap as WireTap  # noqa: E402
from wire import qr  # noqa: E402

TAP_P99_MS = 20.0
ISSUE_RATE = 500
HANOI = load_hanoi_tariff()
# 2026-12-06 14:00 in Hanoi, as the validator's QR tests: the Hanoi tariff is in force.
T0 = 1_796_536_800 + 3600
MASTERS = MasterKeys(*(bytes([0x40 + n]) * 16 for n in range(6)))
# The backend's own issuer (transit.services.credentials), from a bench-only secret.
ISSUER = credentials.Issuer(bytes(range(32)))
DURABLE_POSTGRES = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


@dataclass
class Spread:
    """Latencies in seconds, shown in milliseconds."""

    values: list[float]

    def at(self, share: float) -> float:
        return support.percentile(self.values, share) * 1000

    @property
    def p50(self) -> float:
        return self.at(0.5)

    @property
    def p99(self) -> float:
        return self.at(0.99)

    @property
    def max(self) -> float:
        return max(self.values) * 1000

    def line(self, name: str) -> str:
        return (
            f"{name:<58} p50 {self.p50:6.2f} ms  p99 {self.p99:6.2f} ms  max {self.max:6.2f} ms"
            f"  ({len(self.values):,})"
        )


# -- the validator ------------------------------------------------------------------------------


def riders_codes(count: int, first_serial: int, start: int) -> list[str]:
    """One code for each of `count` riders, each with a credential (adult, no pass, 200,000 VND
    offline limit) certifying a phone key of its own; code n is signed 5 s before start + n."""
    codes = []
    for n in range(count):
        phone = ec.generate_private_key(ec.SECP256R1())
        credential = rider_credential(first_serial + n, phone)
        issued = qr.issue(credential, ISSUER.kid, ISSUER.sign)
        codes.append(sign_code(issued, start + n - 5, phone))
    return codes


def rider_credential(serial: int, phone: ec.EllipticCurvePrivateKey) -> qr.Credential:
    """An adult's credential with no pass and 200,000 VND to spend offline, valid from an hour
    before T0, certifying `phone`."""
    return qr.Credential(
        credential_id=os.urandom(8),
        card_number=cards.card_number("8401", serial),
        category_code=HANOI.latest.categories["adult"].code,
        category_until=65535,
        passes=(),
        limit=200_000,
        phone_key=compressed(phone.public_key()),
        not_before=T0 - 3600,
        expires=T0 - 3600 + 86_400,
    )


def ticket_checks(count: int) -> Spread:
    gate = TicketGate(issuer_keys({ISSUER.kid.hex(): ISSUER.public.hex()}))
    codes = riders_codes(count, 1, T0)
    times = []
    for n, text in enumerate(codes):
        began = time.perf_counter()
        gate.check(text, T0 + n)
        times.append(time.perf_counter() - began)
    return Spread(times)


def proof_checks(count: int) -> Spread:
    """The backend's check of a QR tap's proof at upload (transit.services.credentials): the
    phone's ES256 signature over the credential's bytes and the code's time."""
    cases = []
    for n in range(count):
        phone = ec.generate_private_key(ec.SECP256R1())
        credential = rider_credential(500_000 + n, phone)
        issued = qr.issue(credential, ISSUER.kid, ISSUER.sign)
        signed_at = T0 + n - 5
        shown = code_signature(issued, signed_at, phone)
        tap = WireTap(
            time=datetime.fromtimestamp(T0 + n, UTC),
            card_uid=credential.card_number,
            card_number=credential.card_number,
            route_id="32",
            result="accepted",
            amount=10_000,
            paid_by="stored_value",
            medium="qr",
            credential_id=credential.credential_id.hex(),
            code_signed_at=datetime.fromtimestamp(signed_at, UTC),
            code_signature=base64.urlsafe_b64encode(shown).rstrip(b"=").decode(),
        )
        row = TicketCredential(
            credential_id=credential.credential_id.hex(),
            phone_key=credential.phone_key.hex(),
            issued_at=datetime.fromtimestamp(credential.not_before, UTC),
            expires_at=datetime.fromtimestamp(credential.expires, UTC),
            credential=issued,
        )
        cases.append((tap, row))
    times = []
    for tap, row in cases:
        began = time.perf_counter()
        proof = credentials.check_proof(tap, (row, tap.card_uid))
        times.append(time.perf_counter() - began)
        if proof.verdict != credentials.VALID:
            raise SystemExit(f"a genuine tap's proof did not hold: {proof.why}")
    return Spread(times)


def snapshot() -> dict[str, object]:
    return {
        "version": 1,
        "full": False,
        "tariff_version": HANOI.latest.version_id,
        "deny": [],
        "allow": [],
        "pending": [],
        "withdrawn": [],
        "ticket_issuers": [ISSUER.record().to_json()],
    }


def qr_taps(count: int, warm: int, folder: Path) -> tuple[Spread, int]:
    """`count` accepted QR taps after `warm` untimed ones: (latencies, VND charged in all)."""
    codes = riders_codes(warm + count, 100_000, T0)
    clock = [T0]
    with Journal(folder / "journal.sqlite3") as journal:
        journal.apply_snapshot(snapshot())
        validator = Validator(
            journal,
            MASTERS,
            HANOI,
            device_id="dev_bench_qr",
            route_id="32",
            stop_id="HN0010",
            clock=lambda: datetime.fromtimestamp(clock[0], UTC),
        )
        times = []
        charged = 0
        for n, text in enumerate(codes):
            clock[0] = T0 + n  # a busy door: a rider a second
            began = time.perf_counter()
            outcome = validator.qr_tap(text)
            elapsed = time.perf_counter() - began
            if outcome.signal.colour != GREEN or not outcome.signal.amount:
                raise SystemExit(f"tap {n} not an accepted fare: {outcome.signal}")
            if n >= warm:
                times.append(elapsed)
                charged += outcome.signal.amount
        journaled = len(journal.outbox(warm + count + 10))
    if journaled != warm + count:
        raise SystemExit(f"{journaled} taps journaled, expected {warm + count}")
    return Spread(times), charged


def camera_frame(text: str) -> Image.Image:
    """A phone's screen as a 640x480 grey camera frame sees it: the code (scale 4, its quiet
    zone of 4 modules) on the white screen, on a mid-grey scene."""
    png = io.BytesIO()
    segno.make(text, error="m").save(png, kind="png", scale=4, border=4)
    png.seek(0)
    with Image.open(png) as code:
        shown = code.convert("L")
    frame = Image.new("L", (640, 480), 128)
    frame.paste(shown, ((640 - shown.width) // 2, (480 - shown.height) // 2))
    return frame


def frame_decodes(count: int) -> tuple[Spread, Spread, int]:
    """(decoding frames with a ticket, frames with none, the code's side in pixels)."""
    texts = riders_codes(min(count, 50), 500_000, T0)
    frames = [camera_frame(text) for text in texts]
    side = int(segno.make(texts[0], error="m").symbol_size(scale=4, border=4)[0])
    empty = Image.new("L", (640, 480), 128)
    found, nothing = [], []
    for n in range(count):
        frame = frames[n % len(frames)]
        began = time.perf_counter()
        decoded = decode_qr(frame)
        found.append(time.perf_counter() - began)
        if decoded != [texts[n % len(texts)]]:
            raise SystemExit(f"frame {n}: decoded {len(decoded)} codes, not its ticket")
        began = time.perf_counter()
        if decode_qr(empty):
            raise SystemExit("a code found in an empty frame")
        nothing.append(time.perf_counter() - began)
    return Spread(found), Spread(nothing), side


# -- the backend --------------------------------------------------------------------------------


def phone_public(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The phone's public key as WebCrypto exports it ('raw', 65 bytes)."""
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def make_riders(session_factory: object, riders: int, now: datetime) -> list[tuple[str, str]]:
    """`riders` verified riders, each with a virtual card (accounts.create_virtual_card) topped
    up with 100,000 VND (ledger.post): [(rider_id, card_id)]. The riders' rows are written
    directly: registering through riders.request_registration would hash a password each."""
    made = []
    with UnitOfWork(session_factory) as uow:  # type: ignore[arg-type]
        for n in range(riders):
            rider = Rider(
                rider_id="rdr_" + uuid.uuid4().hex[:24],
                phone=f"+8490{n:07d}",
                status=RiderStatus.ACTIVE,
                language="vi",
                consent_version=CONSENT_VERSION,
                consent_at=now,
                created_at=now,
                verified_at=now,
            )
            uow.session.add(rider)
            uow.session.flush()
            card = accounts.create_virtual_card(rider, "8401", now, uow)
            ledger.post(card, "topup", f"bench-{n}", 100_000, "bench top-up", now, uow)
            made.append((rider.rider_id, card.card_id))
        uow.commit()
    return made


def issue_service(
    session_factory: object, made: list[tuple[str, str]], keys: list[bytes], count: int
) -> float:
    """Credentials per second through credentials.issue, each in its own committed unit of work,
    loading the rider first as the endpoint does."""
    issuer = credentials.Issuer(b"\x07" * 32)
    began = time.perf_counter()
    for n in range(count):
        rider_id, card_id = made[n % len(made)]
        with UnitOfWork(session_factory) as uow:  # type: ignore[arg-type]
            rider = uow.session.get(Rider, rider_id)
            assert rider is not None
            issued = credentials.issue(
                rider, card_id, keys[n % len(keys)], issuer, datetime.now(UTC), uow
            )
            uow.commit()
        if issued.spend_limit != 100_000:
            raise SystemExit(f"issued with a limit of {issued.spend_limit}")
    return count / (time.perf_counter() - began)


def issue_share(
    job: tuple[str, list[tuple[str, str]], list[bytes], int, float],
) -> tuple[float, float]:
    """One of several processes issuing at once (as gunicorn's workers would), each for riders of
    its own: after a few untimed issues it starts at `start` (time.monotonic, shared by all the
    processes) and returns when it began and ended."""
    url, made, keys, count, start = job
    engine = make_engine(url)
    factory = make_session_factory(engine)
    issue_service(factory, made, keys, min(10, count))
    time.sleep(max(0.0, start - time.monotonic()))
    began = time.monotonic()
    issue_service(factory, made, keys, count)
    ended = time.monotonic()
    engine.dispose()
    return began, ended


def issue_concurrently(
    url: str, made: list[tuple[str, str]], keys: list[bytes], count: int, workers: int
) -> float:
    """Credentials per second from `workers` processes issuing at once, `count` in all."""
    shares = [
        (url, made[w::workers], keys[w::workers], count // workers, time.monotonic() + 3.0)
        for w in range(workers)
    ]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        spans = pool.map(issue_share, shares)
    done = sum(share[3] for share in shares)
    return done / (max(end for _, end in spans) - min(began for began, _ in spans))


def issue_http(url: str, made: list[tuple[str, str]], keys: list[bytes], count: int) -> float:
    """Credentials per second through POST /api/v1/cards/{id}/credentials, Flask's test client."""
    from api import create_app
    from api.auth import issue_access_token

    with tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {
                "DATABASE_URL": url,
                "SECRET_KEY": "b" * 40,
                "INSTANCE_PATH": instance,
                "LOG_LEVEL": "WARNING",
            }
        )
        factory = app.extensions["transit"].session_factory
        with app.app_context(), UnitOfWork(factory) as uow:
            tokens = {}
            for rider_id, _ in made:
                rider = uow.session.get(Rider, rider_id)
                assert rider is not None
                tokens[rider_id] = issue_access_token(rider, datetime.now(UTC))[0]
        bodies = [{"public_key": base64.urlsafe_b64encode(k).rstrip(b"=").decode()} for k in keys]
        client = app.test_client()

        def post(n: int) -> None:
            rider_id, card_id = made[n % len(made)]
            answer = client.post(
                f"/api/v1/cards/{card_id}/credentials",
                json=bodies[n % len(bodies)],
                headers={"Authorization": f"Bearer {tokens[rider_id]}"},
            )
            if answer.status_code != 201:
                raise SystemExit(f"credential: {answer.status_code} {answer.get_data()[:300]!r}")

        post(0)  # the app's first request builds what it caches
        began = time.perf_counter()
        for n in range(1, count + 1):
            post(n)
        rate = count / (time.perf_counter() - began)
        app.extensions["transit"].engine.dispose()
    return rate


@dataclass
class Issuing:
    database: str
    service: float
    concurrent: float
    workers: int
    http: float
    stored: int


def issuing(url: str, database: str, riders: int, count: int, workers: int) -> Issuing:
    engine = make_engine(url)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    now = datetime.now(UTC) - timedelta(minutes=5)
    made = make_riders(factory, riders, now)
    keys = [phone_public(ec.generate_private_key(ec.SECP256R1())) for _ in range(riders)]
    # A few issues first, so the pool, the tariff and the statements' caches are warm.
    issue_service(factory, made, keys, min(20, count))
    service = issue_service(factory, made, keys, count)
    concurrent = issue_concurrently(url, made, keys, count, workers)
    http = issue_http(url, made, keys, count)
    with UnitOfWork(factory) as uow:
        from sqlalchemy import func, select

        from transit.models import TicketCredential

        stored = uow.session.scalar(select(func.count()).select_from(TicketCredential)) or 0
        virtual = uow.session.scalar(select(func.count()).select_from(Card)) or 0
    engine.dispose()
    if virtual != riders:
        raise SystemExit(f"{virtual} cards, expected {riders}")
    result = Issuing(database, service, concurrent, workers, http, stored)
    print(
        f"{'credentials.issue + commit, one at a time, ' + database:<58} {service:8,.0f} /s   "
        f"(target >= {ISSUE_RATE} /s)"
    )
    print(f"{f'the same from {workers} processes at once, ' + database:<58} {concurrent:8,.0f} /s")
    print(f"{'POST .../credentials, test client, ' + database:<58} {http:8,.0f} /s")
    return result


# -- the report ---------------------------------------------------------------------------------


def ms(spread: Spread) -> str:
    return f"p50 {spread.p50:.2f} ms, p99 {spread.p99:.2f} ms, max {spread.max:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--codes", type=int, default=2000, help="codes for TicketGate.check")
    parser.add_argument("--taps", type=int, default=500, help="whole QR taps on the validator")
    parser.add_argument("--frames", type=int, default=200, help="camera frames decoded")
    parser.add_argument("--issues", type=int, default=2000, help="credentials issued, each way")
    parser.add_argument("--riders", type=int, default=300, help="riders they are issued for")
    parser.add_argument("--workers", type=int, default=4, help="processes issuing at once")
    parser.add_argument("--no-postgres", action="store_true", help="issue on SQLite only")
    parser.add_argument("--json", help="also write the figures to this file (for make bench)")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"{support.describe()}; load average {load[0]:.2f} at the start "
        "(one process, one code at a time)"
    )

    check = ticket_checks(args.codes)
    print(check.line("TicketGate.check, distinct riders' fresh codes"))
    with tempfile.TemporaryDirectory(prefix="bench-qr-") as folder:
        taps, charged = qr_taps(args.taps, 20, Path(folder))
    print(taps.line("Validator.qr_tap, journal fsync, accepted bus fares") + f"  target p99 <= "
          f"{TAP_P99_MS:.0f} ms: {'met' if taps.p99 <= TAP_P99_MS else 'NOT met'}")  # fmt: skip
    print(f"{'':<58} ({charged:,} VND charged; journal in {tempfile.gettempdir()})")
    proofs = proof_checks(args.codes)
    print(proofs.line("the backend's proof check of an uploaded QR tap (ES256)"))
    found, nothing, side = frame_decodes(args.frames)
    print(found.line(f"decode_qr, 640x480 frame with a {side}px ticket"))
    print(nothing.line("decode_qr, 640x480 frame with no code"))

    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-qr-") as folder:
        runs.append(
            issuing(
                f"sqlite:///{folder}/bench.sqlite3",
                "SQLite",
                args.riders,
                args.issues,
                args.workers,
            )
        )
    if not args.no_postgres:
        server = start_postgres(DURABLE_POSTGRES)
        try:
            server.execute("CREATE DATABASE bench")
            runs.append(
                issuing(server.url("bench"), "PostgreSQL", args.riders, args.issues, args.workers)
            )
        finally:
            server.stop()
    per_worker = args.issues // args.workers
    concurrent = args.workers * (min(10, per_worker) + per_worker)
    expected = args.issues + min(20, args.issues) + concurrent + args.issues + 1
    for run in runs:
        if run.stored != expected:
            raise SystemExit(f"{run.database}: {run.stored} credentials stored, not {expected}")
    main_run = runs[-1]
    each = "; ".join(
        f"{r.database} {r.concurrent:,.0f}/s from {r.workers} processes, "
        f"{r.service:,.0f}/s one at a time"
        for r in runs
    )
    http_all = ", ".join(f"{r.database} {r.http:,.0f}/s" for r in runs)
    pg_note = "" if args.no_postgres else " with fsync on"

    bench = (
        f"bench/qr_tickets.py --codes {args.codes} --taps {args.taps} --frames {args.frames} "
        f"--issues {args.issues} --riders {args.riders} --workers {args.workers}"
        + (" --no-postgres" if args.no_postgres else "")
    )
    support.write_figures(
        args.json,
        [
            support.Figure(
                name="QR tap on the validator (ticket check, deny list, fare, limit, journal "
                "with fsync)",
                value=taps.p99,
                unit="ms",
                shown=ms(taps),
                target=f"p99 <= {TAP_P99_MS:.0f} ms",
                met=taps.p99 <= TAP_P99_MS,
                baseline=f"the ticket check alone {ms(check)}",
                bench=bench,
            ),
            support.Figure(
                name="The backend's check of an uploaded QR tap's proof (the phone's ES256 "
                "signature over the credential it issued)",
                value=proofs.p99,
                unit="ms",
                shown=ms(proofs),
                bench=bench,
            ),
            support.Figure(
                name="QR code decoded from a 640x480 camera frame (zxing-cpp), apart from the tap",
                value=found.p99,
                unit="ms",
                shown=f"p50 {found.p50:.1f} ms, p99 {found.p99:.1f} ms",
                baseline=f"a frame with no code p50 {nothing.p50:.1f} ms, p99 {nothing.p99:.1f} ms",
                bench=bench,
            ),
            support.Figure(
                name=f"QR credentials issued (credentials.issue and its commit), "
                f"{main_run.database}{pg_note}, {main_run.workers} processes at once",
                value=main_run.concurrent,
                unit="credentials/s",
                shown=each,
                target=f">= {ISSUE_RATE} /s",
                met=main_run.concurrent >= ISSUE_RATE,
                baseline=f"through POST /api/v1/cards/{{id}}/credentials, Flask test client, one "
                f"at a time: {http_all}",
                bench=bench,
            ),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
