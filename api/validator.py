"""The validator API: a signed snapshot download and signed tap uploads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import ValidationError
from werkzeug.exceptions import UnsupportedMediaType

from api.auth import ticket_issuer
from api.deps import unit_of_work
from api.schemas.validator import (
    SnapshotQuerySchema,
    SnapshotSchema,
    TapBatchSchema,
    TapSchema,
    TapUploadResultsSchema,
)
from api.smorest import Blueprint
from transit.errors import DomainError
from transit.models import Device
from transit.services import devices, sync, taps
from transit.uow import UnitOfWork
from wire import Tap, signing

blp = Blueprint(
    "validator",
    __name__,
    url_prefix="/api/v1/validator",
    description="For validators on the buses; every request signed by the device",
)


class BatchTooLarge(DomainError):
    code = "batch_too_large"
    status = 413


def _rejected(item: Any, error: ValidationError) -> taps.TapResult:
    tap_id = item.get("tap_id") if isinstance(item, dict) else None
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    fields = ", ".join(sorted(str(name) for name in messages))
    return taps.TapResult(
        tap_id if isinstance(tap_id, str) else "", "rejected", f"invalid: {fields}"
    )


def _signing_header(name: str) -> str | None:
    # The protocol's headers are ASCII with no NUL: anything else is as good as missing (a NUL
    # would fail the database lookup, a "²" the number parsing, as a 500).
    value = request.headers.get(name)
    return value if value is not None and value.isascii() and "\x00" not in value else None


def _device(uow: UnitOfWork) -> Device:
    # The signature covers the raw body and the path as sent, before anything parses them.
    path = request.full_path.rstrip("?") if request.query_string else request.path
    return devices.verify_request(
        uow,
        device_id=_signing_header(signing.DEVICE_ID),
        method=request.method,
        path_with_query=path,
        timestamp=_signing_header(signing.TIMESTAMP),
        nonce=_signing_header(signing.NONCE),
        signature=_signing_header(signing.SIGNATURE),
        body=request.get_data(cache=True),
        user_agent=request.headers.get("User-Agent"),
        now=datetime.now(UTC),
    )


@blp.route("/snapshot")
class SnapshotView(MethodView):
    @blp.arguments(SnapshotQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, SnapshotSchema)
    @blp.errors(401)
    def get(self, since: int) -> Any:
        """Deny list and pending loads changed since a version.

        Signed by the device, as every validator request: headers X-Device-Id, X-Timestamp,
        X-Nonce and X-Signature, made anew for each request (docs/validator-protocol.md); a
        missing or wrong signature is a 401.
        """
        with unit_of_work() as uow:
            _device(uow)
            result = sync.snapshot(
                since, datetime.now(UTC), uow, issuers=(ticket_issuer().record(),)
            )
            uow.commit()
            return result.to_json()


@blp.route("/taps")
class TapsView(MethodView):
    # Documented, not parsed by flask-smorest: the view checks each tap on its own (below).
    @blp.doc(
        operationId="upload_taps",
        requestBody={"required": True, "content": {"application/json": {"schema": TapBatchSchema}}},
    )
    @blp.response(200, TapUploadResultsSchema)
    @blp.errors(401, 413, 415, 422)
    def post(self) -> Any:
        """A batch of up to 1,000 journaled taps; each gets its own result.

        Signed by the device like the snapshot: X-Device-Id, X-Timestamp, X-Nonce, X-Signature.
        """
        with unit_of_work() as uow:
            device = _device(uow)
            uow.commit()  # the nonce is spent even if the batch is refused below
            if request.get_data(cache=True) and not request.is_json:
                raise UnsupportedMediaType()
            raw = request.get_json(silent=True)
            if (
                isinstance(raw, dict)
                and isinstance(raw.get("taps"), list)
                and len(raw["taps"]) > 1000
            ):
                raise BatchTooLarge()
            if not (isinstance(raw, dict) and isinstance(raw.get("taps"), list) and raw["taps"]):
                TapBatchSchema().load(raw if raw is not None else {})
                raise AssertionError("the batch schema refuses what is not a batch")
            # Each tap is checked on its own: one a server cannot read is rejected with its
            # reason, and the rest of the batch goes in, so one bad tap never stalls an outbox.
            items: list[Tap | taps.TapResult] = []
            schema = TapSchema()  # one instance: making a schema costs more than loading a tap
            for item in raw["taps"]:
                try:
                    items.append(schema.load(item))
                except ValidationError as error:
                    items.append(_rejected(item, error))
            backlog = request.headers.get("X-Backlog", "")
            taken = iter(
                taps.ingest_taps(
                    device,
                    [i for i in items if isinstance(i, Tap)],
                    int(backlog) if backlog.isdigit() else None,
                    datetime.now(UTC),
                    uow,
                )
            )
            results = [i if isinstance(i, taps.TapResult) else next(taken) for i in items]
            uow.commit()
            return {"results": results}
