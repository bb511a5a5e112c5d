"""Every error as application/problem+json (RFC 9457): a stable code, Vietnamese or English."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, json, request
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    NotFound,
    RequestEntityTooLarge,
)

from transit.errors import DomainError

PROBLEM_JSON = "application/problem+json"
LANGUAGES = ("vi", "en")
# What a caller is told to wait while the database is away: a restart or failover takes seconds.
RETRY_AFTER_SECONDS = 5

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """A title and a detail text in both languages; details may name {params}."""

    title_vi: str
    title_en: str
    detail_vi: str
    detail_en: str


# The codes are part of the API: apps translate and branch on them, so never rename one.
MESSAGES: dict[str, Message] = {
    "bad_request": Message(
        "Yêu cầu không hợp lệ",
        "Bad request",
        "Máy chủ không hiểu yêu cầu này.",
        "The server could not understand this request.",
    ),
    "malformed_json": Message(
        "Nội dung JSON bị lỗi",
        "Malformed JSON body",
        "Nội dung yêu cầu không phải là JSON hợp lệ.",
        "The request body is not valid JSON.",
    ),
    "validation_failed": Message(
        "Dữ liệu không hợp lệ",
        "Invalid input",
        "Một số trường không hợp lệ; xem 'errors'.",
        "Some fields are not valid; see 'errors'.",
    ),
    "unauthorized": Message(
        "Chưa xác thực",
        "Not authenticated",
        "Cần đăng nhập để thực hiện yêu cầu này.",
        "You need to sign in for this request.",
    ),
    "forbidden": Message(
        "Không có quyền",
        "Forbidden",
        "Bạn không có quyền thực hiện yêu cầu này.",
        "You are not allowed to make this request.",
    ),
    "not_found": Message(
        "Không tìm thấy",
        "Not found",
        "Không có tài nguyên nào ở địa chỉ này.",
        "There is nothing at this address.",
    ),
    "route_not_found": Message(
        "Không tìm thấy tuyến",
        "Route not found",
        "Không có tuyến xe buýt mã '{route_id}'.",
        "There is no bus route '{route_id}'.",
    ),
    "method_not_allowed": Message(
        "Phương thức không được phép",
        "Method not allowed",
        "Địa chỉ này không nhận phương thức {method}.",
        "This address does not accept {method}.",
    ),
    "not_acceptable": Message(
        "Không thể trả về định dạng yêu cầu",
        "Not acceptable",
        "Máy chủ chỉ trả về JSON.",
        "The server only answers in JSON.",
    ),
    "conflict": Message(
        "Xung đột",
        "Conflict",
        "Yêu cầu xung đột với trạng thái hiện tại.",
        "The request conflicts with the current state.",
    ),
    "payload_too_large": Message(
        "Nội dung quá lớn",
        "Payload too large",
        "Nội dung yêu cầu vượt quá {limit} byte.",
        "The request body is larger than {limit} bytes.",
    ),
    "uri_too_long": Message(
        "Địa chỉ quá dài",
        "URI too long",
        "Địa chỉ (URL) của yêu cầu quá dài; hãy gửi dữ liệu lớn trong nội dung yêu cầu.",
        "The request's address (URL) is too long; send large data in the request body.",
    ),
    "headers_too_large": Message(
        "Tiêu đề yêu cầu quá lớn",
        "Request headers too large",
        "Yêu cầu có quá nhiều tiêu đề, hoặc một tiêu đề quá dài.",
        "The request has too many headers, or one header is too long.",
    ),
    "expectation_failed": Message(
        "Không đáp ứng được tiêu đề Expect",
        "Expectation failed",
        "Máy chủ chỉ hiểu Expect: 100-continue.",
        "The server only understands Expect: 100-continue.",
    ),
    "unsupported_transfer_coding": Message(
        "Transfer-Encoding không được hỗ trợ",
        "Unsupported transfer coding",
        "Hãy gửi nội dung với Content-Length hoặc Transfer-Encoding: chunked.",
        "Send the body with Content-Length or Transfer-Encoding: chunked.",
    ),
    "unsupported_media_type": Message(
        "Định dạng nội dung không được hỗ trợ",
        "Unsupported media type",
        "Hãy gửi nội dung dạng application/json.",
        "Send the body as application/json.",
    ),
    "too_many_requests": Message(
        "Quá nhiều yêu cầu",
        "Too many requests",
        "Vui lòng thử lại sau.",
        "Please try again later.",
    ),
    "device_unauthorized": Message(
        "Thiết bị không được xác thực",
        "Device not authenticated",
        "Chữ ký của yêu cầu không hợp lệ.",
        "The request's signature is not valid.",
    ),
    "batch_too_large": Message(
        "Lô quá lớn",
        "Batch too large",
        "Mỗi lần gửi tối đa 1.000 lượt chạm thẻ.",
        "Send at most 1,000 taps at a time.",
    ),
    "not_ready": Message(
        "Dịch vụ chưa sẵn sàng",
        "Service not ready",
        "{reason_vi}",
        "{reason_en}",
    ),
    "invalid_phone": Message(
        "Số điện thoại không hợp lệ",
        "Invalid phone number",
        "Hãy nhập số điện thoại di động Việt Nam, ví dụ 0912 345 678.",
        "Enter a Vietnamese mobile number, such as 0912 345 678.",
    ),
    "weak_password": Message(
        "Mật khẩu quá yếu",
        "Password too weak",
        "Mật khẩu cần 8 đến 128 ký tự và không dễ đoán (không chứa số điện thoại).",
        "A password needs 8 to 128 characters and must not be easy to guess "
        "(no phone number in it).",
    ),
    "consent_required": Message(
        "Cần sự đồng ý",
        "Consent required",
        "Hãy đồng ý với thông báo xử lý dữ liệu cá nhân để đăng ký.",
        "Agree to the personal data notice to register.",
    ),
    "invalid_code": Message(
        "Mã không đúng",
        "Wrong code",
        "Mã không đúng hoặc đã hết hạn. Hãy yêu cầu mã mới.",
        "The code is wrong or has expired. Ask for a new one.",
    ),
    "invalid_credentials": Message(
        "Sai số điện thoại hoặc mật khẩu",
        "Wrong phone number or password",
        "Số điện thoại hoặc mật khẩu không đúng.",
        "The phone number or the password is wrong.",
    ),
    "phone_not_verified": Message(
        "Chưa xác minh số điện thoại",
        "Phone number not verified",
        "Hãy nhập mã đã gửi đến số điện thoại của bạn.",
        "Enter the code sent to your phone.",
    ),
    "invalid_token": Message(
        "Phiên đăng nhập đã hết hạn",
        "Session expired",
        "Hãy đăng nhập lại.",
        "Please sign in again.",
    ),
    "card_not_found": Message(
        "Không tìm thấy thẻ",
        "Card not found",
        "Không có thẻ nào với số và mã kiểm tra này.",
        "There is no card with this number and check code.",
    ),
    "virtual_card_exists": Message(
        "Đã có thẻ ảo",
        "Virtual card exists",
        "Tài khoản này đã có một thẻ ảo.",
        "This account has a virtual card already.",
    ),
    "medium_not_usable": Message(
        "Không dùng được thẻ này",
        "Card cannot ride",
        "Thẻ này đã bị khóa (mất, hỏng hoặc bị thay) nên không thể dùng để đi xe.",
        "This card is blocked (lost, damaged or replaced), so it cannot ride.",
    ),
    "switch_needs_top_up": Message(
        "Cần nạp thêm trước khi đổi thẻ",
        "Top up before switching",
        "Thẻ này vẫn giữ số tiền đã chuyển sang thẻ kia, và thẻ kia đã dùng {amount} đ trong "
        "số đó. Hãy nạp {amount} đ vào thẻ đang dùng rồi đổi lại.",
        "This card still holds the money that moved to your other card, which has spent "
        "{amount} VND of it. Top up {amount} VND on the card you ride with, then switch.",
    ),
    "medium_inactive": Message(
        "Thẻ chưa được chọn để đi xe",
        "Not the card you ride with",
        "Tài khoản đang dùng thẻ khác. Hãy chọn thẻ này để đi xe; số dư và vé tháng sẽ "
        "được chuyển sang.",
        "The account rides with another card. Choose this one to ride with; the balance and "
        "passes move to it.",
    ),
    "virtual_card_blocked": Message(
        "Thẻ ảo bị khóa",
        "Virtual card blocked",
        "Thẻ ảo này đã bị khóa. Hãy liên hệ tổng đài.",
        "This virtual card is blocked. Call customer service.",
    ),
    "negative_balance": Message(
        "Số dư âm",
        "Balance below zero",
        "Các chuyến đi gần đây đã dùng quá số dư. Hãy nạp tiền để dùng lại mã QR.",
        "Recent rides cost more than the balance. Top up to use the QR code again.",
    ),
    "invalid_phone_key": Message(
        "Khóa của điện thoại không hợp lệ",
        "Invalid phone key",
        "Ứng dụng đã gửi một khóa không hợp lệ. Hãy cập nhật ứng dụng.",
        "The app sent an invalid key. Update the app.",
    ),
    "card_already_linked": Message(
        "Thẻ đã được liên kết",
        "Card already linked",
        "Thẻ này đã thuộc một tài khoản khác. Hãy liên hệ tổng đài nếu đây là thẻ của bạn.",
        "This card belongs to another account. Call customer service if it is yours.",
    ),
    "card_not_active": Message(
        "Thẻ không hoạt động",
        "Card not active",
        "Thẻ này đã bị khóa hoặc chưa được phát hành.",
        "This card is blocked or not issued yet.",
    ),
    "invalid_block": Message(
        "Không thể khóa thẻ",
        "Cannot block the card",
        "Lý do khóa thẻ không hợp lệ.",
        "The reason for blocking the card is not valid.",
    ),
    "invalid_cursor": Message(
        "Con trỏ trang không hợp lệ",
        "Invalid cursor",
        "Hãy tải lại danh sách từ đầu.",
        "Load the list again from the start.",
    ),
    "transfer_too_large": Message(
        "Thẻ mới không đủ sức chứa",
        "The new card cannot hold it",
        "Số tiền chuyển sẽ vượt quá hạn mức của thẻ mới.",
        "The money moved would go over the new card's limit.",
    ),
    "invalid_amount": Message(
        "Số tiền không hợp lệ",
        "Invalid amount",
        "Mỗi lần nạp từ 20.000 đ đến 2.000.000 đ.",
        "A top-up is 20,000 to 2,000,000 VND.",
    ),
    "purse_full": Message(
        "Thẻ đã gần đầy",
        "Card nearly full",
        "Thẻ chỉ có thể nhận thêm {room} đ.",
        "The card can take only {room} VND more.",
    ),
    "idempotency_key_missing": Message(
        "Thiếu Idempotency-Key",
        "Idempotency-Key missing",
        "Yêu cầu thanh toán cần tiêu đề Idempotency-Key (một UUID mới cho mỗi lần nạp).",
        "A payment request needs an Idempotency-Key header (a new UUID per top-up).",
    ),
    "idempotency_key_reused": Message(
        "Idempotency-Key đã dùng cho yêu cầu khác",
        "Idempotency-Key used for another request",
        "Mỗi lần nạp tiền cần một Idempotency-Key mới.",
        "Each top-up needs a new Idempotency-Key.",
    ),
    "request_in_progress": Message(
        "Yêu cầu đang được xử lý",
        "Request in progress",
        "Yêu cầu trước với cùng khóa vẫn đang chạy; hãy thử lại sau vài giây.",
        "The earlier request with this key is still running; retry in a few seconds.",
    ),
    "payment_not_found": Message(
        "Không tìm thấy giao dịch",
        "Payment not found",
        "Không có giao dịch nào với mã này.",
        "There is no payment with this id.",
    ),
    "payment_mismatch": Message(
        "Sự kiện thanh toán không khớp",
        "Payment event does not match",
        "Sự kiện không khớp với giao dịch đã ghi nhận; không có tiền nào được chuyển.",
        "The event does not match the recorded payment; no money was moved.",
    ),
    "invalid_signature": Message(
        "Chữ ký không hợp lệ",
        "Invalid signature",
        "Chữ ký của sự kiện không hợp lệ.",
        "The event's signature is not valid.",
    ),
    "payment_provider_unavailable": Message(
        "Cổng thanh toán tạm thời không khả dụng",
        "Payment provider unavailable",
        "Chưa có tiền nào bị trừ. Hãy thử lại với cùng Idempotency-Key.",
        "No money was taken. Retry with the same Idempotency-Key.",
    ),
    "sms_unavailable": Message(
        "Chưa gửi được tin nhắn",
        "Text message not sent",
        "Dịch vụ SMS tạm thời không khả dụng; chưa có mã nào được gửi. Hãy thử lại sau ít phút.",
        "The SMS service is unavailable for now; no code was sent. Try again in a few minutes.",
    ),
    "invalid_product": Message(
        "Không thể mua vé này",
        "Cannot buy this pass",
        "Vé này không bán cho thẻ này, hoặc ngày bắt đầu không hợp lệ.",
        "This pass is not sold for this card, or its start day is not valid.",
    ),
    "school_not_found": Message(
        "Không tìm thấy trường",
        "School not found",
        "Không có trường nào với mã này.",
        "There is no school with this code.",
    ),
    "already_eligible": Message(
        "Đã được hưởng ưu đãi",
        "Already eligible",
        "Bạn đã được xác nhận là học sinh, sinh viên; có thể nộp lại từ 30 ngày trước khi hết hạn.",
        "You are confirmed as a student; apply again from 30 days before it ends.",
    ),
    "invalid_application": Message(
        "Đơn không hợp lệ",
        "Invalid application",
        "Hãy kiểm tra mã học sinh, họ tên và ngày sinh.",
        "Check the student code, the full name and the date of birth.",
    ),
    "application_not_found": Message(
        "Không tìm thấy đơn",
        "Application not found",
        "Không có đơn nào với mã này ở trường của bạn.",
        "There is no application with this id at your school.",
    ),
    "not_decidable": Message(
        "Không thể quyết định đơn này",
        "Cannot decide this application",
        "Đơn đã được quyết định, hoặc cần một lý do hay một ngày hết hạn hợp lệ.",
        "It is decided already, or it needs a reason or a valid last day.",
    ),
    "roster_invalid": Message(
        "Danh sách không hợp lệ",
        "Roster refused",
        "Tệp có {count} lỗi; danh sách cũ vẫn giữ nguyên. Xem 'errors'.",
        "The file has {count} problem(s); the roster in force is unchanged. See 'errors'.",
    ),
    "no_age_category": Message(
        "Không có ưu đãi theo tuổi",
        "No category by age",
        "Chỉ trẻ em dưới 6 tuổi và người từ 60 tuổi được miễn vé.",
        "Only children under 6 and riders of 60 and over ride free.",
    ),
    "internal_error": Message(
        "Lỗi máy chủ",
        "Internal server error",
        "Đã có lỗi xảy ra; yêu cầu của bạn không được thực hiện.",
        "Something went wrong; your request was not carried out.",
    ),
    "service_unavailable": Message(
        "Dịch vụ tạm thời không khả dụng",
        "Service unavailable",
        "Vui lòng thử lại sau.",
        "Please try again later.",
    ),
}

# The code for each HTTP status that has no more specific one.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


def language() -> str:
    """The caller's language from Accept-Language: Vietnamese unless English is preferred."""
    best = request.accept_languages.best_match(LANGUAGES)
    return best or "vi"


