"""Why a charge or a journey cost what it did, in words (api/why.py words fares.why's parts).

One key a part's code; `_named`, `_route` and the cap's periods are variants for the values a
part has. Amounts arrive formatted ("8.000 đ"), route and stop ids as the network names them.
"""

WHY: dict[str, tuple[str, str]] = {
    "why_fare": ("Vé lượt tuyến {route}", "Single fare, route {route}"),
    "why_journey": (
        "Từ {origin} đến {destination}, tuyến {route}",
        "From {origin} to {destination}, line {route}",
    ),
    "why_journey_to": ("Đến {destination}, tuyến {route}", "To {destination}, route {route}"),
    "why_transfer": ("giá khi chuyển tuyến: {amount}", "transfer price: {amount}"),
    "why_cap": (
        "đã đạt mức chi tiêu tối đa: chỉ thu {amount}",
        "spending cap reached: only {amount} charged",
    ),
    "why_cap_day": (
        "đã đạt mức chi tiêu tối đa trong ngày: chỉ thu {amount}",
        "daily cap reached: only {amount} charged",
    ),
    "why_cap_week": (
        "đã đạt mức chi tiêu tối đa trong tuần: chỉ thu {amount}",
        "weekly cap reached: only {amount} charged",
    ),
    "why_cap_month": (
        "đã đạt mức chi tiêu tối đa trong tháng: chỉ thu {amount}",
        "monthly cap reached: only {amount} charged",
    ),
    "why_cap_rolling": (
        "đã đạt mức chi tiêu tối đa trong {days} ngày: chỉ thu {amount}",
        "{days}-day cap reached: only {amount} charged",
    ),
    "why_pass": ("vé tháng hoặc vé ngày của bạn đã gồm chuyến này", "your pass covers this ride"),
    "why_pass_named": ("{name} của bạn đã gồm chuyến này", "your {name} covers this ride"),
    "why_free_category": (
        "đối tượng của thẻ được đi miễn phí",
        "your rider category rides free",
    ),
    "why_free_category_named": ("{name}: được đi miễn phí", "{name}: rides free"),
    "why_free_fare": ("chuyến này miễn phí", "this ride is free"),
    "why_free_day": ("Ngày miễn phí vé cho mọi người", "A free travel day for everyone"),
    "why_free_day_named": ("Ngày miễn phí vé: {name}", "Free travel day: {name}"),
    "why_at_exit": (
        "Vào ga {stop}, tuyến {route}: giá vé tính khi ra ga",
        "Entered at {stop}, line {route}: the fare is charged when you leave",
    ),
    "why_tap_off": (
        "Chạm thẻ xuống xe tại {stop}: đã trả tiền khi lên xe",
        "Tapped off at {stop}: paid when boarding",
    ),
    "why_no_entry": (
        "Ra tại {stop}, tuyến {route}, không có lượt vào: thu giá cao nhất của tuyến, {amount}",
        "Left at {stop}, line {route}, with no entry: the line's highest fare, {amount}",
    ),
    "why_unfinished": (
        "Chuyến trước không chạm thẻ khi ra: thu giá cao nhất của tuyến, {amount}",
        "The journey before had no exit tap: the line's highest fare, {amount}",
    ),
    "why_unfinished_route": (
        "Chuyến trước trên tuyến {route} không chạm thẻ khi ra: thu giá cao nhất của tuyến, "
        "{amount}",
        "The journey before on line {route} had no exit tap: the line's highest fare, {amount}",
    ),
    "why_no_exit": (
        "không chạm thẻ khi ra: giá cao nhất của tuyến, {amount}, thu ở lượt vào sau",
        "no exit tap: the line's highest fare, {amount}, charged at the next entry",
    ),
    "why_no_exit_plain": ("không chạm thẻ khi ra", "no exit tap"),
    "why_no_tap_off": (
        "không chạm thẻ khi xuống xe: không thu thêm",
        "no tap when getting off: nothing more charged",
    ),
    "why_no_entry_nothing": (
        "Ra tại {stop}, tuyến {route}, không có lượt vào: không thu tiền",
        "Left at {stop}, line {route}, with no entry: nothing charged",
    ),
    "why_charged": ("đã trả {charged}", "paid {charged}"),
    "why_refused": ("Không thu tiền: {denial}", "Nothing charged: {denial}"),
    "why_repriced": (
        "Tính lại cùng các chuyến khác của bạn: trước {was}, nay {now}",
        "Priced again with your other rides: was {was}, now {now}",
    ),
    "why_late_chip_tap": (
        "Chuyến đi bằng thẻ {card} lúc {at}, gửi về sau khi số dư đã chuyển sang tài khoản này",
        "A ride on card {card} at {at}, received after its balance moved to this account",
    ),
    "why_top_up": ("Nạp tiền trực tuyến", "Online top-up"),
    "why_moved_in": ("Chuyển từ thẻ {card}", "Moved from card {card}"),
    "why_moved_out": ("Chuyển sang thẻ {card}", "Moved to card {card}"),
    "why_note": ("{text}", "{text}"),
    "why_unknown_stop": ("ga hoặc điểm dừng không rõ", "an unknown stop"),
}
