"""The rider's cards: link one, see what it holds, report it lost and move its money."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask.views import MethodView

from api.auth import current_rider
from api.deps import unit_of_work
from api.limits import CARD_LINKS_PER_RIDER, limiter, rider_key
from api.schemas.wallet import (
    BlockCardSchema,
    CardListSchema,
    CardSchema,
    LinkCardSchema,
    ReplacementSchema,
)
from api.smorest import Blueprint
from transit.services import wallet

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
