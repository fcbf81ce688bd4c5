"""Generated daily-life sentences for the demo's pretraining (phase 4): the words of money, shopping, housing,
health, travel, work and paperwork that a general Vietnamese recogniser knows and that help pages never use.

Why: after phase 3 the checkpoint read held-out prose well (general test 5.8 % WER) but call-bot reading poorly
(27 %), and its errors were the help pages' words standing in for everyday ones with a near tone or onset:
``bảo -> bao`` (bao gồm), ``hiểm -> phím`` (phím tắt), ``khoản -> khoảng`` (khoảng trắng), ``mất -> mật``
(mật khẩu), ``triệu -> chiều`` (chiều rộng), ``lắp -> lặp`` (lặp lại). ``bảo hiểm`` occurred 0 times in the
whole training text, ``khoản`` 10 times. A model trained on real speech has heard these words thousands of times.

What it is not: a call-bot turn. The sentences are third-person or first-person narration about ordinary life
("hôm qua mẹ tôi ra ngân hàng rút tiền"), never a customer speaking to a service or an agent to a customer: no
``quý khách``, no service greetings or requests (``xin chào``, ``vui lòng``, ``bên em``, ``cho em xin``), and no
multi-syllable value that the call-bot corpus holds out for its tests (``vi_callbot_text.HELD_VALUES``, checked
in ``daily_material``). The lexicon below was written for this module, not taken from the call-bot slot lists.

    >>> import random
    >>> s = daily_sentence(random.Random(0))   # e.g. "tuần trước bố tôi đã ra bưu điện gửi hàng cho bà"
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from chunkformer.text import normalize_text, number_to_words

PEOPLE = ("tôi", "mẹ tôi", "bố tôi", "chị tôi", "anh tôi", "em gái tôi", "em trai tôi", "vợ tôi", "chồng tôi",
          "ông nội", "bà ngoại", "cô hàng xóm", "bác bảo vệ", "bạn cùng phòng", "đồng nghiệp của tôi",
          "cậu em họ", "dì tôi", "chú tôi", "con trai tôi", "con gái tôi", "cả nhà tôi", "bạn thân của chị ấy",
          "người thuê trọ", "ông chủ nhà", "cô giáo của con", "anh thợ điện", "chị kế toán", "sếp tôi", "họ",
          "nhiều người", "ai cũng", "người ta", "khách du lịch", "sinh viên năm nhất", "mấy bạn trẻ")
ASPECTS = ("", "", "", "đã", "đang", "sẽ", "vừa", "mới", "sắp", "chưa", "vẫn chưa", "không", "định", "phải",
           "cần", "muốn", "quên", "lại", "thường", "hay", "cũng", "vừa mới", "đã kịp")

# (verb phrase, domain); the domain pairs a phrase with fitting places
ACTIONS = {
    "money": ("rút tiền", "gửi tiền tiết kiệm", "chuyển khoản cho bạn", "trả nợ", "vay tiền mua xe",
              "mở tài khoản mới", "làm lại thẻ", "khoá thẻ", "đổi mật khẩu", "kiểm tra số dư", "nhận lương",
              "đóng tiền điện", "trả tiền nước", "nộp học phí", "đóng tiền nhà", "đổi tiền lẻ", "rút sổ tiết kiệm",
              "tất toán khoản vay", "trả góp điện thoại", "đóng phí bảo hiểm", "mua bảo hiểm cho con",
              "nhận tiền bồi thường", "ký hợp đồng vay", "gia hạn hợp đồng", "hỏi lãi suất", "đóng thuế",
              "lấy hoá đơn", "thanh toán hoá đơn", "nhận tiền hoàn lại", "gửi tiền cho bố mẹ", "tiêu hết tiền"),
    "shop": ("mua áo mới", "đặt hàng trên mạng", "trả lại hàng", "đổi đôi giày", "nhận hàng", "gửi hàng cho bà",
             "mặc cả", "mua đồ giảm giá", "chọn quà sinh nhật", "gói quà", "mua điện thoại", "mua sim mới",
             "nạp tiền điện thoại", "đăng ký gói cước", "mua máy giặt", "mua nồi cơm", "mua bàn ghế",
             "đặt bánh kem", "mua sữa cho con", "mua thuốc bổ", "săn hàng khuyến mãi", "xem hàng", "thử váy",
             "mua vé số", "đổi quà", "huỷ đơn", "hỏi giá", "mua rau quả", "mua sách cũ", "đặt đồ ăn"),
    "home": ("lắp điều hoà", "lắp mạng", "sửa máy giặt", "thay bóng đèn", "sửa ống nước", "sơn lại tường",
             "dọn kho", "chuyển nhà", "thuê nhà", "trả phòng trọ", "xây nhà", "sửa mái nhà", "lắp cửa sắt",
             "sửa tủ lạnh", "lắp camera", "thay khoá cửa", "dọn nhà đón tết", "lau cửa kính", "cắt điện",
             "đổi bình ga", "lắp bình nóng lạnh", "sửa quạt trần", "treo rèm", "lát lại sàn"),
    "health": ("đi khám bệnh", "đặt lịch khám", "nằm viện", "xét nghiệm máu", "tiêm phòng", "mua thuốc",
               "đo huyết áp", "khám mắt", "nhổ răng", "làm răng", "ra viện", "chăm người ốm", "chụp phim",
               "tái khám", "uống thuốc đúng giờ", "đi châm cứu", "khám sức khoẻ", "siêu âm", "băng bó vết thương",
               "đo nhiệt độ", "mổ ruột thừa", "tập vật lý trị liệu"),
    "travel": ("đặt vé tàu", "mua vé máy bay", "đổi vé", "huỷ vé", "gọi xe", "đi xe ôm", "bắt xe khách",
               "lên máy bay", "xuống xe", "đổ xăng", "gửi xe", "đỗ xe", "đặt phòng khách sạn", "trả phòng",
               "làm thủ tục lên máy bay", "gửi hành lý", "thuê xe máy", "đi du lịch", "về quê ăn tết",
               "đón khách", "chờ tàu", "đi công tác", "lạc đường", "xin chỉ đường"),
    "work": ("nộp hồ sơ", "xin việc", "đi phỏng vấn", "đi họp", "tăng ca", "xin nghỉ phép", "viết báo cáo",
             "gửi thư điện tử", "gọi điện cho khách", "nghe điện thoại", "để lại lời nhắn", "ghi số điện thoại",
             "điền đơn", "ký tên", "ghi địa chỉ", "chụp giấy tờ", "làm căn cước", "làm hộ chiếu",
             "đăng ký kết hôn", "công chứng giấy tờ", "nhận bằng", "đóng dấu", "in tài liệu", "nộp báo cáo thuế",
             "chấm công", "nhận việc mới", "nghỉ việc", "đi thực tập", "trực đêm", "giao ca"),
}
PLACES = {
    "money": ("ở ngân hàng", "ở quầy giao dịch", "ở cây rút tiền", "ở bưu điện", "trên ứng dụng", "tại chi nhánh"),
    "shop": ("ở siêu thị", "ở cửa hàng", "ở chợ", "trên mạng", "ở trung tâm thương mại", "ở tiệm tạp hoá"),
    "home": ("ở nhà", "ở chung cư", "trên tầng ba", "ở phòng trọ", "ở căn hộ mới", "ở nhà bà"),
    "health": ("ở bệnh viện", "ở phòng khám", "ở trạm y tế", "ở tiệm thuốc", "ở khoa cấp cứu"),
    "travel": ("ở sân bay", "ở bến xe", "ở nhà ga", "ở khách sạn", "ở trạm xăng", "ngoài bến tàu"),
    "work": ("ở công ty", "ở văn phòng", "ở uỷ ban phường", "ở phòng nhân sự", "ở xưởng", "ở toà nhà mới"),
}
TIMES = ("", "", "hôm qua", "hôm nay", "sáng nay", "chiều nay", "tối qua", "tuần trước", "tuần sau",
         "tháng trước", "tháng sau", "năm ngoái", "cuối tháng", "đầu tháng", "cuối tuần này", "thứ hai tuần sau",
         "sáng thứ bảy", "chiều chủ nhật", "hôm kia", "ngày mốt", "sau tết", "trước tết", "mấy hôm nay",
         "đợt này", "lần trước", "lần này", "dạo gần đây")
THINGS = ("cái điện thoại", "chiếc xe máy", "cái máy giặt", "tủ lạnh", "cái quạt", "chiếc ti vi", "bình nóng lạnh",
          "đường mạng", "cái ví", "thẻ xe", "chìa khoá", "bộ bàn ghế", "cái đồng hồ", "đôi giày", "chiếc áo",
          "cái nồi", "máy tính", "cái loa", "bếp ga", "đèn bàn", "cái máy in", "hợp đồng", "hoá đơn", "giấy hẹn",
          "vé tàu", "gói hàng", "hộp sữa", "tờ giấy", "cái khoá", "chiếc ô", "con chuột", "tấm thẻ")
STATES = ("bị hỏng", "bị mất", "bị vỡ", "bị rách", "bị ướt", "hết hạn", "còn mới", "đắt quá", "rẻ hơn", "hết pin",
          "kêu to", "không chạy", "chạy chậm", "bị trả về", "đến muộn", "đến sớm", "chưa tới", "bị trừ tiền",
          "được giảm giá", "được miễn phí", "vẫn còn bảo hành", "phải sửa lại", "bị nhầm", "để quên ở nhà",
          "bị khoá", "hay bị lỗi", "dùng rất bền", "nhẹ hơn", "nặng quá")
REASONS = ("vì trời mưa", "vì kẹt xe", "vì hết tiền", "vì quên mang ví", "vì bận việc", "vì mất điện",
           "vì ốm", "vì sai địa chỉ", "vì thiếu giấy tờ", "vì hết hàng", "vì đông người", "vì đến muộn",
           "vì lỡ chuyến", "vì mạng yếu", "vì nhầm ngày", "cho kịp", "cho chắc", "cho đỡ tốn")
UNITS = ("phút", "tiếng", "ngày", "tuần", "tháng", "cây số", "lần",
         "người", "tầng", "phòng", "chuyến")
QUANTITY_VERBS = ("hết", "mất", "tốn", "trả", "được", "còn", "nợ", "chờ", "đi", "lên", "đếm được", "có")
REACTIONS = ("may mà", "khổ nỗi", "thế là", "nghe nói", "ai ngờ", "hoá ra", "không ngờ", "cũng may",
             "thật ra", "chẳng hiểu sao", "đúng lúc đó", "nói chung", "thú thật")


def _pick(rng: random.Random, options: tuple[str, ...]) -> str:
    return options[rng.randrange(len(options))]


def _amount(rng: random.Random) -> str:
    """A quantity: money as people say it half the time ("hai mươi ba triệu bốn trăm nghìn đồng", "ba triệu
    rưỡi"), else a count of some unit."""
    if rng.random() < 0.5:
        if rng.random() < 0.2:
            return f"{number_to_words(rng.randint(1, 99))} {_pick(rng, ('triệu', 'nghìn'))} rưỡi"
        return f"{number_to_words(rng.choice([rng.randint(1, 999) * 1000, rng.randint(1, 999) * 100_000]))} đồng"
    n = rng.choice([rng.randint(1, 12), rng.randint(13, 99), rng.randint(100, 999)])
    return f"{number_to_words(n)} {_pick(rng, UNITS)}"


def _clause(rng: random.Random) -> tuple[str, str]:
    """(subject + aspect + action, the action's domain)."""
    domain = _pick(rng, tuple(ACTIONS))
    words = (_pick(rng, PEOPLE), _pick(rng, ASPECTS), _pick(rng, ACTIONS[domain]))
    return " ".join(w for w in words if w), domain


def daily_sentence(rng: random.Random) -> str:
    """One generated daily-life sentence (6 shapes: action with time and place, action with a cost or
    duration, a thing's state, two joined actions, a reported event, a question among friends)."""
    kind = rng.randrange(6)
    clause, domain = _clause(rng)
    if kind == 0:
        parts = [_pick(rng, TIMES), clause, _pick(rng, PLACES[domain])]
    elif kind == 1:
        parts = [_pick(rng, TIMES), clause, _pick(rng, QUANTITY_VERBS), _amount(rng)]
    elif kind == 2:
        parts = [_pick(rng, THINGS), "của", _pick(rng, PEOPLE), _pick(rng, TIMES), _pick(rng, STATES),
                 _pick(rng, ("", "", "nên", "thế là")), _clause(rng)[0] if rng.random() < 0.5 else ""]
    elif kind == 3:
        parts = [clause, _pick(rng, ("rồi", "xong rồi", "trước khi", "sau khi", "trong lúc", "và")), _clause(rng)[0],
                 _pick(rng, REASONS) if rng.random() < 0.4 else ""]
    elif kind == 4:
        parts = [_pick(rng, REACTIONS), _pick(rng, TIMES), clause, _pick(rng, PLACES[domain]), _pick(rng, REASONS)]
    else:
        parts = [_pick(rng, PEOPLE), _pick(rng, ("có biết", "đã hỏi", "còn nhớ")), "ai",
                 _pick(rng, ACTIONS[domain]), _pick(rng, PLACES[domain]), _pick(rng, TIMES),
                 _pick(rng, ("không", "chưa", "không nhỉ"))]
    return " ".join(" ".join(p for p in parts if p).split())


def daily_material(vocab: set[str], seed: int, count: int, exclude: set[str],
                   banned_phrases: Iterable[str] = ()) -> list[str]:
    """``count`` distinct daily sentences (fewer if the grammar runs dry): every word in ``vocab``, none in
    ``exclude``, none containing one of ``banned_phrases`` (multi-syllable phrases, matched on word boundaries).
    Seeded on its own stream, so other generated material keeps its sentences whatever ``count`` is."""
    rng = random.Random(f"daily:{seed}")
    banned = [f" {p} " for p in banned_phrases]
    out: list[str] = []
    seen = set(exclude)
    tries = 0
    while len(out) < count and tries < count * 20:
        tries += 1
        s = normalize_text(daily_sentence(rng))
        if s in seen or not all(w in vocab for w in s.split()) or any(b in f" {s} " for b in banned):
            continue
        seen.add(s)
        out.append(s)
    return out
