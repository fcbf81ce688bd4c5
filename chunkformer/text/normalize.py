"""Vietnamese transcript normalisation for CTC targets and scoring (standard library only).

:class:`TextNormalizer` turns a written transcript into the syllables a speaker said, in this order:

1. Unicode NFC; the look-alike eth ``Ð``/``ð`` becomes ``Đ``/``đ``;
2. tags (``[noise]``, ``<unk>``, ``(laugh)``…) removed or mapped (``TextNormConfig.tags``); a bracketed note
   without digits that no tag matches (``(tiếng ồn)``) is a :class:`NormalizeError` (``unknown_latin: reject``)
   or kept as words (``keep``), never silently said;
3. digits to words (``numbers: true``), most specific form first:

   ========================  ==================================================================
   ``20/11/2024``            ``ngày hai mươi tháng mười một năm hai nghìn không trăm hai mươi tư``
                             (also ``-`` or ``.``; ``20/11`` without a year; month 4 is ``tư``;
                             no second ``ngày`` when the text already says it); ``15-12`` is a date
                             only where it cannot be a range: after ``ngày``/``mùng`` or day > month;
                             ``1/2`` is read as a date (far likelier in a call than a half)
   ``ngõ 34/2``, ``24/7``    ``ba mươi tư trên hai``: a house number (after ``số``, ``nhà``, ``ngõ``,
                             ``ngách``, ``hẻm``, ``kiệt``, ``phòng``, or from 100/ up) and 24/7 say
                             ``trên``; ``50/50`` is left as two numbers
   ``15 triệu/tháng``        ``mười lăm triệu một tháng``: ``/`` after a number or amount and before a
                             period (tháng, năm, ngày, tuần, giờ, phút, lần, người…) is ``một`` (per)
   ``5-10%``, ``8h-17h``     ``năm đến mười phần trăm``, ``tám giờ đến mười bảy giờ``: a dash between
                             numbers is a range, said ``đến``; two consecutive digits are said side by
                             side (``2-3 ngày`` → ``hai ba ngày``) unless after ``từ``; also
                             ``thứ 2 - thứ 6``; not after a ``digits_after`` word (``mã 123-456`` is a
                             code), nor bare ``a-b`` with a ≥ b (a score: ``1-0`` → ``một không``)
   ``9h30``, ``14:05``       ``chín giờ ba mươi``, ``mười bốn giờ không năm`` (minutes as read on a
                             clock: below 10 as ``không`` + digit; ``:00`` and ``9h`` say only ``giờ``;
                             ``7g30`` too, but ``g`` only with minutes: ``4G`` is the network)
   ``15%``                   ``mười lăm phần trăm``
   ``500.000 đồng``          ``năm trăm nghìn đồng`` (also ``đ``, ``vnđ``, ``vnd``; money has no fraction,
                             so ``99,000đ`` and ``1 500 000 đ`` group thousands); ``50k`` → ``năm
                             mươi nghìn``; ``5tr`` → ``năm triệu``; ``1,5 triệu`` and ``1.5 triệu`` →
                             ``một phẩy năm triệu``; ``1tr5`` → ``một triệu năm`` (one glued digit)
   ``0912 345 678``          digit by digit (groups of a number starting with 0, ≥ 9 digits; also the
                             hotlines ``1900 1234``, ``1800.5858``, 8 digits or more)
   ``+84 912 345 678``       ``cộng tám tư chín một hai…`` (country code as said, then digit by digit;
                             ``+84`` alone → ``cộng tám tư``)
   ``1,5``                   ``một phẩy năm`` (Vietnamese decimal comma; the fraction is read as a
                             number after its leading zeros: ``0,05`` → ``không phẩy không năm``);
                             a ``.`` is a decimal point before one digit (``10.5``) or in ``0.25``, and
                             before 1-2 digits next to a unit (``0.5%``); ``12.30`` (a time?) is left
   ``500.000``               ``năm trăm nghìn`` (``.`` groups thousands)
   ``0912345678``, ``123456789``  digit by digit: ``min_digit_string`` (7) digits or more, or a leading 0
   ``mã OTP là 123456``      digit by digit: 3+ digits within 3 words after a ``digits_after`` word,
                             or glued after letters (``ABC12345``, ``DH123456``)
   ``42``                    ``bốn mươi hai``; after ``thứ``, 1 and 4 are ``nhất`` and ``tư`` (``lần thứ
                             1`` → ``lần thứ nhất``, ``thứ 4`` → ``thứ tư``), ``tháng 4`` → ``tháng tư``
   ========================  ==================================================================

4. lower case, punctuation removed (as :func:`chunkformer.text.normalize_text`), quotes around words dropped;
5. words that are not Vietnamese syllables: the ``spell_out`` table (``OTP`` → ``ô tê pê``), else a word
   the model vocabulary has as a whole word (e.g. ``alo``), else :class:`NormalizeError` naming the word
   (``unknown_latin: reject``) or kept as written (``keep``);
6. tone marks: with a vocabulary, the spelling it has (:func:`chunkformer.text.tones.to_vocab_spelling`),
   without one, every syllable in ``tone_style``.

Every step that changes something adds a :class:`Change` (kind, before, after) to the result.

>>> TextNormalizer()("Tôi muốn chuyển 500.000 đồng lúc 9h30, mã OTP là 123456 [noise]").text
'tôi muốn chuyển năm trăm nghìn đồng lúc chín giờ ba mươi mã ô tê pê là một hai ba bốn năm sáu'
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any, NamedTuple

from chunkformer.text.numbers import DIGITS, THOUSAND_WORDS, ZERO_TENS_WORDS, digits_to_words, number_to_words
from chunkformer.text.tones import TONE_STYLES, split_tone, syllable_tones, to_vocab_spelling

# A "*" matches anything inside the brackets; exact tags are looked up first (case-insensitive).
DEFAULT_TAGS: dict[str, str] = {"[*]": "", "<*>": "", "(laugh)": "", "(laughter)": "", "(cough)": "",
                                "(noise)": "", "(breath)": "", "(music)": "", "(silence)": "", "(sil)": "",
                                "(cười)": "", "(ho)": "", "(ồn)": ""}
# Letter names as Vietnamese speakers say them in calls; keys are case-insensitive whole words.
DEFAULT_SPELL_OUT: dict[str, str] = {"otp": "ô tê pê", "app": "áp", "email": "i meo", "ok": "ô kê",
                                     "okay": "ô kê", "sms": "ét em ét", "atm": "a tê em", "wifi": "oai phai",
                                     "online": "on lai", "facebook": "phây búc", "zalo": "da lô", "visa": "vi sa"}
# the normaliser's rules: bump when a change makes some text normalise differently, so that stage 0 redoes
# the splits it normalised with the old rules (2: the minus sign, weekday ranges, full-width forms)
RULES_VERSION = 2
# A digit string shortly after one of these words is a code, read digit by digit ("mã OTP là 123456").
DEFAULT_DIGITS_AFTER = ("mã", "otp", "pin", "code", "stk", "sđt", "số tài khoản", "số điện thoại", "số thẻ")
UNKNOWN_LATIN = ("reject", "keep")


UNKNOWN_WORD, UNKNOWN_NOTE = "unknown Latin word", "unknown transcriber's note"


class NormalizeError(ValueError):
    """A transcript that cannot be normalised; ``word`` is the offending word or note as written, ``kind``
    :data:`UNKNOWN_WORD` or :data:`UNKNOWN_NOTE` (a bracketed note without digits that ``text.tags`` does not
    know: "(tiếng ồn)" said as words would be a wrong target) and ``advice`` the data.yaml entry that resolves it."""

    def __init__(self, word: str, text: str, kind: str = UNKNOWN_WORD) -> None:
        self.word, self.text, self.kind = word, text, kind
        if kind == UNKNOWN_NOTE:
            what = "not in text.tags"
            self.advice = (f"add it to text.tags in data.yaml ('{word}': '' drops it, '(*)': '' drops every (...) "
                           f"note, '{word}': '{word[1:-1]}' keeps its words)")
        else:
            what = "not a Vietnamese syllable, not in text.spell_out nor the vocabulary"
            self.advice = "add it to text.spell_out in data.yaml"
        super().__init__(f"{kind} {word!r}: {what} (in {text[:120]!r})")


class Change(NamedTuple):
    """One edit of a transcript: ``kind`` (tag, date, time, percent, amount, digits, decimal, number,
    case/punctuation, spell_out, tone), the text before and after."""

    kind: str
    before: str
    after: str


class Normalized(NamedTuple):
    text: str
    changes: list[Change]


@dataclass
class TextNormConfig:
    """``text:`` of data.yaml. ``tags``/``spell_out`` given there are merged over the defaults (a ``null``
    value removes a default entry); a tag key is ``[x]``, ``<x>`` or ``(x)`` where ``*`` matches anything."""

    numbers: bool = True
    thousand_word: str = "nghìn"
    zero_tens: str = "linh"
    tags: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TAGS))
    spell_out: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SPELL_OUT))
    unknown_latin: str = "reject"
    tone_style: str = "old"
    digits_after: tuple[str, ...] = DEFAULT_DIGITS_AFTER
    min_digit_string: int = 7

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raises ValueError naming the bad key."""
        choices = {"thousand_word": THOUSAND_WORDS, "zero_tens": ZERO_TENS_WORDS, "unknown_latin": UNKNOWN_LATIN,
                   "tone_style": TONE_STYLES}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"text.{key} must be one of {list(allowed)}, not {getattr(self, key)!r}")
        if not isinstance(self.numbers, bool):
            raise ValueError(f"text.numbers must be true or false, not {self.numbers!r}")
        if isinstance(self.min_digit_string, bool) or not isinstance(self.min_digit_string, int) \
                or self.min_digit_string < 2:
            raise ValueError(f"text.min_digit_string must be an integer >= 2, not {self.min_digit_string!r}")
        for key in ("tags", "spell_out"):
            table = getattr(self, key)
            if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                      for k, v in table.items()):
                raise ValueError(f"text.{key} must map strings to strings")
        bad = [k for k in self.tags if not _TAG.fullmatch(k)]
        if bad:
            raise ValueError(f"text.tags: {bad} are not tags like [noise], <unk> or (laugh) ('*' = anything)")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> TextNormConfig:
        """The ``text:`` mapping of data.yaml (None = defaults); ValueError names an unknown or bad key.

        >>> TextNormConfig.from_mapping({"spell_out": {"OTP": None, "kyc": "ca y xê"}}).spell_out["kyc"]
        'ca y xê'
        """
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ValueError("text: expected a mapping")
        names = [f.name for f in fields(cls)]
        unknown = set(raw) - set(names)
        if unknown:
            raise ValueError(f"text: unknown key(s) {sorted(unknown)}; allowed: {names}")
        kw = dict(raw)
        for key, defaults in (("tags", DEFAULT_TAGS), ("spell_out", DEFAULT_SPELL_OUT)):
            if key in kw:
                kw[key] = _merged(defaults, kw[key], key)
        if "digits_after" in kw:
            if not isinstance(kw["digits_after"], list | tuple):
                raise ValueError("text.digits_after must be a list of words")
            kw["digits_after"] = tuple(str(w) for w in kw["digits_after"])
        return cls(**kw)


