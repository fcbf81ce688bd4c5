"""Vietnamese spoken numbers, by rule (not a table), standard library only.

The rules, as a Vietnamese speaker reads a number aloud:

* units after a tens word ``mươi`` (20–99): 1 → ``mốt``, 4 → ``tư``, 5 → ``lăm`` (``hai mươi mốt``,
  ``hai mươi tư``, ``hai mươi lăm``); after ``mười`` (10–19) only 5 changes (``mười lăm``, but ``mười một``,
  ``mười bốn``); alone or after ``linh`` they are plain (``một``, ``bốn``, ``năm``, ``một trăm linh năm``);
* a zero tens digit between hundreds and units is ``linh`` (or ``lẻ``, the southern word; ``zero_tens``);
* inside a larger number a group below 100 still says its hundreds: ``một nghìn không trăm linh năm``;
* groups of three digits are named ``nghìn`` (or ``ngàn``; ``thousand_word``), ``triệu``, ``tỷ``; above a
  ``tỷ`` the count of ``tỷ`` is itself a number, so 10^12 is ``một nghìn tỷ`` and 10^18 ``một tỷ tỷ``.

>>> number_to_words(2_021_105)
'hai triệu không trăm hai mươi mốt nghìn một trăm linh năm'
>>> number_to_words(15, thousand_word="ngàn", zero_tens="lẻ")
'mười lăm'
>>> digits_to_words("0912")
'không chín một hai'
"""

from __future__ import annotations

DIGITS = "không một hai ba bốn năm sáu bảy tám chín".split()
THOUSAND_WORDS = ("nghìn", "ngàn")
ZERO_TENS_WORDS = ("linh", "lẻ")
_BILLION = 10**9


def _check_words(thousand_word: str, zero_tens: str) -> None:
    if thousand_word not in THOUSAND_WORDS:
        raise ValueError(f"thousand_word must be one of {THOUSAND_WORDS}, not {thousand_word!r}")
    if zero_tens not in ZERO_TENS_WORDS:
        raise ValueError(f"zero_tens must be one of {ZERO_TENS_WORDS}, not {zero_tens!r}")


def _units_after_tens(t: int, u: int) -> str:
    """The units word after ``mười`` (t == 1) or ``<digit> mươi`` (t >= 2)."""
    if u == 5:
        return "lăm"
    if t >= 2 and u in (1, 4):
        return "mốt" if u == 1 else "tư"
    return DIGITS[u]


def _below_thousand(n: int, full: bool, zero_tens: str = "linh") -> list[str]:
    """0 < n < 1000; ``full`` spells leading zero hundreds (inside a larger number).

    >>> _below_thousand(5, full=True)
    ['không', 'trăm', 'linh', 'năm']
    """
    h, t, u = n // 100, n // 10 % 10, n % 10
    w: list[str] = []
    if h or full:
        w += [DIGITS[h], "trăm"]
    if t == 0:
        if u and (h or full):
            w += [zero_tens, DIGITS[u]]
        elif u:
            w.append(DIGITS[u])
    else:
        w += ["mười"] if t == 1 else [DIGITS[t], "mươi"]
        if u:
            w.append(_units_after_tens(t, u))
    return w


def _below_billion(n: int, full: bool, thousand_word: str, zero_tens: str) -> list[str]:
    """0 < n < 10^9 as groups of three digits; zero groups are silent (``một triệu không trăm linh năm``)."""
    words: list[str] = []
    for scale, name in ((10**6, "triệu"), (10**3, thousand_word), (1, "")):
        group = n // scale % 1000
        if group:
            words += _below_thousand(group, full=full or bool(words), zero_tens=zero_tens)
            words += [name] if name else []
    return words


def _words(n: int, full: bool, thousand_word: str, zero_tens: str) -> list[str]:
    """0 < n: the count of ``tỷ`` recurses, so any size has a reading (10^12 = ``một nghìn tỷ``)."""
    high, low = divmod(n, _BILLION)
    words = _words(high, full, thousand_word, zero_tens) + ["tỷ"] if high else []
    if low:
        words += _below_billion(low, full or bool(high), thousand_word, zero_tens)
    return words


def number_to_words(n: int, thousand_word: str = "nghìn", zero_tens: str = "linh") -> str:
    """Vietnamese cardinal number in words, any ``n >= 0``.

    >>> number_to_words(105)
    'một trăm linh năm'
    >>> number_to_words(1_000_000_000_024, thousand_word="ngàn")
    'một ngàn tỷ không trăm hai mươi tư'
    """
    _check_words(thousand_word, zero_tens)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"number_to_words needs an int >= 0, not {n!r}")
    if n == 0:
        return DIGITS[0]
    return " ".join(_words(n, False, thousand_word, zero_tens))


def digits_to_words(s: str) -> str:
    """Digit by digit, as phone, account and OTP numbers are read.

    >>> digits_to_words("0912345678")
    'không chín một hai ba bốn năm sáu bảy tám'
    """
    if not s.isascii() or not s.isdigit():
        raise ValueError(f"digits_to_words needs ASCII digits only, not {s!r}")
    return " ".join(DIGITS[int(c)] for c in s)