def problem(
    code: str,
    status: int,
    *,
    errors: Any = None,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> Response:
    """Build a problem+json response for `code`, in the caller's language."""
    message = MESSAGES.get(code) or MESSAGES[STATUS_CODES.get(status, "internal_error")]
    english = language() == "en"
    detail = message.detail_en if english else message.detail_vi
    body: dict[str, Any] = {
        "type": f"urn:problem-type:transit:{code}",
        "title": message.title_en if english else message.title_vi,
        "status": status,
        "detail": detail.format_map(_Defaulting(params)),
        "code": code,
        "instance": request.path,
    }
    if errors is not None:
        body["errors"] = errors
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)
    response.headers["Content-Language"] = "en" if english else "vi"
    response.vary.add("Accept-Language")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class _Defaulting(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def http_exception_problem(error: HTTPException) -> Response:
    """Turn any werkzeug/flask-smorest HTTP error into a problem response."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    headers: dict[str, str] = dict(data.get("headers") or {})
    errors = data.get("errors") or data.get("messages")
    code = STATUS_CODES.get(status, "internal_error" if status >= 500 else "bad_request")
    params: dict[str, Any] = {}
    if isinstance(errors, dict) and errors.get("json") == ["Invalid JSON body."]:
        code, errors = "malformed_json", None
    elif status == 405:
        params["method"] = request.method
        allowed = error.get_headers()
        headers.update({k: v for k, v in allowed if k.lower() == "allow"})
    elif status == 413:
        params["limit"] = request.max_content_length
    if status == 422 and errors is not None:
        errors = _flatten_locations(errors)
    return problem(code, status, errors=errors, headers=headers, **params)


def _flatten_locations(errors: Any) -> Any:
    # webargs nests messages under the location ("json", "query"); the app wants fields.
    if isinstance(errors, dict) and len(errors) == 1:
        (location,) = errors
        if location in ("json", "query", "path", "form", "headers", "files", "cookies"):
            return errors[location]
    return errors


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot serve now (down, restarting, failing over, its
    connection lost, the pool exhausted, a deadlock) rather than that the request is wrong."""
    if isinstance(error, OperationalError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def register(app: Flask) -> None:
    """Install the handlers that make every error a problem response."""

    @app.before_request
    def _refuse_large_bodies() -> None:
        # Refused before any view runs, whether or not the view would read the body.
        limit = request.max_content_length
        if limit is not None and (request.content_length or 0) > limit:
            raise RequestEntityTooLarge()
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if limit is not None and chunked and request.environ.get("wsgi.input_terminated"):
            # A body of unknown length: werkzeug stops reading it at the limit without a word,
            # and a view would act on the cut body (a roster missing its last students). One
            # byte past the limit tells; what fits is kept for the view to read.
            body = request.environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                raise RequestEntityTooLarge()
            request.environ["wsgi.input"] = io.BytesIO(body)

    @app.before_request
    def _refuse_nul_in_path() -> None:
        # No address has a NUL in it, and PostgreSQL refuses one in a lookup (a 500, not a 404).
        if "\x00" in request.path:
            raise NotFound()

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> Response:
        return problem(error.code, error.status, **error.params)

    @app.errorhandler(ValidationError)
    def _invalid(error: ValidationError) -> Response:
        return problem("validation_failed", 422, errors=error.messages)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        return http_exception_problem(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return http_exception_problem(error)
        if database_unavailable(error):
            # An outage, not a fault of the request: the caller retries, and the log stays
            # one line per request instead of a traceback each.
            cause = getattr(error, "orig", None) or error
            log.warning("database unavailable", extra={"error": type(cause).__name__})
            return problem(
                "service_unavailable", 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )
        log.exception("unhandled error")
        return http_exception_problem(InternalServerError())