def _merged(defaults: dict[str, str], given: Any, key: str) -> dict[str, str]:
    if not isinstance(given, Mapping):
        raise ValueError(f"text.{key} must be a mapping")
    out = {k.lower(): v for k, v in defaults.items()}
    for k, v in given.items():
        if v is None:
            out.pop(str(k).lower(), None)
        else:
            out[str(k).lower()] = str(v)
    return out


_TAG = re.compile(r"\[[^\[\]]*\]|<[^<>]*>|\([^()]*\)")
# Icelandic eth (Ð ð), typed or converted from legacy encodings, looks exactly like the Vietnamese Đ đ: it made
# "Ðà Nẵng" an unknown Latin word whose error showed a word that looks right
_LOOKALIKE = str.maketrans({"\u00d0": "Đ", "\u00f0": "đ",
                            # full-width forms (CJK input methods, some PDFs): "２０２４", "ＯＴＰ" are ASCII
                            **{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}, "\u3000": " "})

# ---------------------------------------------------------------------------------------------- numbers
_INT = r"(?:[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+)"       # 500.000 or 500000
# 1,5 and, as typed in English style, 2.5 (a "." before 1-2 digits cannot group thousands: 2.5 triệu, 0.5%)
_DEC = rf"{_INT}(?:,[0-9]+|\.[0-9]{{1,2}}(?![0-9]))?"
# an amount of money has no fraction: 99,000đ and 1 500 000 đ group thousands with "," or a space
_MONEY_GROUPS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,3}(?: [0-9]{3})+")
_MONEY = rf"(?:(?:{_MONEY_GROUPS.pattern})(?![0-9])|{_DEC})"
_DATE = re.compile(r"(?<![\w/.,-])([0-9]{1,2})([/.-])([0-9]{1,2})\2([0-9]{4})(?![\w/-]|[.,][0-9])")
# d/m and d-m without a year; a "-" is a date only where it cannot be a range (see _date)
_DAY_MONTH = re.compile(r"(?<![\w/.,-])([0-9]{1,2})([/-])([0-9]{1,2})(?![\w/-]|[.,][0-9])")
# a slash in a house number (ngõ 34/2, 123/45) and in 24/7 is said "trên" (see _slash); 50/50 is left
_SLASH = re.compile(r"(?<![\w/.,-])([0-9]+)/([0-9]+)(?![\w/]|[.,][0-9])")
# 5-10%, 7-10 ngày, 8h-17h, 1.200.000 - 1.500.000 đồng: the dash is said "đến"; the right number is only looked
# at (the rules after this one read it, with its unit)
_RANGE = re.compile(rf"(?<![\w.,/-])([0-9]{{1,2}}[hH:][0-9]{{2}}|{_DEC})(\s?(?:%|[hH]|[kK]|tr|triệu|nghìn|ngàn|tỷ|tỉ"
                    rf"|đồng|đ))?\s?[-–—−]\s?(?=(?:thứ\s?)?({_DEC})(?![0-9]|[.,/-][0-9]))", re.IGNORECASE)
