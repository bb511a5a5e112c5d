"""The rider's cards: link one, see what it holds, report it lost and move its money."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask.views import MethodView

from api import why
from api.auth import current_rider, ticket_issuer
from api.deps import unit_of_work
from api.limits import CARD_LINKS_PER_RIDER, CREDENTIALS_PER_RIDER, limiter, rider_key
from api.schemas.wallet import (
    AccountSchema,
    ActivationSchema,
    BlockCardSchema,
    CardListSchema,
    CardSchema,
    CredentialRequestSchema,
    CredentialSchema,
    LinkCardSchema,
    ReplacementSchema,
    RevokedSchema,
)
from api.smorest import Blueprint
from transit.services import accounts, credentials, ledger, wallet
from transit.services.cards import CardNotFound

virtual = Blueprint(
    "virtual_cards",
    __name__,
    url_prefix="/api/v1/virtual-cards",
    description="The phone as a ticket: a virtual card whose balance the account holds",
)


@virtual.route("")
class VirtualCardsView(MethodView):
    @virtual.doc(operationId="create_virtual_card")
    @virtual.response(201, CardSchema)
    @virtual.errors(401, 409)
    def post(self) -> Any:
        """Make the account's virtual card: a card number, the rider's category, a balance held
        here (a top-up is usable at once). It becomes the account's medium unless the rider
        already rides with a chip card; then `POST /cards/{id}/activate` switches."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            card = accounts.create_virtual_card(
                rider, current_app.config["CARD_NUMBER_PREFIX"], datetime.now(UTC), uow
            )
            result = wallet.as_json(wallet.view(card, uow))
            uow.commit()
        return result


blp = Blueprint(
    "cards",
    __name__,
    url_prefix="/api/v1/cards",
    description="A rider's cards: link, balance and pending loads, lost cards",
)


@blp.route("")
class CardsView(MethodView):
    @blp.etag
    @blp.response(200, CardListSchema)
    @blp.errors(401)
    def get(self) -> Any:
        """The rider's cards."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            return {"data": [wallet.as_json(card) for card in wallet.cards_of(rider, uow)]}

    @blp.doc(operationId="link_card")
    @blp.arguments(LinkCardSchema)
    @blp.response(201, CardSchema)
    @blp.errors(401, 404, 409, 429)
    def post(self, body: dict[str, Any]) -> Any:
        """Link a card with the number and the check code printed on it."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            # Counted per rider, once they are known: guessing check codes gets nowhere.
            with limiter.limit(CARD_LINKS_PER_RIDER, key_func=rider_key):
                card = wallet.link_card(
                    rider, body["card_number"], body["check_code"], datetime.now(UTC), uow
                )
            result = wallet.as_json(wallet.view(card, uow))
            uow.commit()
        return result


@blp.route("/<card_id>")
class CardView(MethodView):
    @blp.etag
    @blp.response(200, CardSchema)
    @blp.errors(401, 404)
    def get(self, card_id: str) -> Any:
        """One card: balance at its last tap, and loads waiting for its next tap."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            return wallet.as_json(wallet.view(wallet.owned_card(rider, card_id, uow), uow))


@blp.route("/<card_id>/block")
class BlockView(MethodView):
    @blp.doc(operationId="block_card")
    @blp.arguments(BlockCardSchema)
    @blp.response(200, CardSchema)
    @blp.errors(401, 404)
    def post(self, body: dict[str, Any], card_id: str) -> Any:
        """Report the card lost, stolen or damaged: buses refuse it from their next sync."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            card = wallet.block(rider, card_id, body["reason"], datetime.now(UTC), uow)
            result = wallet.as_json(wallet.view(card, uow))
            uow.commit()
        return result


