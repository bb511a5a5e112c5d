"""What the driver and the rider see and hear: a clear green or red, with a reason.

The validator talks to a `Display`; the console one prints, hardware drivers (LEDs, a small LCD,
a beeper) implement the same two methods.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Protocol, TextIO

GREEN = "green"
RED = "red"
AMBER = "amber"  # tap again: nothing was charged, or the last tap is being resolved

# Reason codes the validator shows, in both languages. Stable: the journal stores the codes.
MESSAGES: dict[str, tuple[str, str]] = {
    "paid": ("Đã thanh toán", "Paid"),
    "entered": ("Mời vào, trừ tiền khi ra", "Enter; the fare is charged at the exit"),
    "tapped_off": ("Đã ghi nhận xuống xe", "Tap off recorded"),
    "free_day": ("Ngày miễn phí vé", "Free travel day"),
    "pass": ("Vé tháng hợp lệ", "Pass valid"),
    "free": ("Miễn phí", "Free ride"),
    "transfer": ("Chuyển tuyến", "Transfer"),
    "cap": ("Đã đạt mức trần", "Fare cap reached"),
    "already_paid": ("Đã trừ tiền ở lần chạm trước", "Already paid on the last tap"),
    "passback": ("Thẻ vừa được dùng trên tuyến này", "Card just used on this route"),
    "insufficient_balance": ("Số dư không đủ", "Balance too low"),
    "denied_card": ("Thẻ bị khóa", "Card blocked"),
    "not_a_transit_card": ("Thẻ không hợp lệ", "Not a bus card"),
    "tap_again": ("Vui lòng chạm lại thẻ", "Please tap again"),
    "no_fare_rule": ("Không có giá vé cho tuyến này", "No fare for this route"),
    "no_tariff": ("Chưa có bảng giá", "No tariff in force"),
    "category_not_eligible": ("Loại thẻ không hợp lệ", "Card type not accepted"),
    # QR tickets (docs/qr-ticket.md): why a phone's code was refused.
    "qr_not_a_ticket": ("Mã QR không phải vé", "This QR code is not a ticket"),
    "qr_unknown_issuer": (
        "Vé QR không được nhận, vui lòng mở lại ứng dụng",
        "QR ticket not recognised: please reopen the app",
    ),
    "qr_bad_signature": ("Vé QR không hợp lệ", "Invalid QR ticket"),
    "qr_credential_expired": (
        "Vé QR đã hết hạn, vui lòng kết nối mạng để gia hạn",
        "QR ticket expired: go online in the app to renew it",
    ),
    "qr_stale": (
        "Vui lòng đưa mã đang hiển thị trên ứng dụng, không dùng ảnh chụp màn hình",
        "Show the live code in the app, not a screenshot",
    ),
    "qr_denied": ("Vé QR bị khóa", "QR ticket blocked"),
    "qr_replayed": ("Mã này đã được sử dụng", "This code was already used"),
    "qr_limit": (
        "Vượt hạn mức, vui lòng nạp tiền trong ứng dụng",
        "Over the offline limit: please top up in the app",
    ),
    # Why a card is on the deny list, shown under "Card blocked".
    "lost": ("Thẻ đã báo mất", "Reported lost"),
    "stolen": ("Thẻ đã báo bị đánh cắp", "Reported stolen"),
    "damaged": ("Thẻ đã được thay", "Card replaced"),
    "fraud": ("Vui lòng liên hệ tổng đài", "Please call customer service"),
    "suspected_clone": ("Vui lòng liên hệ tổng đài", "Please call customer service"),
}


@dataclass(frozen=True)
class Signal:
    colour: str
    code: str
    amount: int | None = None
    balance: int | None = None
    detail: str | None = None  # a second code, such as why a card is blocked


class Display(Protocol):
    def show(self, signal: Signal) -> None: ...

    def beep(self, colour: str) -> None: ...


def text(code: str, language: str = "vi") -> str:
    vi, en = MESSAGES.get(code, (code, code))
    return en if language == "en" else vi


def money(amount: int) -> str:
    """VND as Vietnamese print it: 10.000 đ."""
    return f"{amount:,}".replace(",", ".") + " đ"


class ConsoleDisplay:
    """A terminal stands in for the validator's screen and beeper."""

    _ANSI = {GREEN: "\033[42;30m", RED: "\033[41;97m", AMBER: "\033[43;30m"}

    def __init__(self, out: TextIO = sys.stderr, language: str = "vi") -> None:
        self.out = out
        self.language = language

    def show(self, signal: Signal) -> None:
        parts = [text(signal.code, self.language)]
        if signal.detail:
            parts.append(text(signal.detail, self.language))
        if signal.amount:
            parts.append(("-" if signal.colour == GREEN else "") + money(signal.amount))
        if signal.balance is not None:
            label = "Số dư" if self.language == "vi" else "Balance"
            parts.append(f"{label}: {money(signal.balance)}")
        line = "  ".join(parts)
        if self.out.isatty():
            line = f"{self._ANSI[signal.colour]} {line} \033[0m"
        else:
            line = f"[{signal.colour.upper()}] {line}"
        print(line, file=self.out, flush=True)

    def beep(self, colour: str) -> None:
        if self.out.isatty():
            self.out.write("\a" if colour != GREEN else "")
            self.out.flush()