# a minus sign glued to a number at the start of a word: -5%, -3 độ, −2,5 are said "âm ..."; a dash after a
# number is a range (5-10%, above) and one followed by a space a list item or a pause ("- 5 sản phẩm")
_NEGATIVE = re.compile(r"(?<![^\s(])[-−–](?=[0-9])")
# "/" = per after a number or an amount: 15 triệu/tháng, 1.000đ/phút, 1,5%/năm are said "… một tháng"
_PER = re.compile(r"\s?/\s?(?=(?:tháng|năm|ngày|tuần|giờ|phút|giây|lần|người|kỳ|quý)(?!\w))", re.IGNORECASE)
_PER_AFTER = re.compile(r"(?:[0-9%]|(?<![^\W\d_])(?:đ|đồng|vnđ|vnd|k|tr|triệu|nghìn|ngàn|tỷ|tỉ|lần))$", re.IGNORECASE)
_DAY_WORDS = ("ngày", "mùng", "mồng")
# ordinals and months that are not the cardinal: thứ 1 = "thứ nhất", thứ 4 = "thứ tư" (Wednesday, the 4th),
# tháng 4 = "tháng tư"; nobody says "thứ bốn" or "tháng bốn" ("thứ 14" is the plain "thứ mười bốn")
_SAID_AFTER = {("thứ", "1"): "nhất", ("thứ", "4"): "tư", ("tháng", "4"): "tư"}
# the words before a house number: "nhà số 12/5" is an address, not the 12th of May
_ADDRESS_WORDS = ("số", "nhà", "ngõ", "ngách", "hẻm", "kiệt", "phòng")
# 9h, 9h30 and 7g30 ("g" = giờ; only with minutes: 4G is the mobile network)
_TIME_H = re.compile(r"(?<![\w:.,])([0-9]{1,2})(?:[hH]|[gG](?=[0-9]{2}))([0-9]{2})?(?!\w)")
_TIME_COLON = re.compile(r"(?<![\w:.,])([0-9]{1,2}):([0-9]{2})(?![\w:]|[.,][0-9])")
_PERCENT = re.compile(rf"(?<![\w.,])({_DEC})\s?%")
_CURRENCY = re.compile(rf"(?<![\w.,])({_MONEY})\s?(vnđ|vnd|đồng|đ)(?!\w)", re.IGNORECASE)
# 1tr5 / 3tr2: one digit glued after the unit is said after it ("một triệu năm", i.e. 1.5 million)
_SCALED = re.compile(rf"(?<![\w.,])({_DEC})\s?(k|tr|nghìn|ngàn|triệu|tỷ|tỉ)([0-9](?![0-9]))?(?!\w)", re.IGNORECASE)
# a phone number starts with 0, or is a 1800 (free) / 1900 (paid) hotline: 1900 1234, 1800.5858
_PHONE = re.compile(r"(?<![\w.,])(?:0[0-9]{2,4}|1[89]00)(?:[ .-][0-9]{2,4}){1,3}(?![\w]|[.,][0-9])")
# +84 (Viet Nam's country code, said "cộng tám tư") and the number without its leading 0: 9 or 10 digits
_INTL = re.compile(r"(?<![\w+])\(?\+84\)?(?:[ .-]?([0-9]{2,4}(?:[ .-]?[0-9]{2,4}){1,4}))?(?![\w]|[.,][0-9])")
# without a unit a "." decimal is taken only where no clock reading fits: one digit (10.5) or 0.xx (0.25);
# 12.30 stays two numbers (a time "12 giờ 30" or a decimal: the transcript does not say)
_DECIMAL = re.compile(rf"(?<![\w.,])(?:{_INT},[0-9]+(?![0-9,])|(?:[0-9]+\.[0-9]|0\.[0-9]{{2}})(?![0-9]|[.,][0-9]))")
_GROUPED = re.compile(r"(?<![0-9.,])[0-9]{1,3}(?:\.[0-9]{3})+(?![0-9]|[.,][0-9])")
_DIGITS = re.compile(r"[0-9]+")
_DOT_DEC = re.compile(r"[0-9]+\.[0-9]{1,2}")
_INT_ONLY = re.compile(_INT)
_WORDS = re.compile(r"\w+")


