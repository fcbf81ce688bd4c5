"""Call-centre transcripts as human transcribers type them: each case here was silently misread before
(a wrong number, a dropped or invented word) and is pinned to the reading a Vietnamese speaker says."""

from __future__ import annotations

import pytest

from chunkformer.text import NormalizeError, TextNormalizer, digits_to_words


@pytest.mark.parametrize("text,norm", [
    # "." before 1-2 digits is an English-style decimal point, not a thousands group
    ("tổng 2.5 triệu", "tổng hai phẩy năm triệu"),
    ("lãi 0.5%", "lãi không phẩy năm phần trăm"),
    ("giá 1.5tr", "giá một phẩy năm triệu"),
    ("tăng 10.5 điểm", "tăng mười phẩy năm điểm"),
    ("còn 0.25 thôi", "còn không phẩy hai mươi lăm thôi"),
    # an amount of money has no fraction: "," or a space groups its thousands
    ("giá 99,000đ", "giá chín mươi chín nghìn đồng"),
    ("nạp 1,000,000đ", "nạp một triệu đồng"),
    ("số dư 1 500 000 đ", "số dư một triệu năm trăm nghìn đồng"),
    ("còn 10 000 đồng", "còn mười nghìn đồng"),
])
def test_decimal_point_and_money_grouping(text: str, norm: str) -> None:
    assert TextNormalizer()(text).text == norm


@pytest.mark.parametrize("text,norm", [
    ("giữ nguyên 2,5 triệu", "giữ nguyên hai phẩy năm triệu"),
    ("phí 2.500.000 đồng", "phí hai triệu năm trăm nghìn đồng"),
    ("vay 1.500 triệu", "vay một nghìn năm trăm triệu"),
    ("lúc 12.30", "lúc mười hai ba mươi"),  # a time or a decimal: not guessed, read as written
    ("xe 29A-123.45", "xe hai mươi chín a một trăm hai mươi ba bốn mươi lăm"),
])
def test_unchanged_readings_next_to_the_decimal_point(text: str, norm: str) -> None:
    assert TextNormalizer()(text).text == norm


@pytest.mark.parametrize("text,norm", [
    ("số tiền là 1tr5 anh nhé", "số tiền là một triệu năm anh nhé"),
    ("mỗi tháng 3tr2 ạ", "mỗi tháng ba triệu hai ạ"),
    ("khoảng 7g30 em qua", "khoảng bảy giờ ba mươi em qua"),
    ("vay 100tr", "vay một trăm triệu"),
])
def test_glued_amount_tail_and_g_for_gio(text: str, norm: str) -> None:
    assert TextNormalizer()(text).text == norm


def test_4g_is_not_a_time() -> None:
    with pytest.raises(NormalizeError) as e:
        TextNormalizer()("sóng 4G yếu quá")
    assert e.value.word == "g"


MOBILE = digits_to_words("912345678")


@pytest.mark.parametrize("text,norm", [
    # +84 was read as numbers ("tám mươi tư chín trăm mười hai…")
    ("số của em +84 912 345 678", f"số của em cộng tám tư {MOBILE}"),
    ("(+84) 912345678", f"cộng tám tư {MOBILE}"),
    ("+84912345678", f"cộng tám tư {MOBILE}"),
    # 1900 / 1800 hotlines were read as numbers ("một nghìn chín trăm một nghìn hai trăm…")
    ("gọi tổng đài 1900 1234 nhé", "gọi tổng đài một chín không không một hai ba bốn nhé"),
    ("miễn phí 1800 5858", "miễn phí một tám không không năm tám năm tám"),
    ("gọi 1900.1234 hoặc 1900-1234", "gọi " + digits_to_words("19001234") + " hoặc " + digits_to_words("19001234")),
    ("gọi 1900 545 415", "gọi " + digits_to_words("1900545415")),
    ("năm 1900 có 1800 người", "năm một nghìn chín trăm có một nghìn tám trăm người"),
])
def test_country_code_and_hotlines(text: str, norm: str) -> None:
    assert TextNormalizer()(text).text == norm
