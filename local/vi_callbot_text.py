"""Seeded generator of Vietnamese call-bot sentences for the synthetic demo corpus: the TRAINING patterns.

A pattern is a sentence with slots, ``"{me} muốn chuyển {amount} sang ngân hàng {bank}"``. The training
patterns (``TRAIN_PATTERNS``, grouped by intent in ``INTENTS``) cover a bank, a telecom operator, shops and
delivery, a clinic, an insurer and utilities: greetings and identity checks, balances, transfers, cards, orders
and delivery, addresses, appointments, insurance, phone plans, bills, promotions, refunds and complaints,
callbacks, OTP and scams, confirmations, opening hours, loans, savings, account changes. The test and
validation patterns are written separately, in ``vi_callbot_heldout.py``; they share only the slots below.

Slots: ``{p}`` the customer as the bot addresses them, ``{me}`` the customer's word for themself, ``{day}`` a
weekday, ``{surname}``/``{middle}`` name parts (closed classes: held-out function words would test the
vocabulary, not generalisation); every other slot is OPEN: names, streets, wards, districts, cities, products,
shops, banks, services, departments, amounts, dates, times, phone/account/order/OTP numbers. A fixed 25 % of
every open slot's values (``HELD_SHARE``) is held out: training sentences never use them, ``test_seen`` uses
only them. ``{x2}`` is a second, different value of slot ``x``. Numbers are spelled as spoken
(``number_to_words``, ``digits_to_words``). Output is lower case, NFC, without punctuation: CTC training text;
``conversation`` style adds fillers ("à", "ờ", "ừm", "dạ").

>>> number_to_words(105)
'một trăm linh năm'
>>> skeleton("{me} muốn chuyển {amount2} cho {p}")
'<me> muốn chuyển <amount> cho <p>'
"""

from __future__ import annotations

import collections
import functools
import hashlib
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import NamedTuple

# The spoken-number rules live in the library (shared with stage-0 normalisation); re-exported here.
from chunkformer.text.numbers import DIGITS, digits_to_words, number_to_words  # noqa: F401

# Bumped whenever the sentences a seed gives change, so an existing corpus is rebuilt rather than reused.
# 2: every template has hundreds of fillings; templates drawn in rounds; splits disjoint on the base sentence.
# 3: 160+ training patterns, held-out slot values, independent test/val patterns (vi_callbot_heldout.py).
# 4: audio dithered (local/tts.dither), same texts.
TEXT_VERSION = 5  # 5: train lead silence 0-400 ms (was 50-400 ms), same texts

FILLERS = ["à", "ờ", "ừm", "dạ", "ừ", "thì", "kiểu là"]
# Words that change the tone, not the structure, of a sentence: ignored when skeletons are compared, so two
# patterns that differ only by these (or by order) count as one.
PARTICLES = frozenset("ạ à ừ ờ ừm dạ vâng nhé nha nhỉ ơi thế vậy mà đó này nào chứ luôn rồi ấy thì đi giúp "
                      "với cái kiểu là".split())
HELD_SHARE = 0.25

# ---------------------------------------------------------------------------------------------------- slots
# Open lexical slots. Lists are pairwise disjoint (a test checks), so a value is held out in every slot or none.
NAMES = ("an", "bình", "chi", "dũng", "giang", "hà", "hải", "hùng", "hương", "lan", "linh", "long", "mai",
         "minh", "nam", "ngọc", "phong", "quân", "thảo", "trang", "tuấn", "vy", "yến", "đức", "sơn", "tâm",
         "thuỷ", "hoa", "hiếu", "thắng", "cường", "nga", "phương", "quỳnh", "tú", "huy", "duy", "hạnh", "nhung",
         "việt", "thành", "kiên", "oanh", "loan", "trâm", "khánh", "lộc", "diệp")
STREETS = ("lê lợi", "nguyễn huệ", "trần hưng đạo", "hai bà trưng", "lý thường kiệt", "điện biên phủ",
           "cách mạng tháng tám", "võ văn tần", "phan đình phùng", "nguyễn trãi", "lê duẩn", "hoàng diệu",
           "bạch đằng", "quang trung", "nguyễn văn linh", "phạm văn đồng", "trường chinh", "láng hạ", "kim mã",
           "giải phóng", "xuân thuỷ", "tôn đức thắng", "nguyễn thị minh khai", "lạc long quân", "âu cơ",
           "hùng vương", "trần phú", "ngô quyền", "lê văn sĩ", "cộng hòa", "hoàng văn thụ", "nguyễn chí thanh",
           "bà triệu", "đinh tiên hoàng", "lê thánh tông", "chu văn an")
WARDS = ("bến nghé", "bến thành", "tân định", "phạm ngũ lão", "dịch vọng", "láng thượng", "trung hòa", "yên hòa",
         "kim liên", "phúc xá", "thảo điền", "an phú", "hiệp phú", "linh trung", "phước long", "thạch thang",
         "hòa cường", "tân phong", "an khánh", "cát linh", "quan hoa", "mỹ đình", "khương trung", "vĩnh tuy")