@dataclass
class _Speller:
    """Number words with the configured ``thousand_word`` / ``zero_tens``."""

    cfg: TextNormConfig

    def int(self, s: str) -> str:
        """'500.000' or '0912' → words (a leading zero means a code: digit by digit)."""
        s = s.replace(".", "")
        if len(s) > 1 and s.startswith("0"):
            return digits_to_words(s)
        return number_to_words(int(s), self.cfg.thousand_word, self.cfg.zero_tens)

    def money(self, s: str) -> str:
        """An amount before đồng: '99,000' and '1 500 000' group thousands; else as :meth:`dec`."""
        if _MONEY_GROUPS.fullmatch(s):
            return self.int(re.sub("[, ]", "", s))
        return self.dec(s)

    def dec(self, s: str) -> str:
        """'1,5' (or '1.5') → 'một phẩy năm'; the fraction's leading zeros are read, then the rest as a number."""
        whole, _, frac = s.partition(",") if "," in s or not _DOT_DEC.fullmatch(s) else s.partition(".")
        words = self.int(whole) if not whole.startswith("0") else self.int(whole.lstrip("0") or "0")
        if not frac:
            return words
        rest = frac.lstrip("0")
        zeros = ["không"] * (len(frac) - len(rest))
        tail = [number_to_words(int(rest), self.cfg.thousand_word, self.cfg.zero_tens)] if rest else []
        return " ".join([words, "phẩy", *zeros, *tail])


