"""Seeded generator of Vietnamese call-bot sentences for the synthetic demo corpus.

Greetings, balance and order questions, addresses, dates, phone numbers and money amounts spelled out in
words, confirmations, complaints; ``conversation`` style adds fillers ("à", "ờ", "ừm", "dạ"). Output is lower
case, NFC, without punctuation: the text a CTC model is trained on.

>>> number_to_words(105)
'một trăm linh năm'
>>> number_to_words(21)
'hai mươi mốt'
>>> number_to_words(1_250_000)
'một triệu hai trăm năm mươi nghìn'
"""

from __future__ import annotations

import random
import unicodedata
from typing import NamedTuple

# The spoken-number rules live in the library (shared with stage-0 normalisation); re-exported here.
from chunkformer.text.numbers import DIGITS, _below_thousand, digits_to_words, number_to_words  # noqa: F401

# Bumped whenever the sentences a seed gives change, so an existing corpus is rebuilt rather than reused.
# 2: every template has hundreds of fillings; templates drawn in rounds; splits disjoint on the base sentence.
TEXT_VERSION = 2

FILLERS = ["à", "ờ", "ừm", "dạ", "ừ", "thì", "kiểu là"]


STREETS = ("lê lợi", "nguyễn huệ", "trần hưng đạo", "hai bà trưng", "lý thường kiệt", "điện biên phủ",
           "cách mạng tháng tám", "võ văn tần", "phan đình phùng", "nguyễn trãi", "lê duẩn", "hoàng diệu",
           "bạch đằng", "quang trung", "nguyễn văn linh", "phạm văn đồng", "trường chinh", "láng hạ")
DISTRICTS = ("ba đình", "hoàn kiếm", "cầu giấy", "đống đa", "bình thạnh", "gò vấp", "tân bình", "thủ đức",
             "hải châu", "ninh kiều", "thanh xuân", "hai bà trưng", "phú nhuận", "bình tân")
CITIES = ("hà nội", "hồ chí minh", "đà nẵng", "hải phòng", "cần thơ", "nha trang", "huế", "vũng tàu", "biên hòa")
PRODUCTS = ("điện thoại", "tai nghe", "áo khoác", "giày thể thao", "nồi cơm điện", "máy lọc nước", "sách",
            "bàn phím", "quạt điện", "túi xách", "đồng hồ", "sữa bột", "máy sấy tóc", "ốp lưng")
SERVICES = ("thẻ tín dụng", "tài khoản tiết kiệm", "gói cước", "khoản vay", "thẻ ghi nợ", "bảo hiểm", "ví điện tử")
NAMES = ("an", "bình", "chi", "dũng", "giang", "hà", "hải", "hùng", "hương", "lan", "linh", "long", "mai",
         "minh", "nam", "ngọc", "phong", "quân", "thảo", "trang", "tuấn", "vy", "yến", "khoa", "đức", "sơn")
PRONOUNS = ("anh", "chị", "em", "cô", "chú", "quý khách", "bác")
DAYS = ("thứ hai", "thứ ba", "thứ tư", "thứ năm", "thứ sáu", "thứ bảy", "chủ nhật")


def _money(r: random.Random) -> str:
    kind = r.random()
    if kind < 0.4:
        return f"{number_to_words(r.randint(1, 999))} nghìn đồng"
    if kind < 0.8:
        return f"{number_to_words(r.randint(1, 99) * 10**6 + r.randint(0, 9) * 10**5)} đồng"
    return f"{number_to_words(r.randint(1000, 999999) * 1000)} đồng"


def _date(r: random.Random) -> str:
    return f"ngày {number_to_words(r.randint(1, 31))} tháng {number_to_words(r.randint(1, 12))}"


def _phone(r: random.Random) -> str:
    return digits_to_words("0" + r.choice("3579") + "".join(r.choice("0123456789") for _ in range(8)))


def _address(r: random.Random) -> str:
    return (f"số {number_to_words(r.randint(1, 399))} đường {r.choice(STREETS)} quận {r.choice(DISTRICTS)} "
            f"thành phố {r.choice(CITIES)}")


def _order(r: random.Random) -> str:
    return digits_to_words("".join(r.choice("0123456789") for _ in range(r.randint(4, 7))))


REQUESTS = ("đổi địa chỉ", "hủy đơn hàng", "hoàn tiền", "đổi hàng", "khiếu nại", "gia hạn", "tư vấn", "mở thẻ")
ITEMS = ("số điện thoại", "địa chỉ giao hàng", "mã đơn hàng", "số tài khoản", "họ và tên")
FACTS = ("thông tin", "địa chỉ", "số điện thoại", "đơn hàng", "lịch hẹn", "số tiền")
DEFECTS = ("bị lỗi", "bị hỏng", "giao sai màu", "giao thiếu")
PERIODS = ("ngày", "buổi sáng", "buổi chiều", "buổi tối", "cuối tuần")