@blp.route("/<card_id>/replace")
class ReplaceView(MethodView):
    @blp.doc(operationId="replace_card")
    @blp.arguments(LinkCardSchema)
    @blp.response(200, ReplacementSchema)
    @blp.errors(401, 404, 409)
    def post(self, body: dict[str, Any], card_id: str) -> Any:
        """Move a blocked card's money to another card (linked on the way if it is not)."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            replacement = wallet.replace(
                rider, card_id, body["card_number"], body["check_code"], datetime.now(UTC), uow
            )
            result = {
                "card": wallet.as_json(wallet.view(replacement.card, uow)),
                "moved": replacement.moved,
                "passes": replacement.passes,
            }
            uow.commit()
        return result


@blp.route("/<card_id>/activate")
class ActivateView(MethodView):
    @blp.doc(operationId="activate_card")
    @blp.response(200, ActivationSchema)
    @blp.errors(401, 404, 409)
    def post(self, card_id: str) -> Any:
        """Ride with this card: the account's other cards are refused from validators' next
        sync, and their balance and passes move to it (to a chip card at its next tap)."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            done = accounts.activate(rider, card_id, datetime.now(UTC), uow)
            result = {
                "card": wallet.as_json(wallet.view(done.card, uow)),
                "moved": done.moved,
                "passes": done.passes,
                "from_cards": list(done.from_cards),
            }
            uow.commit()
        return result


@blp.route("/<card_id>/credentials")
class CredentialsView(MethodView):
    @blp.doc(operationId="revoke_credentials")
    @blp.response(200, RevokedSchema)
    @blp.errors(401, 404)
    def delete(self, card_id: str) -> Any:
        """A lost phone: revoke every credential of the virtual card still valid. Validators
        refuse their codes from their next sync; the phone in hand asks for a new one."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            count = credentials.revoke(rider, card_id, datetime.now(UTC), uow)
            uow.commit()
        return {"revoked": count}

    @blp.doc(operationId="issue_credential")
    @blp.arguments(CredentialRequestSchema)
    @blp.response(201, CredentialSchema)
    @blp.errors(401, 404, 409, 422, 429)
    def post(self, body: dict[str, Any], card_id: str) -> Any:
        """Certify the phone's own key for the virtual card, for 24 hours (docs/qr-ticket.md):
        the app signs its QR codes with that key, offline."""
        try:
            key = base64.urlsafe_b64decode(
                body["public_key"] + "=" * (-len(body["public_key"]) % 4)
            )
        except (ValueError, binascii.Error):
            raise credentials.InvalidPhoneKey("the key is not base64url") from None
        with unit_of_work() as uow:
            rider = current_rider(uow)
            with limiter.limit(CREDENTIALS_PER_RIDER, key_func=rider_key):
                issued = credentials.issue(
                    rider, card_id, key, ticket_issuer(), datetime.now(UTC), uow
                )
            uow.commit()
        return {
            "credential": base64.urlsafe_b64encode(issued.credential).rstrip(b"=").decode(),
            "credential_id": issued.credential_id,
            "expires_at": issued.expires_at,
            "spend_limit": issued.spend_limit,
            "server_time": issued.server_time,
        }


@blp.route("/<card_id>/account")
class AccountView(MethodView):
    @blp.doc(operationId="get_account")
    @blp.etag
    @blp.response(200, AccountSchema)
    @blp.errors(401, 404)
    def get(self, card_id: str) -> Any:
        """A virtual card's balance and its ledger: each top-up, each fare the backend charged
        for a QR tap, and each adjustment when a later tap changed what an earlier one costs,
        each with why: in words in the caller's language (Accept-Language), and as data."""
        with unit_of_work() as uow:
            rider = current_rider(uow)
            card = wallet.owned_card(rider, card_id, uow)
            if not ledger.is_virtual(card):
                raise CardNotFound(card_id=card_id)
            entries = ledger.entries(card, uow)
            whys = why.sentences([e.reasons for e in entries], uow)
            return {
                "balance": ledger.balance(card, uow),
                "data": [
                    {
                        "kind": e.kind,
                        "ref": e.ref,
                        "amount": e.amount,
                        "balance_after": e.balance_after,
                        "why": text,
                        "reasons": e.reasons,
                        "explanation": e.explanation,
                        "at": e.at,
                    }
                    for e, text in zip(entries, whys, strict=True)
                ],
            }
