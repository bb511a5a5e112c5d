"""The page kit's own strings: what every page has (skip link, menus, error pages, fields)."""

KIT: dict[str, tuple[str, str]] = {
    "skip": ("Bỏ qua, đến nội dung chính", "Skip to the main content"),
    "menu": ("Trình đơn", "Menu"),
    "languages": ("Ngôn ngữ", "Languages"),
    "required": ("bắt buộc", "required"),
    "error_400": ("Biểu mẫu đã cũ", "This form is out of date"),
    "error_400_detail": (
        "Trang đã mở quá lâu hoặc ở một cửa sổ khác. Hãy mở lại trang và làm lại; "
        "chưa có gì thay đổi.",
        "The page was open too long or in another window. Open it again and redo the step; "
        "nothing was changed.",
    ),
    "error_404": ("Không tìm thấy", "Not found"),
    "error_404_detail": ("Không có trang này.", "There is no such page."),
    "error_413": ("Tệp quá lớn", "File too large"),
    "error_413_detail": (
        "Tệp hoặc biểu mẫu quá lớn; chưa có gì thay đổi.",
        "The file or form is too large; nothing was changed.",
    ),
    "error_429": ("Quá nhiều lần thử", "Too many tries"),
    "error_429_detail": (
        "Hãy đợi {minutes} phút rồi thử lại.",
        "Wait {minutes} minutes and try again.",
    ),
    "error_other": ("Đã có lỗi", "Something went wrong"),
    "error_other_detail": (
        "Không thực hiện được yêu cầu; chưa có gì thay đổi. Hãy thử lại sau.",
        "The request could not be done; nothing was changed. Try again later.",
    ),
}