def _number_rules(sp: _Speller, cfg: TextNormConfig) -> list[tuple[str, re.Pattern, Callable]]:
    """(kind, pattern, match → words, (kind, words) or None to leave it) in the order they apply."""
    def clock(m: re.Match) -> str | None:
        h, mins = int(m.group(1)), m.group(2)
        if h > 24 or (mins is not None and int(mins) > 59):
            return None
        said = f"{sp.int(str(h))} giờ"
        if mins and int(mins):
            said += " " + (f"không {sp.int(mins[1])}" if mins[0] == "0" else sp.int(mins))
        return said

    def scaled(m: re.Match) -> str:
        unit = m.group(2).lower()
        unit = {"k": cfg.thousand_word, "tr": "triệu", "tỉ": "tỷ", "nghìn": cfg.thousand_word,
                "ngàn": cfg.thousand_word}.get(unit, unit)
        tail = f" {DIGITS[int(m.group(3))]}" if m.group(3) else ""
        return f"{sp.dec(m.group(1))} {unit}{tail}"

    def phone(m: re.Match) -> str | None:
        digits = re.sub(r"\D", "", m.group())
        return digits_to_words(digits) if len(digits) >= (9 if digits[0] == "0" else 8) else None

    def intl(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group(1) or "")
        if 9 <= len(digits) <= 10:
            return f"cộng tám tư {digits_to_words(digits)}"
        return f"cộng tám tư {m.group(1) or ''}"  # "mã vùng +84": what follows is left to the other rules

    def plain(m: re.Match) -> tuple[str, str]:
        s = m.group()
        # 3+ digits glued after letters are a code too (ABC12345, DH123456: an order or contract id)
        glued = m.start() > 0 and m.string[m.start() - 1].isalpha()
        code = len(s) >= 3 and (glued or _after_code_word(_before(m), cfg.digits_after))
        if code or len(s) >= cfg.min_digit_string or (len(s) > 1 and s.startswith("0")):
            return "digits", digits_to_words(s)
        said = _SAID_AFTER.get((_before(m).rpartition(" ")[2], s))
        return ("number", said) if said else ("number", sp.int(s))

    date = partial(_date, sp)
    # phone numbers before ranges (0912-345-678 has dashes), ranges before the rules that read their numbers
    return [("per", _PER, lambda m: "một" if _PER_AFTER.search(m.string, 0, m.start()) else None),
            ("date", _DATE, date), ("number", _SLASH, partial(_slash, sp)), ("date", _DAY_MONTH, date),
            ("digits", _INTL, intl), ("digits", _PHONE, phone), ("range", _RANGE, partial(_range, cfg)),
            ("number", _NEGATIVE, lambda _: "âm "), ("time", _TIME_H, clock), ("time", _TIME_COLON, clock),
            ("percent", _PERCENT, lambda m: f"{sp.dec(m.group(1))} phần trăm"),
            ("amount", _CURRENCY, lambda m: f"{sp.money(m.group(1))} đồng"), ("amount", _SCALED, scaled),
            ("decimal", _DECIMAL, lambda m: sp.dec(m.group())),
            ("number", _GROUPED, lambda m: sp.int(m.group())), ("number", _DIGITS, plain)]