DISTRICTS = ("ba đình", "hoàn kiếm", "cầu giấy", "đống đa", "bình thạnh", "gò vấp", "tân bình", "thủ đức",
             "hải châu", "ninh kiều", "thanh xuân", "phú nhuận", "bình tân", "long biên", "hoàng mai", "tây hồ",
             "sơn trà", "liên chiểu", "cái răng", "ngũ hành sơn", "hà đông", "nam từ liêm", "tân phú", "gia lâm")
CITIES = ("hà nội", "hồ chí minh", "đà nẵng", "hải phòng", "cần thơ", "nha trang", "huế", "vũng tàu", "biên hòa",
          "đà lạt", "quy nhơn", "vinh", "hạ long", "thái nguyên", "nam định", "thanh hoá", "bắc ninh",
          "long xuyên", "rạch giá", "phan thiết", "mỹ tho", "bình dương", "quảng ngãi", "tây ninh")
PRODUCTS = ("tai nghe", "áo khoác", "giày thể thao", "nồi cơm điện", "máy lọc nước", "bàn phím", "quạt điện",
            "túi xách", "đồng hồ đeo tay", "sữa bột", "máy sấy tóc", "ốp lưng", "máy tính bảng", "tủ lạnh",
            "máy giặt", "bàn là", "nồi chiên không dầu", "ấm siêu tốc", "chăn bông", "gối ôm", "váy liền",
            "quần bò", "kem chống nắng", "sữa rửa mặt", "bình giữ nhiệt", "xe đạp", "mũ bảo hiểm",
            "ghế văn phòng", "đèn bàn", "loa di động", "máy xay sinh tố", "bộ nồi", "dầu gội", "ba lô",
            "sách giáo khoa", "chuột máy tính", "máy hút bụi", "điều hòa", "tivi", "bếp từ")
SHOPS = ("ánh dương", "hoa sen", "bảo ngọc", "phú quý", "thanh tâm", "hồng phát", "tân tiến", "đại phát",
         "kim ngân", "thiên long", "phúc an", "hải âu", "sao mai", "bình minh", "trường thịnh", "vạn phúc",
         "hưng thịnh", "gia huy", "hòa bình", "an khang")
BANKS = ("ngoại thương", "công thương", "nông nghiệp", "quân đội", "á châu", "kỹ thương", "sài gòn thương tín",
         "đông á", "bưu điện liên việt", "phương đông", "an bình", "bắc á", "nam á", "việt á", "hàng hải",
         "xuất nhập khẩu", "tiên phong", "đầu tư và phát triển")
CARDS = ("thẻ tín dụng", "thẻ ghi nợ", "thẻ đa năng", "thẻ thanh toán nội địa", "thẻ bạch kim", "thẻ vàng",
         "thẻ sinh viên", "thẻ doanh nghiệp")
BANK_SERVICES = ("tài khoản tiết kiệm", "khoản vay tiêu dùng", "vay mua nhà", "vay mua xe", "gửi góp hằng tháng",
                 "nhắn tin biến động số dư", "chuyển tiền ra nước ngoài", "tài khoản số đẹp")
PLANS = ("sinh viên", "gia đình", "văn phòng", "không giới hạn", "học sinh", "người cao tuổi", "cơ bản",
         "cao cấp", "cuối tuần", "ban đêm", "nội thành", "thương gia")
BILLS = ("điện", "nước", "mạng", "truyền hình cáp", "rác", "gửi xe", "quản lý chung cư", "điện thoại bàn")
INSURANCES = ("bảo hiểm nhân thọ", "bảo hiểm sức khoẻ", "bảo hiểm xe máy", "bảo hiểm ô tô", "bảo hiểm du lịch",
              "bảo hiểm nhà ở", "bảo hiểm tai nạn", "bảo hiểm thai sản", "bảo hiểm học đường", "bảo hiểm hưu trí")
DEPARTMENTS = ("nội tổng quát", "nhi", "răng hàm mặt", "tai mũi họng", "da liễu", "sản phụ khoa", "mắt",
               "tim mạch", "xương khớp", "tiêu hoá", "thần kinh", "nội tiết", "vật lý trị liệu", "dinh dưỡng")
DEFECTS = ("bị vỡ", "bị móp", "giao sai màu", "giao thiếu hàng", "không lên nguồn", "bị rách", "hết hạn sử dụng",
           "sai kích cỡ", "bị trầy xước", "không đúng mô tả", "thiếu phụ kiện", "bị ướt")
ISSUES = ("chập chờn", "mất tín hiệu", "chậm như rùa", "rớt liên tục", "không vào được", "lúc có lúc không",
          "mất kết nối", "bị nghẽn")

