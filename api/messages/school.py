"""The school pages' strings, by key (Vietnamese, English); the kit's lie beneath."""

SCHOOL: dict[str, tuple[str, str]] = {
    "title": ("Xác nhận học sinh, sinh viên", "Student confirmations"),
    "sign_in": ("Đăng nhập", "Sign in"),
    "email": ("Thư điện tử", "E-mail"),
    "password": ("Mật khẩu", "Password"),
    "code": ("Mã xác thực (6 chữ số)", "Authenticator code (6 digits)"),
    "next": ("Tiếp tục", "Continue"),
    "code_help": (
        "Mở ứng dụng xác thực trên điện thoại (Google Authenticator, Microsoft Authenticator, "
        "…) và nhập 6 chữ số đang hiện cho tài khoản của trường.",
        "Open the authenticator app on your phone (Google Authenticator, Microsoft "
        "Authenticator, …) and type the 6 digits it shows for the school's account.",
    ),
    "wrong_login": ("Sai thư điện tử hoặc mật khẩu.", "Wrong e-mail or password."),
    "wrong_code": ("Mã xác thực không đúng.", "Wrong authenticator code."),
    "code_locked": (
        "Nhập sai mã xác thực quá nhiều lần: bước này tạm khóa cho tài khoản. "
        "Hãy thử lại sau {minutes} phút.",
        "Too many wrong authenticator codes: this step is locked for the account. "
        "Try again in {minutes} minutes.",
    ),
    "expired": ("Phiên đã hết hạn, hãy đăng nhập lại.", "Session expired: sign in again."),
    "queue": ("Đơn chờ duyệt", "Applications"),
    "roster": ("Danh sách học sinh", "Roster"),
    "students": ("Đang được hưởng ưu đãi", "Eligible students"),
    "audit": ("Nhật ký", "Audit log"),
    "sign_out": ("Đăng xuất", "Sign out"),
    "name": ("Họ tên", "Full name"),
    "student_code": ("Mã học sinh", "Student code"),
    "born": ("Ngày sinh", "Date of birth"),
    "status": ("Trạng thái", "Status"),
    "reason": ("Lý do", "Reason"),
    "valid_until": ("Hiệu lực đến", "Valid until"),
    "applied": ("Ngày nộp", "Applied"),
    "approve": ("Duyệt", "Approve"),
    "reject": ("Từ chối", "Reject"),
    "revoke": ("Thu hồi", "Revoke"),
    "all": ("Tất cả", "All"),
    "pending": ("Chờ duyệt", "Pending"),
    "approved": ("Đã duyệt", "Approved"),
    "rejected": ("Đã từ chối", "Rejected"),
    "revoked": ("Đã thu hồi", "Revoked"),
    "none": ("Không có đơn nào.", "No applications."),
    "none_pending": ("Không có đơn nào chờ duyệt.", "No applications are waiting."),
    "none_approved": ("Chưa có đơn nào được duyệt.", "No applications have been approved."),
    "none_rejected": ("Không có đơn nào bị từ chối.", "No applications were rejected."),
    "none_revoked": ("Không có ưu đãi nào bị thu hồi.", "No passes were revoked."),
    "no_students": (
        "Chưa có học sinh nào đang được hưởng ưu đãi.",
        "No students have a student pass yet.",
    ),
    "queue_pending": ("Đơn chờ duyệt", "Applications waiting"),
    "queue_approved": ("Đơn đã duyệt", "Approved applications"),
    "queue_rejected": ("Đơn đã từ chối", "Rejected applications"),
    "queue_revoked": ("Ưu đãi đã thu hồi", "Revoked passes"),
    "queue_all": ("Tất cả đơn", "All applications"),
    "search": ("Tìm", "Search"),
    "show": ("Hiển thị", "Show"),
    "search_label": ("Tìm theo họ tên hoặc mã học sinh", "Search by name or student code"),
    "roster_replaces": (
        "Tải lên một tệp sẽ thay toàn bộ danh sách của năm học đó.",
        "Uploading a file replaces the whole roster of that school year.",
    ),
    "roster_in_force": (
        "Danh sách đang áp dụng: {rows} học sinh, năm học {year}.",
        "Roster in force: {rows} students for {year}.",
    ),
    "roster_none": ("Chưa có danh sách nào.", "No roster has been uploaded yet."),
    "upload": ("Tải lên", "Upload"),
    "school_year": ("Năm học", "School year"),
    "file": ("Tệp CSV", "CSV file"),
    "imported": (
        "Đã nhập {rows} học sinh cho năm học {year}.",
        "Imported {rows} students for {year}.",
    ),
    "refused": (
        "Tệp bị từ chối, danh sách cũ vẫn giữ nguyên. {count} lỗi:",
        "File refused; the roster in force is unchanged. {count} problem(s):",
    ),
    "row": ("Dòng", "Row"),
    "column": ("Cột", "Column"),
    "when": ("Thời gian", "When"),
    "who": ("Người thực hiện", "Who"),
    "what": ("Nội dung", "What"),
    "decided": ("Đã ghi nhận quyết định.", "Decision recorded."),
    "refused_no_reason": (
        "Hãy ghi lý do: học sinh sẽ đọc lý do này trong ứng dụng.",
        "Write a reason: the student reads it in the app.",
    ),
    "refused_reason_too_long": (
        "Lý do dài quá {limit} ký tự. Hãy viết ngắn lại; chưa có gì được lưu.",
        "The reason is longer than {limit} characters. Shorten it; nothing was saved.",
    ),
    "refused_date": (
        "Ngày hết hiệu lực phải từ hôm nay đến tối đa 8 năm sau.",
        "The last valid day must be from today to at most 8 years on.",
    ),
    "refused_decided": (
        "Đơn này đã được quyết định (có thể ở một cửa sổ khác). Trang đã được cập nhật.",
        "This application was decided already (perhaps in another window). The page is current.",
    ),
    "reason_help": (
        "Học sinh sẽ đọc lý do này. Tối đa {limit} ký tự.",
        "The student reads this. At most {limit} characters.",
    ),
    "valid_until_help": (
        "Để trống: đến hết năm học của trường.",
        "Leave empty: to the end of the school's year.",
    ),
    # Error pages: where the school's words are more precise than the kit's.
    "error_404_detail": (
        "Không có đơn hoặc trang này trong trường của bạn.",
        "There is no such application or page for your school.",
    ),
    "error_413_detail": (
        "Tệp lớn hơn 20 MB. Hãy chia nhỏ hoặc bỏ các cột thừa.",
        "The file is over 20 MB. Split it or drop extra columns.",
    ),
    "back_to_queue": ("Quay lại danh sách đơn", "Back to the applications"),
    "back_to_login": ("Quay lại trang đăng nhập", "Back to sign in"),
    # Roster problems, by their code (transit.services.schools.RowError).
    "whole_file": ("Cả tệp", "Whole file"),
    "col_student_code": ("Mã học sinh", "Student code"),
    "col_full_name": ("Họ tên", "Full name"),
    "col_date_of_birth": ("Ngày sinh", "Date of birth"),
    "col_level": ("Lớp / khóa", "Level"),
    "col_programme": ("Hệ đào tạo", "Programme"),
    "col_enrolment_end": ("Ngày kết thúc học", "End of enrolment"),
    "col_school_year": ("Năm học", "School year"),
    "problem_school_year": (
        "Năm học \u201c{value}\u201d phải viết như 2026-2027.",
        "The school year \u201c{value}\u201d must be written like 2026-2027.",
    ),
    "problem_not_text": ("Tệp không phải văn bản.", "The file is not text."),
    "problem_not_utf8": (
        "Tệp không ở dạng UTF-8: trong Excel chọn Lưu thành \u201cCSV UTF-8\u201d.",
        "The file is not UTF-8: in Excel, Save As \u201cCSV UTF-8\u201d.",
    ),
    "problem_too_large": ("Tệp lớn hơn 20 MB.", "The file is larger than 20 MB."),
    "problem_not_csv": ("Tệp không phải CSV.", "The file is not a CSV file."),
    "problem_missing_column": ("Thiếu cột này.", "This column is missing."),
    "problem_unknown_column": (
        "Cột này không có trong mẫu.",
        "This column is not in the template.",
    ),
    "problem_too_many_rows": (
        "Danh sách có tối đa {limit} học sinh.",
        "A roster has at most {limit} students.",
    ),
    "problem_extra_cells": (
        "Dòng có nhiều ô hơn số cột.",
        "The row has more cells than there are columns.",
    ),
    "problem_duplicate": ("Trùng học sinh ở dòng {row}.", "The same student as on row {row}."),
    "problem_empty": ("Danh sách không có học sinh nào.", "The roster has no students."),
    "problem_length": ("Cần từ {low} đến {high} ký tự.", "Needs {low} to {high} characters."),
    "problem_birthday": (
        "{value} không phải ngày sinh của học sinh.",
        "{value} is not a student's birthday.",
    ),
    "problem_programme": (
        "\u201c{value}\u201d không phải hệ đào tạo. Viết một trong: phổ thông, đại học, "
        "chính quy, cao đẳng, trung cấp, dạy nghề, vừa học vừa làm.",
        "\u201c{value}\u201d is not a programme. Write one of: phổ thông, đại học, chính "
        "quy, cao đẳng, trung cấp, dạy nghề, vừa học vừa làm.",
    ),
    "problem_enrolment_end": (
        "{value} không thuộc năm học này.",
        "{value} is outside this school year.",
    ),
    "problem_date": (
        "\u201c{value}\u201d không phải ngày có thật (viết 31/05/2010 hoặc 2010-05-31).",
        "\u201c{value}\u201d is not a real date (write 31/05/2010 or 2010-05-31).",
    ),
    # Why an application was decided as it was, when the system wrote it.
    "reason_on_roster": ("Có tên trong danh sách của trường", "On the school's roster"),
    "reason_confirmed_by_school": ("Trường đã xác nhận", "Confirmed by the school"),
    "reason_work_study": (
        "Hệ vừa học vừa làm không được ưu đãi",
        "Work-study students are not eligible",
    ),
    "reason_enrolment_ended": ("Đã hết thời gian học", "Enrolment has ended"),
    # The audit log.
    "actor_rider": ("Học sinh (qua ứng dụng)", "The student (in the app)"),
    "actor_operator": ("Người vận hành hệ thống", "The system's operator"),
    "actor_system": ("Hệ thống", "The system"),
    "action_application_pending": ("Đơn mới chờ duyệt", "New application waiting"),
    "action_application_approved": ("Duyệt đơn", "Application approved"),
    "action_application_rejected": ("Từ chối đơn", "Application rejected"),
    "action_application_revoked": ("Thu hồi ưu đãi", "Student pass revoked"),
    "action_roster": ("Tải lên danh sách", "Roster uploaded"),
    "action_sign_in": ("Đăng nhập", "Signed in"),
    "action_sign_out": ("Đăng xuất", "Signed out"),
    "action_second_factor_locked": (
        "Tạm khóa bước mã xác thực (nhập sai nhiều lần)",
        "Authenticator step locked (too many wrong codes)",
    ),
    "action_age_category": ("Xác định đối tượng theo tuổi", "Category set by age"),
    "audit_roster": ("Năm học {year}: {rows} học sinh", "{year}: {rows} students"),
    "until": ("đến {day}", "until {day}"),
    "columns_help": (
        "Cột: student_code, full_name, date_of_birth, level, programme, enrolment_end",
        "Columns: student_code, full_name, date_of_birth, level, programme, enrolment_end",
    ),
    # Enrolment: the administrator sets up their own sign-in from a one-time link.
    "enrol_title": ("Thiết lập đăng nhập", "Set up your sign-in"),
    "enrol_intro": (
        "Chào {name}. Trang này thiết lập đăng nhập của bạn cho {school}. Liên kết chỉ dùng "
        "được một lần, đến {until}.",
        "Hello {name}. This page sets up your sign-in for {school}. The link works once, "
        "until {until}.",
    ),
    "enrol_step_password": ("1. Chọn mật khẩu", "1. Choose a password"),
    "new_password": ("Mật khẩu mới", "New password"),
    "password_again": ("Nhập lại mật khẩu", "The password again"),
    "password_help": (
        "Ít nhất {min} ký tự. Chỉ bạn biết mật khẩu này; đừng dùng lại mật khẩu khác.",
        "At least {min} characters. Only you know it; do not reuse another password.",
    ),
    "enrol_step_app": (
        "2. Thêm tài khoản vào ứng dụng xác thực",
        "2. Add the account to your authenticator app",
    ),
    "enrol_app_help": (
        "Trên điện thoại, mở ứng dụng xác thực (Google Authenticator, Microsoft Authenticator, "
        "…), chọn thêm tài khoản và quét mã QR này.",
        "On your phone, open an authenticator app (Google Authenticator, Microsoft "
        "Authenticator, …), choose to add an account and scan this QR code.",
    ),
    "qr_label": (
        "Mã QR để thêm tài khoản trường vào ứng dụng xác thực",
        "QR code that adds the school account to an authenticator app",
    ),
    "enrol_key_help": (
        "Không quét được? Chọn nhập khóa thiết lập trong ứng dụng và gõ khóa này:",
        "Cannot scan? Choose to enter a setup key in the app and type this key:",
    ),
    "enrol_open_app": (
        "Đang mở trang này trên chính điện thoại đó? Bấm vào đây để mở ứng dụng xác thực.",
        "Reading this on that phone? Tap here to open the authenticator app.",
    ),
    "enrol_step_code": ("3. Nhập mã ứng dụng đang hiện", "3. Type the code the app shows"),
    "enrol_finish": ("Hoàn tất", "Finish"),
    "enrol_short_password": (
        "Mật khẩu cần ít nhất {min} ký tự.",
        "The password needs at least {min} characters.",
    ),
    "enrol_passwords_differ": (
        "Hai mật khẩu không giống nhau.",
        "The two passwords are not the same.",
    ),
    "enrol_wrong_code": (
        "Mã không đúng. Hãy kiểm tra đã quét mã QR này, rồi nhập mã đang hiện.",
        "That code is not right. Check that you scanned this QR code, then type the code "
        "now shown.",
    ),
    "enrol_invalid": ("Liên kết không còn dùng được", "This link no longer works"),
    "enrol_invalid_detail": (
        "Liên kết thiết lập đã được dùng, đã được thay bằng liên kết mới, hoặc đã quá 3 ngày. "
        "Hãy xin liên kết mới từ người quản trị hệ thống.",
        "The set-up link was used already, replaced by a newer one, or is more than 3 days "
        "old. Ask the system's operator for a new link.",
    ),
    "enrolled": (
        "Đã thiết lập xong, bạn đã đăng nhập. Lần sau, hãy đăng nhập bằng thư điện tử, mật "
        "khẩu mới và mã trong ứng dụng xác thực.",
        "All set, and you are signed in. Next time, sign in with your e-mail, your new "
        "password and the code in your authenticator app.",
    ),
    "action_admin_added": ("Thêm người quản trị", "Administrator added"),
    "action_admin_reset": (
        "Đặt lại đăng nhập của người quản trị",
        "Administrator's sign-in reset",
    ),
    "action_enrolled": ("Thiết lập đăng nhập", "Sign-in set up"),
}