def _date(sp: _Speller, m: re.Match) -> str | None:
    """d/m/yyyy (also - and .) and d/m; d-m only where a range cannot be meant (after ngày/mùng, or d > m:
    15-12). _SLASH has taken the d/m that are house numbers or 24/7."""
    d, mo, before = int(m.group(1)), int(m.group(3)), _before(m)
    if not (1 <= d <= 31 and 1 <= mo <= 12):
        return None
    day_word = before.endswith(_DAY_WORDS)
    if m.re is _DAY_MONTH and not day_word and m.group(2) == "-" and d <= mo:
        return None
    year = f" năm {sp.int(m.group(4))}" if m.re is _DATE else ""
    return f"{'' if day_word else 'ngày '}{sp.int(str(d))} tháng {'tư' if mo == 4 else sp.int(str(mo))}{year}"


def _range(cfg: TextNormConfig, m: re.Match) -> str | None:
    """'a đến' for the range a-b of _RANGE (b is read by the rules after); two consecutive digits are said side
    by side ("hai ba ngày", "ba bốn giờ") except after "từ"; plain a-b with a >= b (a score, 1-0) is no range."""
    before = _before(m)
    if _after_code_word(before, cfg.digits_after):
        return None  # mã 123-456: a code, read digit by digit
    left, a, b = m.group(1) + (m.group(2) or ""), m.group(1), m.group(3)
    if before.rpartition(" ")[2].lower() == "thứ":  # thứ 2-4: Monday to Wednesday, "thứ hai đến thứ tư"
        return f"{left} đến" if m.string[m.end():m.end() + 3].lower() == "thứ" else f"{left} đến thứ"
    plain = _INT_ONLY.fullmatch(a) is not None and not m.group(2)
    if plain and _INT_ONLY.fullmatch(b) and int(a.replace(".", "")) >= int(b.replace(".", "")):
        return left
    if plain and a.isdigit() and b.isdigit() and int(a) < 9 and int(b) == int(a) + 1 and not before.endswith("từ"):
        return left
    return f"{left} đến"


def _slash(sp: _Speller, m: re.Match) -> str | None:
    """'a trên b' for a house number (after số/ngõ/…, or 100/… and above) and for 24/7 (round the clock), not
    after ngày/mùng; anything else is left: a date (15/12, the likelier reading of 1/2 in a call) or 50/50."""
    a, b, before = m.group(1), m.group(2), _before(m)
    if before.endswith(_DAY_WORDS):
        return None
    if before.endswith(_ADDRESS_WORDS) or (a, b) == ("24", "7") or int(a) >= 100:
        return f"{sp.int(a)} trên {sp.int(b)}"
    return None