# Closed slots: never held out.
PRONOUNS = ("anh", "chị", "cô", "chú", "bác", "quý khách")
SELF = ("tôi", "em", "anh", "chị", "mình", "cháu")
DAYS = ("thứ hai", "thứ ba", "thứ tư", "thứ năm", "thứ sáu", "thứ bảy", "chủ nhật")
SURNAMES = ("nguyễn", "trần", "lê", "phạm", "hoàng", "huỳnh", "phan", "vũ", "võ", "đặng", "bùi", "đỗ", "hồ", "ngô")
MIDDLES = ("văn", "thị", "công", "hữu", "thanh", "quốc", "kim", "thu", "gia", "xuân")


def _amounts() -> tuple[str, ...]:
    """Money as said on the phone: round thousands and millions with hundreds of thousands."""
    thousands = [f"{number_to_words(k)} nghìn đồng" for k in range(5, 1000, 5)]
    millions = [f"{number_to_words(a * 10**6 + b * 10**5)} đồng" for a in range(1, 100) for b in range(10)]
    return tuple(thousands + millions)


def _dates() -> tuple[str, ...]:
    days_in = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    return tuple(f"ngày {number_to_words(d)} tháng {number_to_words(m)}"
                 for m in range(1, 13) for d in range(1, days_in[m - 1] + 1))


def _times() -> tuple[str, ...]:
    minutes = ("", " mười", " mười lăm", " hai mươi", " ba mươi", " rưỡi", " bốn mươi lăm", " năm mươi")
    return tuple(f"{number_to_words(h)} giờ{m}" for h in range(1, 13) for m in minutes)


def _digits(lo: int, hi: int, first: str = "0123456789", prefix: str = "") -> Callable[[random.Random], str]:
    """A digit string of ``lo``..``hi`` digits (after ``prefix``), read digit by digit."""
    def draw(r: random.Random) -> str:
        n = r.randint(lo, hi)
        return digits_to_words(prefix + r.choice(first) + "".join(r.choice("0123456789") for _ in range(n - 1)))
    return draw


class Slot(NamedTuple):
    """``values``: a finite list; ``draw``: an unbounded value space (digit strings); ``open``: a ``HELD_SHARE``
    of its values is reserved for the test sets (closed slots are function words: never held out)."""

    values: tuple[str, ...] = ()
    draw: Callable[[random.Random], str] | None = None
    open: bool = True


SLOTS: dict[str, Slot] = {
    "name": Slot(NAMES), "street": Slot(STREETS), "ward": Slot(WARDS), "district": Slot(DISTRICTS),
    "city": Slot(CITIES), "product": Slot(PRODUCTS), "shop": Slot(SHOPS), "bank": Slot(BANKS), "card": Slot(CARDS),
    "banksvc": Slot(BANK_SERVICES), "plan": Slot(PLANS), "bill": Slot(BILLS), "insurance": Slot(INSURANCES),
    "dept": Slot(DEPARTMENTS), "defect": Slot(DEFECTS), "issue": Slot(ISSUES),
    "amount": Slot(_amounts()), "date": Slot(_dates()), "time": Slot(_times()),
    "house": Slot(tuple(number_to_words(n) for n in range(1, 400))),
    "count": Slot(tuple(number_to_words(n) for n in range(2, 31))),
    "percent": Slot(tuple(number_to_words(n) for n in range(1, 51))),
    "year": Slot(tuple(number_to_words(n) for n in range(1950, 2008))),
    "phone": Slot(draw=_digits(9, 9, "35789", prefix="0")), "account": Slot(draw=_digits(10, 13, "123456789")),
    "order": Slot(draw=_digits(6, 8, "123456789")), "otp": Slot(draw=_digits(6, 6)),
    "cardtail": Slot(draw=_digits(4, 4)),
    "idcard": Slot(draw=_digits(11, 11, "0123456789", prefix="0")),
    "hotline": Slot(draw=_digits(4, 4, "123456789", prefix="1900")),
    "p": Slot(PRONOUNS, open=False), "me": Slot(SELF, open=False), "day": Slot(DAYS, open=False),
    "surname": Slot(SURNAMES, open=False), "middle": Slot(MIDDLES, open=False),
}
# Slots made of other slots; their parts are what is held out.
COMPOSITES: dict[str, tuple[str, ...]] = {
    "fullname": ("{surname} {middle} {name}", "{surname} {name}"),
    "address": ("số {house} đường {street} phường {ward} quận {district}", "số {house} {street} quận {district}",
                "số nhà {house} đường {street} phường {ward}"),
}


def _rank(slot: str, value: str) -> int:
    """A stable pseudo-random rank (not Python's salted ``hash``): the same values are held out on every run."""
    return int.from_bytes(hashlib.sha256(f"{slot}|{value}".encode()).digest()[:8], "big")


