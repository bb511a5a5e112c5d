"""Stripe's webhooks reordered and repeated: every payment ends where its real outcome says.

Stripe delivers each event at least once and in no particular order: a delivery that failed is
retried for up to three days (the same event id, signed anew), events of one payment race each
other, and Stripe's guide to duplicate events warns that a change is sometimes sent as two
separate Event objects (a fresh event id, the same object and type). So here
several payments of one card (top-ups and passes) each live a real-world story: declined cards,
a 3-D Secure step, success, refunds in one or two parts, or a rider who gave up. Every event
Stripe would send for those stories, with the same shapes, is delivered through the real
webhook endpoint (signed as Stripe signs) in an order Hypothesis picks, with redeliveries of
the same id and copies under fresh ids mixed in anywhere.

Whatever the order, every delivery answers 200, each payment ends in the state its story
implies, the card gets one load or pass per paid payment (withdrawn when fully refunded before
the card saw it), refunds count once, and the only alerts are the ones an operator must see.
Last, the same event and its twin are delivered at the same moment, as a retry that overtakes a
slow first delivery would be.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import stripe
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select

from api.deps import unit_of_work
from api.limits import limiter
from tests.api.test_payments import buy, signed, stripe_test_app, topup, webhook
from tests.api.test_riders import bearer, signed_up
from tests.api.test_wallet import issue, link
from tests.conftest import SmsOutbox
from tests.support.localstripe import (
    Localstripe,
    LocalstripeUnavailable,
    start_localstripe,
)
from tests.support.required import running
from transit.models import Alert, AuditEntry, Card, Payment, PaymentEvent, PendingAction

# The default run is the same few orders every time; `make test-long` explores many more.
COMMON = {
    "deadline": None,
    "database": None,
    # One app and database per test, shared by its examples: each example makes its own card.
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
DEFAULT_RUN = settings(max_examples=12, derandomize=True, **COMMON)
LONG_RUN = settings(max_examples=250, **COMMON)

OUTCOMES = ("paid", "refunded", "refunded_in_two", "partly_refunded", "declined", "abandoned")
ANSWERS = {"applied", "no_change", "duplicate", "ignored"}


@dataclass(frozen=True)
class Story:
    """What happens to one payment in the real world."""

    kind: str  # topup, pass
    amount: int  # a top-up's amount; a pass costs its price
    outcome: str
    declines: int  # declined cards before the one that paid (or that were all there was)
    three_d_secure: bool


@dataclass
class Made:
    """A story's payment: ours and Stripe's ids, and the events Stripe sends for it."""

    story: Story
    payment_id: str
    intent: str
    amount: int
    events: list[dict[str, Any]]


stories = st.lists(
    st.builds(
        Story,
        kind=st.sampled_from(("topup", "pass")),
        amount=st.sampled_from((20_000, 50_000, 100_000)),
        outcome=st.sampled_from(OUTCOMES),
        declines=st.integers(0, 2),
        three_d_secure=st.booleans(),
    ),
    min_size=1,
    max_size=4,
)


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stripe_stand_in() -> Iterator[Localstripe]:
    with running("localstripe", start_localstripe, LocalstripeUnavailable) as server:
        yield server


@pytest.fixture
def paying_app(
    database_url: str, tmp_path: Path, sms: SmsOutbox, stripe_stand_in: Localstripe
) -> Iterator[Flask]:
    app = stripe_test_app(database_url, tmp_path, sms, stripe_stand_in)
    yield app
    app.extensions["transit"].engine.dispose()


@pytest.fixture
def paying_rider(paying_app: Flask, sms: SmsOutbox) -> dict[str, str]:
    return bearer(signed_up(paying_app.test_client(), sms))


@pytest.fixture
def card_uids() -> Iterator[str]:
    return (f"04F1{n:010X}" for n in itertools.count(1))


# -- what Stripe sends --------------------------------------------------------------------------


def stripe_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def event(kind: str, obj: dict[str, Any], created: int) -> dict[str, Any]:
    return {
        "id": stripe_id("evt"),
        "object": "event",
        "api_version": stripe.api_version,
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def stripe_events(made: Made, card_id: str) -> list[dict[str, Any]]:
    """Every event Stripe sends for the story, in the order things happened."""
    story, amount = made.story, made.amount
    clock = itertools.count(int(time.time()) - 600)
    intent: dict[str, Any] = {
        "id": made.intent,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": 0,
        "currency": "vnd",
        "status": "requires_payment_method",
        "metadata": {"payment_id": made.payment_id, "card_id": card_id},
        "client_secret": f"{made.intent}_secret_{secrets.token_hex(8)}",
        "created": next(clock),
        "latest_charge": None,
        "last_payment_error": None,
        "livemode": False,
    }

    def charge(status: str, refunded: int = 0) -> dict[str, Any]:
        return {
            "id": intent["latest_charge"],
            "object": "charge",
            "amount": amount,
            "amount_captured": amount if status == "succeeded" else 0,
            "amount_refunded": refunded,
            "captured": status == "succeeded",
            "currency": "vnd",
            "paid": status == "succeeded",
            "payment_intent": made.intent,
            "refunded": refunded == amount,
            "status": status,
            "metadata": {},
        }

    def now(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        return event(kind, dict(obj), next(clock))

    sent = [now("payment_intent.created", intent)]
    declines = max(story.declines, 1) if story.outcome == "declined" else story.declines
    if story.outcome == "abandoned":
        declines = 0
    for _ in range(declines):
        intent["latest_charge"] = stripe_id("ch")
        sent.append(now("charge.failed", charge("failed")))
        intent["last_payment_error"] = {"code": "card_declined", "decline_code": "generic_decline"}
        sent.append(now("payment_intent.payment_failed", intent))
    if story.outcome in ("declined", "abandoned"):
        return sent
    if story.three_d_secure:
        intent["status"] = "requires_action"
        sent.append(now("payment_intent.requires_action", intent))
    intent.update(
        status="succeeded",
        amount_received=amount,
        latest_charge=stripe_id("ch"),
        last_payment_error=None,
    )
    sent.append(now("charge.succeeded", charge("succeeded")))
    sent.append(now("payment_intent.succeeded", intent))
    parts = {
        "paid": [],
        "refunded": [amount],
        "refunded_in_two": [amount // 4, amount - amount // 4],
        "partly_refunded": [amount // 4],
    }[story.outcome]
    refunded = 0
    for part in parts:
        refunded += part
        refund = {
            "id": stripe_id("re"),
            "object": "refund",
            "amount": part,
            "charge": intent["latest_charge"],
            "currency": "vnd",
            "payment_intent": made.intent,
            "status": "succeeded",
        }
        sent.append(now("refund.created", refund))
        sent.append(now("charge.refunded", charge("succeeded", refunded)))
        sent.append(now("charge.refund.updated", refund))
    return sent


# -- the rider's side ---------------------------------------------------------------------------


def new_card(app: Flask, client: FlaskClient, rider: dict[str, str], uid: str) -> str:
    number, code = issue(app, uid, balance=10_000)
    answer = link(client, rider, number, code)
    assert answer.status_code == 201, answer.get_json()
    return str(answer.get_json()["card_id"])


def start_payment(
    app: Flask, client: FlaskClient, rider: dict[str, str], card_id: str, story: Story
) -> Made:
    if story.kind == "pass":
        answer = buy(client, rider, card_id, product_id="pass_all_routes")
    else:
        answer = topup(client, rider, card_id, story.amount)
    assert answer.status_code == 201, answer.get_json()
    started = answer.get_json()
    assert started["status"] == "pending"
    with app.app_context(), unit_of_work() as uow:
        payment = uow.session.get(Payment, started["payment_id"])
        assert payment is not None
        assert payment.provider_ref is not None
        intent = payment.provider_ref
    made = Made(story, started["payment_id"], intent, started["amount"], [])
    made.events = stripe_events(made, card_id)
    return made


# -- the test -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    status: str  # ours: created, failed, succeeded, refunded
    refunded: int
    load: str | None  # the load's status: pending, withdrawn, or None for no load
    alert: bool | None  # a refund_after_load alert: True, False, or None for "may be"


def expected(made: Made) -> Expected:
    amount = made.amount
    return {
        "paid": Expected("succeeded", 0, "pending", False),
        "refunded": Expected("refunded", amount, "withdrawn", False),
        # A partial refund while the load waits is the operator's call; a later refund of the
        # rest withdraws the load. In that order the alert is raised, in the other it is not.
        "refunded_in_two": Expected("refunded", amount, "withdrawn", None),
        "partly_refunded": Expected("refunded", amount // 4, "pending", True),
        "declined": Expected("failed", 0, None, False),
        "abandoned": Expected("created", 0, None, False),
    }[made.story.outcome]


def deliveries(made: list[Made], data: st.DataObject) -> list[dict[str, Any]]:
    """All events in an order Hypothesis picks, with same-id redeliveries and fresh-id copies."""
    sent = [e for m in made for e in m.events]
    order = data.draw(st.permutations(range(len(sent))), label="order")
    extras = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(sent) - 1), st.booleans(), st.integers(0, len(sent))),
            max_size=len(sent),
        ),
        label="repeats (event, with a fresh id, where)",
    )
    payment_of = [n for n, m in enumerate(made) for _ in m.events]
    delivered = [(sent[i], payment_of[i], "") for i in order]
    for which, fresh, where in extras:
        copy = dict(sent[which], id=stripe_id("evt")) if fresh else sent[which]
        again = (copy, payment_of[which], " (fresh id)" if fresh else " (again)")
        delivered.insert(min(where, len(delivered)), again)
    note("delivered: " + ", ".join(f"{e['type']} #{n}{how}" for e, n, how in delivered))
    return [e for e, _, _ in delivered]


def check_reordered_and_repeated_webhooks(
    app: Flask, rider: dict[str, str], uid: str, plan: list[Story], data: st.DataObject
) -> None:
    # One rider pays hundreds of times in a run: the hourly limits are not under test here.
    # (RATELIMIT_ENABLED=False would outlive this app: the limiter is one object for all.)
    limiter.reset()
    client = app.test_client()
    card_id = new_card(app, client, rider, uid)
    made = [start_payment(app, client, rider, card_id, story) for story in plan]
    seen: set[str] = set()
    for sent in deliveries(made, data):
        answer = webhook(client, *signed(sent))
        assert answer.status_code == 200, (sent["type"], answer.get_json())
        status = answer.get_json()["status"]
        assert status in ANSWERS, (sent["type"], status)
        assert (status == "duplicate") == (sent["id"] in seen), (sent["type"], status)
        seen.add(sent["id"])

    with app.app_context(), unit_of_work() as uow:
        session = uow.session
        card = session.scalar(select(Card).where(Card.card_id == card_id))
        assert card is not None
        actions = {
            a.seq: a
            for a in session.scalars(select(PendingAction).where(PendingAction.card_uid == uid))
        }
        alerts = Counter(
            (a.kind, a.detail.split(":")[0])
            for a in session.scalars(select(Alert).where(Alert.card_uid == uid))
        )
        unowned = session.scalars(select(Alert).where(Alert.card_uid.is_(None))).all()
        withdrawals = Counter(
            entry.detail.split(": ")[1].split(" ")[0]
            for entry in session.scalars(
                select(AuditEntry).where(
                    AuditEntry.subject == card.card_number, AuditEntry.action == "withdraw"
                )
            )
        )
        recorded = {
            e.event_id: e
            for e in session.scalars(select(PaymentEvent).where(PaymentEvent.event_id.in_(seen)))
        }
        loads_used = set()
        for one in made:
            want = expected(one)
            payment = session.get(Payment, one.payment_id)
            assert payment is not None
            what = (one.story, payment.status, payment.refunded_amount, payment.load_seq)
            assert (payment.status, payment.refunded_amount) == (want.status, want.refunded), what
            if want.load is None:
                assert payment.load_seq is None, what
            else:
                action = actions.get(payment.load_seq or 0)
                assert action is not None, what
                assert action.seq not in loads_used, what  # one load per payment
                loads_used.add(action.seq)
                assert (action.kind, action.amount, action.status) == (
                    "credit" if one.story.kind == "topup" else "pass",
                    one.amount,
                    want.load,
                ), what
            refund_alerts = alerts.pop(("refund_after_load", one.payment_id), 0)
            if want.alert is None:
                assert refund_alerts <= 1, what
            else:
                assert refund_alerts == int(want.alert), what
            assert withdrawals.pop(one.payment_id, 0) == int(want.load == "withdrawn"), what
        # Not a load more than the paid payments made, and no alert nobody needs.
        assert set(actions) == loads_used
        assert alerts == Counter()
        assert unowned == []
        assert withdrawals == Counter()
        assert set(recorded) == seen
        assert {e.outcome for e in recorded.values()} <= {"applied", "no_change", "ignored"}

    # The ledger, as the rider's app shows it: the money waiting for the card, and the passes.
    shown = client.get(f"/api/v1/cards/{card_id}", headers=rider).get_json()
    waiting = [m for m in made if m.story.kind == "topup" and expected(m).load == "pending"]
    assert shown["pending_total"] == sum(m.amount for m in waiting)
    passes = [m for m in made if m.story.kind == "pass" and expected(m).load == "pending"]
    assert len(shown["passes"]) == len(passes)
    for one in made:
        polled = client.get(f"/api/v1/payments/{one.payment_id}", headers=rider).get_json()
        want = expected(one)
        assert polled["status"] == ("pending" if want.status == "created" else want.status)
        assert polled["load_status"] == want.load


@DEFAULT_RUN
@given(plan=stories, data=st.data())
def test_webhooks_in_any_order_and_repeated_end_every_payment_where_its_story_says(
    paying_app: Flask,
    paying_rider: dict[str, str],
    card_uids: Iterator[str],
    plan: list[Story],
    data: st.DataObject,
) -> None:
    check_reordered_and_repeated_webhooks(paying_app, paying_rider, next(card_uids), plan, data)


@pytest.mark.long
@LONG_RUN
@given(plan=stories, data=st.data())
def test_webhooks_in_many_more_orders_end_every_payment_where_its_story_says(
    paying_app: Flask,
    paying_rider: dict[str, str],
    card_uids: Iterator[str],
    plan: list[Story],
    data: st.DataObject,
) -> None:
    check_reordered_and_repeated_webhooks(paying_app, paying_rider, next(card_uids), plan, data)


def test_a_payments_events_delivered_at_the_same_moment_are_each_answered_and_act_once(
    paying_app: Flask, paying_rider: dict[str, str], card_uids: Iterator[str]
) -> None:
    """A retry that overtakes a slow first delivery, and Stripe's second Event object for the
    same change, can arrive while the first is still being handled."""
    client = paying_app.test_client()
    uid = next(card_uids)
    card_id = new_card(paying_app, client, paying_rider, uid)
    answers: list[tuple[int, str]] = []
    failures: list[BaseException] = []

    def deliver(sent: dict[str, Any], start: threading.Barrier) -> None:
        own = paying_app.test_client()
        body, headers = signed(sent)
        start.wait()
        try:
            answer = webhook(own, body, headers)
            answers.append((answer.status_code, answer.get_json().get("status")))
        except BaseException as error:  # the test client hands the app's errors over
            failures.append(error)

    made = []
    for _ in range(8):
        one = start_payment(
            paying_app, client, paying_rider, card_id, Story("topup", 20_000, "paid", 0, False)
        )
        made.append(one)
        [succeeded] = [e for e in one.events if e["type"] == "payment_intent.succeeded"]
        # The event twice (a retry), and its twin under a fresh id, all at once.
        at_once = [succeeded, succeeded, dict(succeeded, id=stripe_id("evt"))]
        start = threading.Barrier(len(at_once))
        threads = [threading.Thread(target=deliver, args=(sent, start)) for sent in at_once]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
    assert {code for code, _ in answers} == {200}
    assert Counter(status for _, status in answers)["applied"] == len(made)
    with paying_app.app_context(), unit_of_work() as uow:
        actions = uow.session.scalars(select(PendingAction).where(PendingAction.card_uid == uid))
        assert sorted(a.amount for a in actions) == [20_000] * len(made)
        assert uow.session.scalars(select(Alert)).all() == []