def _before(m: re.Match) -> str:
    """The lower-cased words before a match, joined by single spaces."""
    return " ".join(_WORDS.findall(m.string[: m.start()].lower()))


def _after_code_word(before: str, words: tuple[str, ...], window: int = 3) -> bool:
    """True when one of ``words`` (possibly several words long) ends within ``window`` words before."""
    tail = before.split()
    for k in range(window + 1):
        head = " ".join(tail[: len(tail) - k]) if k else " ".join(tail)
        if head and any(head == w or head.endswith(" " + w) for w in words):
            return True
    return False


# ---------------------------------------------------------------------------------------------- words
_SYLLABLE = re.compile(r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|th|tr|qu|[bcdđghklmnprstvx])?[aăâeêioôơuưy]{1,3}"
                       r"(?:ch|ng|nh|[cmnpt])?")
_PUNCT = re.compile(r"[^\w\s']|_")


def is_vietnamese_syllable(word: str) -> bool:
    """True for a word shaped like one Vietnamese syllable (onset, 1-3 vowels, final; at most one tone).

    It checks the shape, not the dictionary: ``sim`` passes, ``app``, ``email``, ``otp``, ``zalo`` do not.

    >>> [is_vietnamese_syllable(w) for w in ("nghiêng", "khuya", "người", "app", "otp", "ừm")]
    [True, True, True, False, False, True]
    """
    nfd = unicodedata.normalize("NFD", word.lower())
    if sum(c in "\u0300\u0301\u0303\u0309\u0323" for c in nfd) > 1:
        return False
    return bool(_SYLLABLE.fullmatch(split_tone(word.lower())[0]))


def _is_latin(word: str) -> bool:
    return any(unicodedata.name(c, "").startswith("LATIN") for c in word)


class TextNormalizer:
    """Normalises transcripts with one config; ``vocab`` (words without ``▁``) enables step 5's vocabulary
    words and step 6's vocabulary spelling.

    >>> TextNormalizer(TextNormConfig(thousand_word="ngàn", tone_style="new"))("Hóa đơn 2.500.000đ").text
    'hoá đơn hai triệu năm trăm ngàn đồng'
    """

    def __init__(self, config: TextNormConfig | None = None, vocab: Container[str] | None = None) -> None:
        self.cfg = config or TextNormConfig()
        self.vocab = vocab
        self.spell = {k.lower(): v for k, v in self.cfg.spell_out.items()}
        self.exact_tags = {_tag_key(k): v for k, v in self.cfg.tags.items() if "*" not in k}
        self.wild_tags = [(re.compile(".*".join(map(re.escape, _tag_key(k).split("*")))), v)
                          for k, v in self.cfg.tags.items() if "*" in k]
        self.rules = _number_rules(_Speller(self.cfg), self.cfg)

    def __call__(self, text: str) -> Normalized:
        """Raises :class:`NormalizeError` on an unknown Latin word or transcriber's note when ``unknown_latin`` is
        ``reject``."""
        changes: list[Change] = []
        t = self._tags(unicodedata.normalize("NFC", text).translate(_LOOKALIKE), text, changes)
        if self.cfg.numbers:
            for kind, pattern, fn in self.rules:
                t = _apply(pattern, fn, kind, t, changes)
        t = self._case_punct(t, changes)
        words: list[str] = []
        for w in t.split():
            words += self._word(w, text, changes)
        return Normalized(" ".join(words), changes)

    def _tags(self, t: str, text: str, changes: list[Change]) -> str:
        def repl(m: re.Match) -> str:
            tag = _tag_key(m.group())
            new = self.exact_tags.get(tag)
            if new is None:
                new = next((v for p, v in self.wild_tags if p.fullmatch(tag)), None)
            if new is None:
                if self.cfg.unknown_latin == "reject" and not any(c.isdigit() for c in tag):  # (028): a number
                    raise NormalizeError(m.group(), text, UNKNOWN_NOTE)
                return m.group()
            changes.append(Change("tag", m.group(), new))
            return f" {new} "
        return _TAG.sub(repl, t)

    @staticmethod
    def _case_punct(t: str, changes: list[Change]) -> str:
        out = " ".join(w.strip("'") for w in _PUNCT.sub(" ", t.lower()).split())
        out = " ".join(out.split())
        if out != " ".join(t.split()):
            changes.append(Change("case/punctuation", " ".join(t.split()), out))
        return out

    def _word(self, w: str, text: str, changes: list[Change]) -> list[str]:
        """One lower-case word → its final syllables (spell-out, Latin check, tone spelling)."""
        if w in self.spell:
            changes.append(Change("spell_out", w, self.spell[w]))
            return [self._tone(s, changes) for s in self.spell[w].split()]
        if is_vietnamese_syllable(w):
            return [self._tone(w, changes)]
        if (self.vocab is not None and w in self.vocab) or not _is_latin(w) or self.cfg.unknown_latin == "keep":
            return [w]
        raise NormalizeError(_as_written(w, text), text)

    def _tone(self, w: str, changes: list[Change]) -> str:
        if self.vocab is not None:
            new = to_vocab_spelling(w, self.vocab, self.cfg.tone_style)
        else:
            new = syllable_tones(w, self.cfg.tone_style)
        if new != w:
            changes.append(Change("tone", w, new))
        return new