def _held_out_values() -> dict[str, frozenset[str]]:
    """Per finite open slot, the ``HELD_SHARE`` of its values with the lowest rank (at least one)."""
    out = {}
    for name, slot in SLOTS.items():
        if slot.open and slot.values:
            k = max(1, round(len(slot.values) * HELD_SHARE))
            out[name] = frozenset(sorted(slot.values, key=lambda v, s=name: _rank(s, v))[:k])
    return out


HELD_OUT = _held_out_values()
TRAIN_VALUES = {s: tuple(v for v in SLOTS[s].values if v not in held) for s, held in HELD_OUT.items()}
HELD_VALUES = {s: tuple(v for v in SLOTS[s].values if v in held) for s, held in HELD_OUT.items()}


def is_held_out(slot: str, value: str) -> bool:
    """Whether ``value`` of open slot ``slot`` is reserved for the test sets (digit strings: 1 in 4 by rank)."""
    if slot in HELD_OUT:
        return value in HELD_OUT[slot]
    return _rank(slot, value) % round(1 / HELD_SHARE) == 0


# ------------------------------------------------------------------------------------------------- patterns
_SLOT_RE = re.compile(r"\{([a-z]+?)(\d?)\}")
PARTS = ("train", "heldout", "any")  # which values of the open slots a sentence may use


class Pattern(NamedTuple):
    """``id`` is ``<intent>.<n>`` (training) or ``test.<n>``/``val.<n>``; slot names have no digits (``{x2}``)."""

    id: str
    text: str


def skeleton(text: str) -> str:
    """The pattern with every slot blanked to ``<slot>`` (a second instance ``{x2}`` is ``<x>`` too)."""
    return _SLOT_RE.sub(lambda m: f"<{m.group(1)}>", text)


def content_bag(text: str) -> collections.Counter[str]:
    """The skeleton's words without particles, as a multiset: what survives reordering and added particles."""
    return collections.Counter(w for w in skeleton(text).split() if w not in PARTICLES)


def derived(a: str, b: str) -> bool:
    """Whether one pattern is the other with words dropped or added (particles aside), in any order: then they
    are one structure, not two."""
    ba, bb = content_bag(a), content_bag(b)
    return ba <= bb or bb <= ba


_DIGIT_RUN = "<digits>"  # a digit-string slot (phone, account, OTP…): one or more digit words


