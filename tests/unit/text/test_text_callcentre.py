"""Call-centre transcripts as human transcribers type them: each case here was silently misread before
(a wrong number, a dropped or invented word) and is pinned to the reading a Vietnamese speaker says."""

from __future__ import annotations

import pytest

from chunkformer.text import NormalizeError, TextNormalizer


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