def _tag_key(tag: str) -> str:
    """Lower case, spaces inside the brackets collapsed: "( Cười )" is the tag "(cười)", not the word "cười"."""
    return (tag[0] + " ".join(tag[1:-1].split()) + tag[-1]).lower()


def _apply(pattern: re.Pattern, fn: Callable, kind: str, t: str, changes: list[Change]) -> str:
    def repl(m: re.Match) -> str:
        new = fn(m)
        if new is None:
            return m.group()
        # a rule may decide the kind itself (a plain digit string is a number or a code)
        what, new = new if isinstance(new, tuple) else (kind, new)
        changes.append(Change(what, m.group(), new))
        return f" {new} "
    return pattern.sub(repl, t)


def _as_written(word: str, text: str) -> str:
    """``word`` with its original case when the transcript has it (the error names what the user wrote)."""
    m = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", unicodedata.normalize("NFC", text), re.IGNORECASE)
    return m.group() if m else word


_SCORING = TextNormalizer(TextNormConfig(unknown_latin="keep"))


def scoring_text(text: str) -> str:
    """What WER/CER compare: the default normalisation (tags, numbers, spell-out, case, punctuation) with
    unknown Latin words kept, every syllable in the old tone style. Applied to references and hypotheses alike.

    >>> scoring_text("Hoà bình 15%") == scoring_text("hòa bình mười lăm phần trăm")
    True
    """
    return _SCORING(text).text


@dataclass
class NormalizationReport:
    """What normalisation changed in one split: counts per kind and up to ``max_examples`` examples each, and
    the unknown Latin words that rejected items (candidates for ``text.spell_out``).

    >>> rep = NormalizationReport()
    >>> rep.add("u1", "15%", TextNormalizer()("15%"))
    >>> rep.as_dict()["changes"]
    {'percent': 1}
    """

    max_examples: int = 5
    items: int = 0
    items_changed: int = 0
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    unknown_words: Counter = field(default_factory=Counter)
    unknown_notes: Counter = field(default_factory=Counter)

    def reject(self, error: NormalizeError) -> None:
        """Counts an item rejected by normalisation."""
        self.items += 1
        (self.unknown_notes if error.kind == UNKNOWN_NOTE else self.unknown_words)[error.word] += 1

    def add(self, item_id: str, before: str, result: Normalized) -> None:
        """Counts a normalised item and keeps the first examples of each kind of change."""
        self.items += 1
        if result.changes:
            self.items_changed += 1
        for c in result.changes:
            self.counts[c.kind] += 1
            shown = self.examples.setdefault(c.kind, [])
            if len(shown) < self.max_examples and all(e["before"] != c.before for e in shown):
                shown.append({"id": item_id, "before": c.before, "after": c.after, "transcript": before})

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "items_changed": self.items_changed,
                "rejected_unknown_latin": sum(self.unknown_words.values()),
                "changes": dict(self.counts.most_common()), "examples": self.examples,
                "unknown_latin_words": dict(self.unknown_words.most_common()),
                "rejected_unknown_notes": sum(self.unknown_notes.values()),
                "unknown_notes": dict(self.unknown_notes.most_common())}