@functools.cache
def _values_by_first_word(slot: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    """The values of a finite slot as word tuples, by their first word."""
    out: dict[str, list[tuple[str, ...]]] = collections.defaultdict(list)
    for v in SLOTS[slot].values:
        out[v.split()[0]].append(tuple(v.split()))
    return {w: tuple(vs) for w, vs in out.items()}


def producible(text: str, pattern: str) -> bool:
    """Whether the generator could say ``text`` with ``pattern`` (a pattern's text): its words in order, each
    slot one of its values (all of them, training and held-out; composites by their formulas; digit strings as
    any run of digit words), fillers (``FILLERS``, the conversation style) before any word. Slightly more than
    the generator says (``{x}`` and ``{x2}`` may be equal here), so a False is certain. Used to show that a
    hand-written sentence is not generator output.

    >>> pattern = "{me} muốn chuyển {amount} sang ngân hàng {bank}"
    >>> producible("ờ tôi muốn chuyển năm trăm nghìn đồng sang ngân hàng á châu", pattern)
    True
    >>> producible("tôi muốn chuyển tiền sang ngân hàng á châu", pattern)
    False
    """
    words, fillers = text.split(), [f.split() for f in FILLERS]

    @functools.cache
    def match(toks: tuple[str, ...], j: int) -> bool:  # the tokens toks produce words[j:]
        if not toks:
            return j == len(words)
        if any(words[j:j + len(f)] == f and match(toks, j + len(f)) for f in fillers):
            return True
        if j == len(words):
            return False
        head, rest, slot = toks[0], toks[1:], _SLOT_RE.fullmatch(toks[0])
        if slot is None and head != _DIGIT_RUN:
            return words[j] == head and match(rest, j + 1)
        if head == _DIGIT_RUN:  # one digit word, then more of them or the rest
            return words[j] in DIGITS and (match(toks, j + 1) or match(rest, j + 1))
        name = slot.group(1)
        if name in COMPOSITES:
            return any(match(tuple(f.split()) + rest, j) for f in COMPOSITES[name])
        if SLOTS[name].draw is not None:
            return match((_DIGIT_RUN,) + rest, j)
        return any(match(v + rest, j) for v in _values_by_first_word(name).get(words[j], ()))

    return match(tuple(pattern.split()), 0)


def producing_pattern(text: str, patterns: Sequence[Pattern]) -> Pattern | None:
    """The first of ``patterns`` that could produce ``text`` (:func:`producible`), or None."""
    return next((p for p in patterns if producible(text, p.text)), None)


def slot_names(text: str) -> list[str]:
    """The slots of a pattern, composites expanded (``fullname`` -> surname, middle, name)."""
    out = []
    for m in _SLOT_RE.finditer(text):
        name = m.group(1)
        out += [s for f in COMPOSITES[name] for s in slot_names(f)] if name in COMPOSITES else [name]
    return out


def _value(slot: str, r: random.Random, part: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """One value of ``slot`` (text, open (slot, value) pairs used) from the ``part`` side of the split."""
    if slot in COMPOSITES:
        return fill(r.choice(COMPOSITES[slot]), r, part)
    spec = SLOTS[slot]
    if not spec.open:
        return r.choice(spec.values), ()
    if spec.values:
        pool = {"train": TRAIN_VALUES, "heldout": HELD_VALUES}.get(part, {}).get(slot, spec.values)
        value = r.choice(pool)
    else:
        assert spec.draw is not None
        value = spec.draw(r)
        while part != "any" and is_held_out(slot, value) != (part == "heldout"):
            value = spec.draw(r)
    return value, ((slot, value),)


def fill(text: str, r: random.Random, part: str = "train") -> tuple[str, tuple[tuple[str, str], ...]]:
    """Fills every slot of a pattern; the same placeholder gets the same value, ``{x}`` and ``{x2}`` different
    ones. Returns (sentence, the open (slot, value) pairs it used)."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, not {part!r}")
    chosen: dict[str, str] = {}
    slot_of: dict[str, str] = {}
    used: list[tuple[str, str]] = []

    def sub(m: re.Match[str]) -> str:
        if m.group(0) not in chosen:
            taken = {v for k, v in chosen.items() if slot_of[k] == m.group(1)}
            for _ in range(50):
                value, pairs = _value(m.group(1), r, part)
                if value not in taken:
                    break
            chosen[m.group(0)] = value
            slot_of[m.group(0)] = m.group(1)
            used.extend(pairs)
        return chosen[m.group(0)]

    return _SLOT_RE.sub(sub, text), tuple(used)


# Training patterns by intent. Each has at least one open slot, so it has many fillings and a held-out-value
# version (test_seen). Speakers: the bot says "em" and {p}; the caller says {me}.
INTENTS: dict[str, tuple[str, ...]] = {
    "greeting": (
        "xin chào {p} {name} em là trợ lý tự động của ngân hàng {bank}",
        "em chào {p} em gọi từ cửa hàng {shop} cho em hỏi có phải {p} {name} không ạ",
        "tổng đài {shop} xin nghe em là {name} có thể hỗ trợ gì cho {p}",
        "chào buổi sáng {p} cuộc gọi này từ phòng khám khoa {dept}",
        "em là {name} gọi tư vấn về sản phẩm {insurance} ạ",
        "cảm ơn {p} {name} đã gọi đến tổng đài chúc {p} một ngày tốt lành",
    ),
    "identity": (
        "dạ em đang nói chuyện với {p} {fullname} đúng không ạ",
        "tôi tên là {fullname} chủ tài khoản {account}",
        "{me} là {fullname} sinh năm {year}",
        "để xác minh {p} {name} vui lòng đọc bốn số cuối của {card}",
        "số căn cước của {me} là {idcard}",
        "ngày sinh của {me} là {date} năm {year}",
    ),
    "balance": (
        "cho {me} hỏi tài khoản {account} còn bao nhiêu tiền",
        "số dư khả dụng trong tài khoản của {p} là {amount}",
        "{me} muốn tra số dư thẻ có bốn số cuối {cardtail}",
        "tính đến {date} tiền lãi tiết kiệm của {p} là {amount}",
        "sao tài khoản của {me} tự nhiên bị trừ mất {amount} vậy",
    ),
    "transfer": (
        "{me} muốn chuyển {amount} sang ngân hàng {bank}",
        "người nhận là {fullname} số tài khoản {account}",
        "giao dịch chuyển {amount} cho {p} {name} đã thành công",
        "{me} chuyển nhầm tiền vào tài khoản {account} thì lấy lại kiểu gì",
        "hạn mức chuyển khoản mỗi ngày của {p} hiện là {amount}",
        "phí chuyển tiền liên ngân hàng từ {bank} sang {bank2} hết bao nhiêu",
    ),
    "card_lock": (
        "khoá giúp {me} thẻ có số cuối {cardtail} ngay nhé",
        "{me} vừa đánh rơi {card} ở {city}",
        "thẻ của {p} đã được tạm khoá lúc {time}",
        "muốn mở khoá {p} mang căn cước ra chi nhánh {city} gần nhất",
        "cây rút tiền trên đường {street} nuốt mất thẻ của {me} rồi",
        "{me} nhập sai mã pin {count} lần nên thẻ bị khoá",
    ),
    "card_service": (
        "{me} muốn nâng hạn mức {card} lên {amount}",
        "{card} của {p} đã được phê duyệt và sẽ gửi về trong {count} ngày",
        "làm sao để kích hoạt {card} mới nhận từ ngân hàng {bank}",
        "kỳ sao kê {card} chốt vào {date}",
        "phí thường niên {card} là {amount}",
    ),
    "order": (
        "{me} muốn kiểm tra đơn hàng mã số {order}",
        "đơn {product} của {p} đang trên đường giao dự kiến {date} sẽ tới",
        "bên em đã giao {product} cho {p} lúc {time} hôm qua",
        "đặt {product} từ {date} mà giờ vẫn chưa thấy hàng đâu",
        "đơn hàng {order} gồm {count} sản phẩm tổng cộng {amount}",
        "cửa hàng {shop} xin thông báo đơn {order} đã đóng gói xong",
        "cho {me} hủy đơn {product} vừa đặt lúc {time}",
        "đơn {order} bị hủy vì không liên lạc được với {p}",
        "{me} muốn thêm một {product} vào đơn vừa đặt",
        "{me} muốn đổi {product} lấy mẫu khác cùng giá",
        "{p} thanh toán khi nhận hàng hay chuyển khoản qua ngân hàng {bank}",
        "cửa hàng {shop} có chi nhánh nào ở {city} không",
    ),
    "delivery": (
        "người giao hàng sẽ gọi cho {p} trước khoảng {count} phút",
        "phí vận chuyển về quận {district} là {amount}",
        "{me} ở {city} có được miễn phí giao hàng không",
        "hàng chuyển từ kho {city} ra {city2} mất khoảng {count} ngày",
        "{p} có ở nhà lúc {time} không để em mang {product} qua",
        "em đang đứng trước số nhà {house} mà gọi {p} mãi không được",
        "đơn thu hộ {amount} {p} chuẩn bị sẵn tiền mặt giúp em",
        "{me} nhờ người nhà tên {name} nhận hộ được không",
        "đơn hàng của {p} đang nằm ở bưu cục {district}",
        "{p} muốn nhận {product} vào giờ hành chính hay buổi tối",
        "kiện hàng gửi {city} nặng {count} cân nên phí giao cao hơn",
    ),
    "address": (
        "địa chỉ của {me} là {address}",
        "{p} muốn đổi địa chỉ nhận hàng sang {address} phải không ạ",
        "nhà {me} trong hẻm {house} đường {street} quận {district}",
        "{me} ở phường {ward} quận {district} {city}",
        "phòng giao dịch gần {p} nhất ở số {house} đường {street}",
        "giao tới công ty ở tầng {count} toà nhà trên đường {street}",
    ),
    "appointment": (
        "{me} muốn đặt lịch khám khoa {dept} vào {day} tuần sau",
        "lịch hẹn của {p} với bác sĩ {name} là {time} {date}",
        "{day} này bác sĩ chỉ còn trống lúc {time} thôi",
        "{me} muốn dời lịch hẹn từ {date} sang {date2}",
        "em xin xác nhận {p} {name} khám {dept} lúc {time} {day} này",
        "số thứ tự khám của {p} là {count}",
        "{me} muốn hỏi bác sĩ {name} có khám {day} không",
        "con {me} {count} tuổi sốt cao muốn khám khoa {dept}",
        "bác sĩ {name} hôm nay nghỉ {p} khám với bác sĩ khác được không",
        "{me} đau lưng {count} ngày nay rồi",
        "phòng khám ở số {house} đường {street} tầng {count}",
    ),
    "clinic_info": (
        "{p} nhớ nhịn ăn {count} tiếng trước khi lấy máu xét nghiệm",
        "khoa {dept} làm việc từ {time} sáng đến {time2} chiều",
        "có thẻ bảo hiểm y tế {p} được giảm {percent} phần trăm phí khám",
        "kết quả xét nghiệm của {p} sẽ có sau {count} ngày",
        "phí khám {dept} là {amount} chưa gồm tiền thuốc",
    ),
    "insurance": (
        "hợp đồng {insurance} của {p} sẽ hết hạn vào {date}",
        "{me} muốn yêu cầu bồi thường {insurance} cho vụ tai nạn hôm {day}",
        "phí {insurance} hằng năm là {amount}",
        "mức chi trả tối đa của gói {insurance} này là {amount}",
        "{me} đóng {insurance} được {count} năm rồi giờ muốn rút trước hạn",
        "người thụ hưởng hợp đồng là {fullname}",
        "hồ sơ bồi thường của {p} đã được duyệt {amount}",
        "{me} muốn mua {insurance} cho bố mẹ",
        "thời gian chờ của {insurance} là {count} ngày",
    ),
    "telecom": (
        "{me} muốn đăng ký gói cước {plan}",
        "gói {plan} có giá {amount} một tháng",
        "thuê bao {phone} của {p} vừa bị trừ {amount} tiền cước",
        "{me} muốn chuyển số {phone} từ trả trước sang trả sau",
        "mạng nhà {me} ở {district} bị {issue} từ sáng",
        "kỹ thuật viên sẽ tới nhà {p} trong khoảng {time} đến {time2}",
        "số {phone} của {me} bị khoá một chiều",
        "{p} còn {count} phút gọi nội mạng miễn phí đến hết {date}",
        "nạp {amount} vào số {phone} giúp {me}",
        "sim {phone} đăng ký chính chủ tên {fullname}",
        "sao gói {plan} tự gia hạn mà không báo {me}",
        "{me} muốn hủy số {phone} vì không dùng nữa",
        "tín hiệu ở phường {ward} quận {district} yếu quá gọi toàn bị rớt",
    ),
    "utilities": (
        "hoá đơn tiền {bill} tháng này của {me} là {amount}",
        "{me} muốn thanh toán tiền {bill} cho mã khách hàng {account}",
        "khu vực phường {ward} sẽ tạm ngừng cấp điện từ {time} đến {time2} {date}",
        "nhà {me} mới chậm đóng tiền {bill} {count} ngày mà đã bị cắt rồi",
        "{p} đã quá hạn thanh toán tiền {bill} {count} ngày",
        "công tơ điện nhà {me} ở {address} bị hỏng",
        "{me} muốn chuyển tên hợp đồng tiền {bill} sang {fullname}",
    ),
    "promotion": (
        "từ nay đến {date} {shop} giảm {percent} phần trăm cho tất cả {product}",
        "{p} được tặng mã giảm giá {amount} cho đơn từ {amount2}",
        "chương trình mua một tặng một chỉ áp dụng cho {product} tại cửa hàng {shop}",
        "tích đủ {count} điểm {p} sẽ được đổi một {product}",
        "{product} này còn hàng ở chi nhánh {district} không",
        "{product} bên em bảo hành {count} tháng",
        "giá {product} hiện tại là {amount}",
        "khách hàng mở {banksvc} trong tháng này được hoàn {percent} phần trăm",
    ),
    "complaint": (
        "{product} {me} nhận được {defect}",
        "{me} muốn trả lại {product} và lấy lại tiền",
        "số tiền {amount} sẽ được hoàn về tài khoản của {p} trong {count} ngày làm việc",
        "{me} gọi {count} lần rồi mà không ai giải quyết",
        "{me} muốn phản ánh thái độ của nhân viên {name} ở chi nhánh {city}",
        "mã số khiếu nại của {p} là {order}",
        "làm ăn kiểu gì mà giao {product} {defect} thế này",
        "xin lỗi vì giao chậm em tặng {p} phiếu mua hàng {amount}",
        "{me} chưa nhận được tiền hoàn {amount} từ tuần trước",
    ),
    "callback": (
        "em sẽ gọi lại cho {p} vào {time} {day}",
        "{me} đang bận gọi lại sau {count} phút nhé",
        "{p} để lại số {phone} bên em sẽ liên hệ lại ngay",
        "số điện thoại của {me} là {phone}",
        "nếu cần hỗ trợ thêm {p} gọi tổng đài {hotline}",
        "{me} muốn được gọi lại sau {time}",
        "{p} nói lại giúp em tên phường là {ward} hay {ward2}",
        "{me} gọi từ số {phone} chứ không phải số đăng ký",
        "{p} có cần em gửi tin nhắn xác nhận về số {phone} không",
    ),
    "otp": (
        "mã xác thực của {p} là {otp}",
        "{p} tuyệt đối không đọc mã xác thực cho bất kỳ ai kể cả người xưng là nhân viên ngân hàng {bank}",
        "{me} không nhận được tin nhắn mã xác thực gửi về số {phone}",
        "mã {otp} chỉ có hiệu lực trong {count} phút",
        "có người gọi tự xưng công an đòi {me} chuyển {amount}",
        "ngân hàng {bank} không bao giờ yêu cầu {p} cung cấp mật khẩu qua điện thoại",
    ),
    "confirm": (
        "vâng đúng rồi người nhận là {name} em gái của {me}",
        "không phải đâu {me} đâu có đặt {product}",
        "dạ vâng {me} đồng ý gia hạn {insurance}",
        "{p} xác nhận chuyển {amount} cho {fullname} đúng không ạ",
        "không cần đâu {me} không muốn đăng ký {plan} nữa",
        "được rồi {time} {day} giao cũng được",
        "{me} nhắc lại số tài khoản là {account} đúng chưa",
        "chính xác là {amount} phải không em",
    ),
    "hours": (
        "cửa hàng {shop} nghỉ {day} còn các ngày khác mở tới {time} tối",
        "phòng giao dịch trên đường {street} có làm việc {day} không",
        "chi nhánh {city} mở cửa lúc {time} sáng",
        "tổng đài làm việc đến {time} tối kể cả {day}",
    ),
    "loan": (
        "{me} muốn vay {amount} trong {count} tháng",
        "lãi suất khoản vay của {p} là {percent} phần trăm một năm",
        "kỳ trả nợ tiếp theo của {p} là {date} với số tiền {amount}",
        "hồ sơ vay của {p} cần thêm {count} tháng sao kê lương",
        "em thấy {p} có khoản nợ quá hạn {amount}",
    ),
    "savings": (
        "{me} muốn gửi tiết kiệm {amount} kỳ hạn {count} tháng",
        "sổ tiết kiệm của {p} đáo hạn vào {date}",
        "lãi suất gửi {count} tháng hiện là {percent} phần trăm",
    ),
    "account": (
        "{me} muốn đổi số điện thoại đăng ký từ {phone} sang {phone2}",
        "{me} quên mật khẩu đăng nhập ngân hàng {bank} rồi",
        "tài khoản {account} đã được mở thành công",
        "căn cước của {me} cấp ngày {date} tại {city}",
        "{me} muốn mở {banksvc} ở chi nhánh {city}",
        "{banksvc} yêu cầu số dư tối thiểu {amount}",
        "{me} muốn in sao kê tài khoản từ {date} đến {date2}",
        "ngân hàng {bank} có phòng giao dịch ở {district} không",
    ),
}
TRAIN_PATTERNS: tuple[Pattern, ...] = tuple(Pattern(f"{intent}.{i}", unicodedata.normalize("NFC", t))
                                            for intent, texts in INTENTS.items() for i, t in enumerate(texts))


# ------------------------------------------------------------------------------------------------ sentences
class Sentence(NamedTuple):
    """One generated sentence. ``base`` (the filled pattern, no fillers) is the unit that never crosses splits,
    so a conversation test sentence is not a train sentence with other fillers; ``slots`` lists the open
    (slot, value) pairs it used."""

    text: str
    base: str
    pattern: str
    slots: tuple[tuple[str, str], ...]


def _with_fillers(words: list[str], r: random.Random) -> list[str]:
    out: list[str] = []
    for w in words:
        if r.random() < 0.12:
            out.append(r.choice(FILLERS))
        out.append(w)
    if r.random() < 0.5:
        out.insert(0, r.choice(FILLERS))
    return out


def sentence(r: random.Random, pattern: Pattern, style: str = "reading", part: str = "train") -> Sentence:
    """``pattern`` filled from the ``part`` side of the slot values; ``style`` "conversation" adds fillers."""
    base, slots = fill(pattern.text, r, part)
    base = unicodedata.normalize("NFC", base)
    words = base.split()
    if style == "conversation":
        words = _with_fillers(words, r)
    return Sentence(" ".join(words), base, pattern.id, slots)


def distinct_sentences(n: int, seed: int, patterns: Sequence[Pattern] = TRAIN_PATTERNS, style: str = "reading",
                       part: str = "train", exclude: set[str] | None = None) -> list[Sentence]:
    """``n`` sentences with distinct bases, none in ``exclude`` (a set of bases), deterministic for a seed.
    Patterns are drawn in shuffled rounds, so every pattern gets ``n / len(patterns)`` sentences (± 1).

    >>> len({s.pattern for s in distinct_sentences(len(TRAIN_PATTERNS), seed=0)}) == len(TRAIN_PATTERNS)
    True
    """
    r = random.Random(seed)
    seen = set(exclude or ())
    out: list[Sentence] = []
    order: list[Pattern] = []
    tries = 0
    while len(out) < n:
        if not order:
            order = r.sample(list(patterns), len(patterns))
        s = sentence(r, order[-1], style, part)
        tries += 1
        if s.base not in seen:
            seen.add(s.base)
            out.append(s)
            order.pop()
        elif tries > 50 * n + 1000:
            raise RuntimeError(f"could only make {len(out)} distinct sentences of {n} ({order[-1].id})")
    return out


def slot_words() -> set[str]:
    """Every word any slot value can contain (closed, open, train and held-out; digit strings: the digits)."""
    words = set(DIGITS)
    for spec in SLOTS.values():
        for value in spec.values:
            words.update(value.split())
    return words


def all_generator_words(patterns: Sequence[Pattern] | None = None) -> set[str]:
    """Every word the generator can emit with ``patterns`` (default: training, validation and test patterns: the
    vocabulary must spell the test sets too): literals, slot values, fillers."""
    if patterns is None:
        from vi_callbot_heldout import TEST_PATTERNS, VAL_PATTERNS  # it imports this module: import when called

        patterns = TRAIN_PATTERNS + TEST_PATTERNS + VAL_PATTERNS
    words = slot_words() | {w for f in FILLERS for w in f.split()}
    for pattern in list(patterns) + [Pattern("", f) for fs in COMPOSITES.values() for f in fs]:
        words.update(_SLOT_RE.sub(" ", pattern.text).split())
    return words