def _templates(r: random.Random) -> list[str]:
    """Every template has hundreds of fillings or more, so the held-out splits (drawn first, never reused) leave
    plenty of each template for train: a template whose few fillings all went to test would be unseen in train
    (measured on the first corpus: 7 templates with only a pronoun slot, 7 fillings each, made 27 % of the test
    sentences and were never in train)."""
    p, q, name = r.choice(PRONOUNS), r.choice(PRONOUNS), r.choice(NAMES)
    return [
        f"xin chào {p} tôi là {name} tôi có thể giúp gì cho {p} ạ",
        f"alo em chào {p} em là {name} nhân viên chăm sóc khách hàng",
        f"cho {q} hỏi số dư tài khoản của {q} đến {_date(r)} còn bao nhiêu",
        f"số dư tài khoản của {p} hiện tại là {_money(r)}",
        f"{q} muốn kiểm tra đơn hàng mã số {_order(r)}",
        f"đơn hàng {r.choice(PRODUCTS)} của {q} {name} đã được giao chưa",
        f"đơn hàng của {p} sẽ được giao vào {_date(r)}",
        f"{p} {name} vui lòng cho em xin {r.choice(ITEMS)}",
        f"số điện thoại của {q} là {_phone(r)}",
        f"{q} muốn đổi địa chỉ giao hàng sang {_address(r)}",
        f"địa chỉ của {q} là {_address(r)}",
        f"{p} đã thanh toán {_money(r)} vào {_date(r)}",
        f"{q} muốn đăng ký {r.choice(SERVICES)} ở chi nhánh {r.choice(CITIES)} thì cần giấy tờ gì",
        f"phí dịch vụ {r.choice(SERVICES)} mỗi tháng là {_money(r)}",
        f"{q} đã chờ {number_to_words(r.randint(2, 15))} ngày rồi mà vẫn chưa nhận được {r.choice(PRODUCTS)}",
        f"sao {q} bị trừ tiền {r.choice(SERVICES)} {number_to_words(r.randint(2, 4))} lần "
        f"{r.choice(('vậy', 'trong tháng này'))}",
        f"{q} muốn khiếu nại về {r.choice(PRODUCTS)} {r.choice(DEFECTS)}",
        f"vâng em đã ghi nhận yêu cầu {r.choice(REQUESTS)} của {p} ạ"
        + (f" em sẽ gọi lại sau {number_to_words(r.randint(5, 60))} phút" if r.random() < 0.5 else ""),
        f"dạ đúng rồi {q} {name} xác nhận {r.choice(FACTS)} đó",
        f"không phải {q} không đặt đơn hàng {r.choice(PRODUCTS)} này {r.choice(('ạ', 'đâu', 'mà'))}",
        f"{p} có muốn hẹn lịch vào {r.choice(('buổi sáng', 'buổi chiều'))} {r.choice(DAYS)} "
        f"{r.choice(('tuần này', 'tuần sau'))} không",
        f"{q} cần hủy {r.choice(SERVICES)} từ {_date(r)}",
        f"cảm ơn {p} {name} đã gọi đến tổng đài chúc {p} một {r.choice(PERIODS)} "
        f"{r.choice(('tốt lành', 'vui vẻ'))}",
        f"mã xác nhận của {p} là {_order(r)}",
        f"{q} muốn chuyển {_money(r)} cho số tài khoản {_order(r)}",
        f"hạn thanh toán khoản vay của {p} là {_date(r)} năm {number_to_words(r.randint(2024, 2030))}",
    ]


NUM_TEMPLATES = len(_templates(random.Random(0)))


class Sentence(NamedTuple):
    """One generated sentence. ``base`` (the filled template, no fillers) is the unit that never crosses splits,
    so a conversation test sentence is not a train sentence with other fillers."""

    text: str
    base: str
    template: int


def _with_fillers(words: list[str], r: random.Random) -> list[str]:
    out: list[str] = []
    for w in words:
        if r.random() < 0.12:
            out.append(r.choice(FILLERS))
        out.append(w)
    if r.random() < 0.5:
        out.insert(0, r.choice(FILLERS))
    return out


def sentence(r: random.Random, style: str = "reading", template: int | None = None) -> Sentence:
    """One sentence from ``template`` (random if None); ``style`` "conversation" adds fillers."""
    k = r.randrange(NUM_TEMPLATES) if template is None else template
    base = unicodedata.normalize("NFC", _templates(r)[k])
    words = base.split()
    if style == "conversation":
        words = _with_fillers(words, r)
    return Sentence(" ".join(words), base, k)


def distinct_sentences(n: int, seed: int, style: str = "reading", exclude: set[str] | None = None) -> list[Sentence]:
    """``n`` sentences with distinct bases, none in ``exclude`` (a set of bases), deterministic for a seed.
    Templates are drawn in shuffled rounds, so every template gets ``n / NUM_TEMPLATES`` sentences (± 1).

    >>> [s.template for s in distinct_sentences(3, seed=0)] != []
    True
    """
    r = random.Random(seed)
    seen = set(exclude or ())
    out: list[Sentence] = []
    order: list[int] = []
    tries = 0
    while len(out) < n:
        if not order:
            order = r.sample(range(NUM_TEMPLATES), NUM_TEMPLATES)
        s = sentence(r, style, order[-1])
        tries += 1
        if s.base not in seen:
            seen.add(s.base)
            out.append(s)
            order.pop()
        elif tries > 50 * n + 1000:
            raise RuntimeError(f"could only make {len(out)} distinct sentences of {n}")
    return out


def all_generator_words() -> set[str]:
    """Every word the generator can emit (for vocabulary coverage)."""
    words = set(DIGITS) | {"mươi", "mười", "mốt", "tư", "lăm", "linh", "trăm", "nghìn", "triệu", "tỷ"}
    for group in (STREETS, DISTRICTS, CITIES, PRODUCTS, SERVICES, NAMES, PRONOUNS, DAYS, FILLERS, REQUESTS, ITEMS,
                  FACTS, DEFECTS, PERIODS):
        for item in group:
            words.update(item.split())
    r = random.Random(0)
    for _ in range(3000):
        words.update(sentence(r, "conversation").text.split())
    return words
