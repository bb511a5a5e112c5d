"""The rider's app (api/rider_app.py, api/templates/app/, api/static/app/): every string it shows.

The shell's template names its keys with t(...); the script gets the whole catalogue in the
page's language from the shell's data block (`<script type="application/json" id="strings">`)
and names them with its own `t(...)`, so each string is written once, here.
"""

APP: dict[str, tuple[str, str]] = {
    "title": ("Thẻ đi xe Hà Nội", "Hanoi transit card"),
    "short_title": ("Thẻ Hà Nội", "Hanoi card"),
    "description": (
        "Nạp tiền, xem thẻ và đi xe buýt, metro bằng mã QR trên điện thoại.",
        "Top up, see your cards and ride the bus and metro with a QR code on your phone.",
    ),
    "nav_cards": ("Thẻ", "Cards"),
    "nav_ticket": ("Vé QR", "QR ticket"),
    "nav_journeys": ("Chuyến đi", "Journeys"),
    "nav_more": ("Thêm", "More"),
    "needs_script": (
        "Ứng dụng cần JavaScript. Hãy bật JavaScript hoặc dùng trình duyệt khác.",
        "The app needs JavaScript. Turn it on or use another browser.",
    ),
    "offline": (
        "Không có mạng: đang hiện những gì đã lưu trên máy.",
        "No connection: showing what this phone has kept.",
    ),
    "loading": ("Đang tải…", "Loading…"),
    "back_to_app": ("Về ứng dụng thẻ đi xe", "Back to the transit card app"),
    # signing in and up
    "sign_in": ("Đăng nhập", "Sign in"),
    "sign_up": ("Đăng ký", "Sign up"),
    "phone": ("Số điện thoại", "Phone number"),
    "phone_hint": ("Ví dụ 0912 345 678", "For example 0912 345 678"),
    "password": ("Mật khẩu", "Password"),
    "new_password": ("Chọn mật khẩu", "Choose a password"),
    "password_hint": (
        "Ít nhất 10 ký tự; một câu dễ nhớ là tốt nhất.",
        "At least 10 characters; an easy sentence is best.",
    ),
    "no_account": ("Chưa có tài khoản? Đăng ký", "No account yet? Sign up"),
    "have_account": ("Đã có tài khoản? Đăng nhập", "Have an account? Sign in"),
    "consent": (
        "Tôi đồng ý với thông báo xử lý dữ liệu cá nhân",
        "I agree to the personal data notice",
    ),
    "consent_hint": (
        "Theo Nghị định 13/2023/NĐ-CP: số điện thoại, thẻ và chuyến đi của bạn được lưu để "
        "vận hành thẻ; bạn có thể tải về hoặc xoá bất cứ lúc nào.",
        "Under Decree 13/2023/ND-CP: your phone number, cards and journeys are kept to run "
        "the card; you can download or delete them at any time.",
    ),
    "send_code": ("Gửi mã qua SMS", "Send the code by SMS"),
    "code_sent": (
        "Chúng tôi đã gửi mã 6 số tới {phone}.",
        "We sent a 6-digit code to {phone}.",
    ),
    "sms_code": ("Mã trong tin nhắn", "Code from the SMS"),
    "sms_code_hint": ("6 chữ số", "6 digits"),
    "confirm_code": ("Xác nhận", "Confirm"),
    "signed_out": ("Bạn đã đăng xuất.", "You are signed out."),
    "session_ended": (
        "Phiên đăng nhập đã hết. Hãy đăng nhập lại.",
        "Your session has ended. Sign in again.",
    ),
    # cards
    "cards": ("Thẻ của tôi", "My cards"),
    "no_cards": ("Bạn chưa có thẻ nào.", "You have no cards yet."),
    "kind_physical": ("Thẻ chip", "Chip card"),
    "kind_virtual": ("Thẻ ảo (mã QR)", "Virtual card (QR code)"),
    "active_badge": ("Đang dùng để đi xe", "Rides now"),
    "inactive_badge": ("Không dùng để đi xe", "Not riding now"),
    "below_zero_badge": ("Số dư âm: hãy nạp tiền", "Below zero: top up"),
    "status_blocked": ("Đã khoá", "Blocked"),
    "status_replaced": ("Đã thay", "Replaced"),
    "balance": ("Số dư", "Balance"),
    "balance_at": ("Số dư {amount} (lần chạm {when})", "Balance {amount} (tap of {when})"),
    "pending_loads": (
        "{amount} đang chờ ghi vào thẻ ở lần chạm tới",
        "{amount} waiting to be written to the card at its next tap",
    ),
    "pass_until": ("Vé tháng {product}: {start} đến {until}", "Pass {product}: {start} to {until}"),
    "pass_waiting": ("(chờ ghi vào thẻ)", "(waiting for the card)"),
    "ride_with": ("Đi xe bằng thẻ này", "Ride with this card"),
    "topup_button": ("Nạp tiền", "Top up"),
    "show_ticket": ("Mở vé QR", "Open the QR ticket"),
    "journeys_button": ("Chuyến đi", "Journeys"),
    "manage_button": ("Khoá hoặc thay thẻ", "Block or replace"),
    "make_virtual": ("Tạo thẻ ảo", "Make a virtual card"),
    "make_virtual_hint": (
        "Đi xe bằng mã QR trên điện thoại này, kể cả khi không có mạng.",
        "Ride with a QR code on this phone, even with no connection.",
    ),
    "virtual_made": ("Đã tạo thẻ ảo {card}.", "Virtual card {card} made."),
    "virtual_waiting": (
        "Đã tạo thẻ ảo {card}. Bạn vẫn đi xe bằng thẻ chip cho tới khi chọn thẻ ảo.",
        "Virtual card {card} made. You still ride with your chip card until you choose the "
        "virtual card.",
    ),
    "link_card": ("Thêm thẻ chip", "Add a chip card"),
    "card_number": ("Số thẻ", "Card number"),
    "card_number_hint": ("16 chữ số in trên thẻ", "The 16 digits printed on the card"),
    "check_code": ("Mã kiểm tra", "Check code"),
    "check_code_hint": ("In ở mặt sau thẻ, ví dụ ZQMM-KYKU", "On the back, e.g. ZQMM-KYKU"),
    "link": ("Thêm thẻ", "Add the card"),
    "card_linked": ("Đã thêm thẻ {card}.", "Card {card} added."),
    # one active medium
    "activate_title": ("Đi xe bằng thẻ khác", "Ride with another card"),
    "activate_what": (
        "Từ giờ bạn đi xe bằng {card}. Số dư {amount} và {passes} vé tháng trên {others} sẽ "
        "chuyển sang thẻ này; {others} sẽ không dùng được ở máy soát vé nữa.",
        "From now on you ride with {card}. The balance of {amount} and {passes} passes on "
        "{others} move to this card; {others} will no longer work at validators.",
    ),
    "activate_note": (
        "Bạn có thể đổi lại bất cứ lúc nào; không mất tiền khi đổi.",
        "You can switch back at any time; no money is lost by switching.",
    ),
    "activate_confirm": ("Chuyển và đi xe bằng thẻ này", "Move and ride with this card"),
    "activated": (
        "Bạn đi xe bằng {card}. Đã chuyển {amount} và {passes} vé tháng.",
        "You ride with {card}. {amount} and {passes} passes moved.",
    ),
    "cancel": ("Huỷ", "Cancel"),
    # top up and passes
    "topup": ("Nạp tiền", "Top up"),
    "amount": ("Số tiền", "Amount"),
    "continue": ("Tiếp tục", "Continue"),
    "topup_confirm": ("Nạp {amount} vào thẻ {card}?", "Top up {amount} to card {card}?"),
    "topup_dev_note": (
        "Bản thử nghiệm: thanh toán được xác nhận ngay, không trừ tiền thật.",
        "Test version: the payment is confirmed at once; no real money is taken.",
    ),
    "pay": ("Thanh toán", "Pay"),
    "back": ("Quay lại", "Back"),
    "to_cards": ("Về thẻ của tôi", "Back to my cards"),
    "topup_paid": (
        "Đã nạp {amount}. Số dư mới: {balance}.",
        "{amount} paid. New balance: {balance}.",
    ),
    "topup_paid_chip": (
        "Đã nạp {amount}. Số tiền sẽ vào thẻ ở lần chạm tới (số dư sau đó: {balance}).",
        "{amount} paid. It goes onto the card at its next tap (then the balance is {balance}).",
    ),
    "payment_waiting": (
        "Đang chờ xác nhận thanh toán…",
        "Waiting for the payment to be confirmed…",
    ),
    "payment_failed": ("Thanh toán không thành công.", "The payment did not go through."),
    "card_details": ("Thẻ ngân hàng", "Bank card"),
    "card_hint": (
        "Số thẻ, tháng và năm hết hạn, mã CVC ở mặt sau thẻ. Thẻ được gửi thẳng tới Stripe, "
        "không qua máy chủ của chúng tôi.",
        "Card number, expiry month and year, and the CVC on the back. The card goes straight to "
        "Stripe, never through our server.",
    ),
    "card_amount": ("Số tiền thanh toán: {amount}", "Amount to pay: {amount}"),
    "pay_amount": ("Thanh toán {amount}", "Pay {amount}"),
    "card_form_unavailable": (
        "Không tải được ô nhập thẻ. Kiểm tra mạng và thử lại.",
        "The card form did not load. Check the connection and try again.",
    ),
    "passes": ("Mua vé tháng", "Buy a pass"),
    "no_products": ("Không có vé tháng cho thẻ này.", "No passes for this card."),
    "buy_pass": ("Mua {name} — {price}", "Buy {name} — {price}"),
    "pass_validity": ("Hiệu lực: {validity}", "Valid: {validity}"),
    "validity_days": ("{count} ngày", "{count} day(s)"),
    "validity_months": ("{count} tháng", "{count} calendar month(s)"),
    "pass_one_route": (
        "Vé một tuyến: chọn tuyến ở quầy vé.",
        "A one-route pass: choose the route at a ticket office.",
    ),
    "pass_bought": ("Đã mua {name}.", "{name} bought."),
    # the QR ticket
    "ticket": ("Vé QR", "QR ticket"),
    "qr_label": (
        "Mã QR để đi xe; đưa vào máy soát vé",
        "QR code to ride; hold it to the validator",
    ),
    "countdown": ("Mã mới sau {seconds} giây", "New code in {seconds} s"),
    "valid_until": ("Hiệu lực đến", "Valid until"),
    "spend_limit": ("Tối đa khi không có mạng", "Most it can pay offline"),
    "ticket_help": (
        "Mã đổi mỗi 15 giây; ảnh chụp màn hình không dùng được. Tăng độ sáng màn hình khi quét.",
        "The code changes every 15 seconds; a screenshot will not work. Turn the screen "
        "brightness up to scan.",
    ),
    "renew": ("Làm mới vé", "Renew the ticket"),
    "ticket_no_virtual": (
        "Bạn chưa có thẻ ảo. Tạo thẻ ảo ở trang Thẻ.",
        "You have no virtual card. Make one on the Cards screen.",
    ),
    "ticket_not_active": (
        "Bạn đang đi xe bằng thẻ chip. Chọn “Đi xe bằng thẻ này” ở thẻ ảo để dùng vé QR.",
        "You ride with your chip card. Choose “Ride with this card” on the virtual card to "
        "use the QR ticket.",
    ),
    "ticket_missing_offline": (
        "Không có mạng và điện thoại chưa có vé. Hãy kết nối mạng một lần để lấy vé.",
        "No connection and no ticket on this phone yet. Connect once to get the ticket.",
    ),
    "ticket_expired_offline": (
        "Vé đã hết hạn lúc {when} và không có mạng để làm mới. Hãy kết nối mạng.",
        "The ticket expired at {when} and there is no connection to renew it. Connect to the "
        "internet.",
    ),
    "ticket_refused": ("Không lấy được vé: {reason}", "Could not get the ticket: {reason}"),
    "no_webcrypto": (
        "Trình duyệt này không tạo được khoá an toàn cho vé QR. Hãy dùng Chrome mới hơn.",
        "This browser cannot make the ticket's secure key. Use a newer Chrome.",
    ),
    # journeys, account, statement
    "journeys": ("Chuyến đi", "Journeys"),
    "which_card": ("Thẻ", "Card"),
    "no_journeys": ("Chưa có chuyến đi nào.", "No journeys yet."),
    "journey_route": ("Tuyến {route}", "Route {route}"),
    "journey_from_to": ("{origin} → {destination}", "{origin} → {destination}"),
    "journey_fare": ("Giá vé {fare}", "Fare {fare}"),
    "unknown_stop": ("không rõ", "unknown"),
    "journey_open": ("đang đi", "under way"),
    "account": ("Tài khoản thẻ ảo", "Virtual card account"),
    "account_balance": ("Số dư: {amount}", "Balance: {amount}"),
    "entry_credit": ("Nạp tiền", "Top-up"),
    "entry_fare": ("Tiền vé", "Fare"),
    "entry_adjustment": ("Điều chỉnh", "Adjustment"),
    "entry_moved_in": ("Chuyển vào", "Moved in"),
    "entry_moved_out": ("Chuyển ra", "Moved out"),
    "entry_after": ("còn {amount}", "then {amount}"),
    "statement": ("Sao kê tháng", "Monthly statement"),
    "month": ("Tháng", "Month"),
    "month_hint": ("Tháng và năm, ví dụ 2026-03", "Month and year, e.g. 2026-03"),
    "statement_get": ("Tải sao kê (CSV)", "Get the statement (CSV)"),
    "statement_ready": ("Lưu sao kê {month}", "Save the statement of {month}"),
    # block and replace
    "manage": ("Khoá hoặc thay thẻ", "Block or replace a card"),
    "block": ("Khoá thẻ", "Block the card"),
    "block_reason": ("Vì sao?", "Why?"),
    "reason_lost": ("Mất thẻ", "Lost"),
    "reason_stolen": ("Bị lấy cắp", "Stolen"),
    "reason_damaged": ("Thẻ hỏng", "Damaged"),
    "block_hint": (
        "Thẻ sẽ bị từ chối ở máy soát vé từ lần đồng bộ tới. Số dư được giữ để chuyển sang thẻ "
        "mới.",
        "Validators refuse the card from their next sync. The balance is kept for a new card.",
    ),
    "blocked_done": ("Đã khoá thẻ {card}.", "Card {card} blocked."),
    "replace": ("Thay bằng thẻ mới", "Replace with a new card"),
    "new_card_number": ("Số thẻ mới", "New card number"),
    "replace_hint": (
        "Số dư và vé tháng chuyển sang thẻ mới ở lần chạm đầu tiên.",
        "The balance and passes move to the new card at its first tap.",
    ),
    "replaced_done": (
        "Đã thay bằng thẻ {card}; chuyển {amount} và {passes} vé tháng.",
        "Replaced by card {card}; {amount} and {passes} passes moved.",
    ),
    # more: student, my data, sign out
    "more": ("Thêm", "More"),
    "student": ("Giá vé học sinh, sinh viên", "Student fares"),
    "school": ("Trường", "School"),
    "student_code": ("Mã học sinh, sinh viên", "Student number"),
    "full_name": ("Họ và tên", "Full name"),
    "date_of_birth": ("Ngày sinh", "Date of birth"),
    "apply": ("Gửi đơn", "Apply"),
    "applied": ("Đã gửi đơn tới {school}.", "Application sent to {school}."),
    "application": ("{school}: {status}", "{school}: {status}"),
    "application_until": ("đến {until}", "until {until}"),
    "app_status_pending": ("đang chờ trường duyệt", "waiting for the school"),
    "app_status_approved": ("đã duyệt", "approved"),
    "app_status_rejected": ("bị từ chối", "rejected"),
    "app_status_revoked": ("đã thu hồi", "revoked"),
    "my_data": ("Dữ liệu của tôi", "My data"),
    "export": ("Tải dữ liệu của tôi", "Download my data"),
    "export_ready": ("Lưu tệp dữ liệu (JSON)", "Save the data file (JSON)"),
    "delete_account": ("Xoá tài khoản", "Delete my account"),
    "delete_hint": (
        "Số điện thoại và mật khẩu bị xoá; thẻ và số dư vẫn còn nhưng không gắn với bạn nữa. "
        "Không thể hoàn tác.",
        "Your phone number and password are erased; cards and balances stay, no longer "
        "yours. This cannot be undone.",
    ),
    "delete_confirm": ("Xoá vĩnh viễn", "Delete for good"),
    "deleted": ("Tài khoản đã bị xoá.", "Your account is deleted."),
    "this_phone": ("Điện thoại này", "This phone"),
    "sign_out": ("Đăng xuất", "Sign out"),
    # problems the API answers with, by their stable code
    "error_network": (
        "Không kết nối được. Hãy thử lại khi có mạng; chưa có gì thay đổi.",
        "Could not connect. Try again when you have a connection; nothing was changed.",
    ),
    "error_generic": (
        "Không thực hiện được ({code}). Hãy thử lại sau.",
        "That did not work ({code}). Try again later.",
    ),
    "problem_invalid_credentials": (
        "Số điện thoại hoặc mật khẩu không đúng.",
        "Wrong phone number or password.",
    ),
    "problem_phone_not_verified": (
        "Số điện thoại chưa được xác nhận. Hãy đăng ký lại để nhận mã.",
        "The phone number is not confirmed yet. Sign up again to get a code.",
    ),
    "problem_invalid_code": ("Mã không đúng hoặc đã hết hạn.", "Wrong or expired code."),
    "problem_invalid_phone": ("Số điện thoại không hợp lệ.", "Not a valid phone number."),
    "problem_weak_password": (
        "Mật khẩu quá yếu: hãy dùng ít nhất 10 ký tự, khó đoán.",
        "The password is too weak: use at least 10 characters, hard to guess.",
    ),
    "problem_consent_required": (
        "Cần đồng ý với thông báo dữ liệu cá nhân.",
        "You need to agree to the personal data notice.",
    ),
    "problem_too_many_requests": (
        "Quá nhiều lần thử. Hãy đợi một lúc.",
        "Too many tries. Wait a while.",
    ),
    "problem_validation_failed": (
        "Có ô chưa đúng. Hãy kiểm tra lại.",
        "Something in the form is not right. Check it again.",
    ),
    "problem_card_already_linked": ("Thẻ này đã được thêm.", "This card is already added."),
    "problem_not_found": ("Không tìm thấy.", "Not found."),
    "problem_card_not_active": ("Thẻ không còn hoạt động.", "The card is not active."),
    "problem_medium_inactive": (
        "Thẻ này không phải thẻ đang dùng để đi xe.",
        "This card is not the one you ride with.",
    ),
    "problem_virtual_card_blocked": ("Thẻ ảo đã bị khoá.", "The virtual card is blocked."),
    "problem_negative_balance": (
        "Số dư âm: hãy nạp tiền để dùng vé QR.",
        "The balance is below zero: top up to use the QR ticket.",
    ),
    "problem_purse_full": (
        "Thẻ không chứa thêm được số tiền này.",
        "The card cannot hold that much.",
    ),
    "problem_payment_provider_unavailable": (
        "Cổng thanh toán đang bận. Hãy thử lại sau.",
        "The payment service is busy. Try again later.",
    ),
    "problem_virtual_card_exists": ("Bạn đã có thẻ ảo.", "You already have a virtual card."),
    "problem_sms_unavailable": (
        "Chưa gửi được SMS. Hãy thử lại sau.",
        "The SMS could not be sent. Try again later.",
    ),
}
