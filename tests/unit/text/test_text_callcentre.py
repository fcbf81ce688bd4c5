"""Call-centre transcripts as human transcribers type them: each case here was silently misread before
(a wrong number, a dropped or invented word) and is pinned to the reading a Vietnamese speaker says."""

from __future__ import annotations

import pytest

from chunkformer.text import NormalizeError, TextNormalizer, TextNormConfig, digits_to_words
from chunkformer.text.normalize import UNKNOWN_NOTE


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
    ("mã vùng +84", "mã vùng cộng tám tư"),  # the "+" was dropped: "tám mươi tư"
])
def test_country_code_and_hotlines(text: str, norm: str) -> None:
    assert TextNormalizer()(text).text == norm


@pytest.mark.parametrize("text,norm", [
    # the dash between numbers was dropped: "năm mười phần trăm" sounds like 50 %
    ("giảm 5-10% cho khách hàng", "giảm năm đến mười phần trăm cho khách hàng"),
    ("từ 7-10 ngày làm việc", "từ bảy đến mười ngày làm việc"),
    ("từ 8h-17h", "từ tám giờ đến mười bảy giờ"),
    ("8h30-9h", "tám giờ ba mươi đến chín giờ"),
    ("8:30 - 17:00", "tám giờ ba mươi đến mười bảy giờ"),
    ("chi phí 1.200.000 - 1.500.000 đồng", "chi phí một triệu hai trăm nghìn đến một triệu năm trăm nghìn đồng"),
    ("20% - 30%", "hai mươi phần trăm đến ba mươi phần trăm"),
    ("2tr-3tr", "hai triệu đến ba triệu"),
    ("10-15 phút", "mười đến mười lăm phút"),
    ("từ 2-3 ngày", "từ hai đến ba ngày"),
    ("thứ 2 - thứ 6", "thứ hai đến thứ sáu"),
    ("ca 22h-6h", "ca hai mươi hai giờ đến sáu giờ"),
    ("1.000-2.000", "một nghìn đến hai nghìn"),
    # consecutive digits are said side by side (unchanged)
    ("khoảng 2-3 ngày là có", "khoảng hai ba ngày là có"),
    ("khoảng 3-4h chiều", "khoảng ba bốn giờ chiều"),
    # dashes that are not ranges (unchanged)
    ("mã 123-456", "mã một hai ba bốn năm sáu"),
    ("gọi 0912-345-678", "gọi " + digits_to_words("0912345678")),
    ("hẹn 15-12-2026", "hẹn ngày mười lăm tháng mười hai năm hai nghìn không trăm hai mươi sáu"),
    ("căn hộ A1-05", "căn hộ a một không năm"),
    ("dạ -- để em kiểm tra", "dạ để em kiểm tra"),
    ("thắng 1-0", "thắng một không"),  # a >= b: not a range
    # weekdays: the second one is a weekday too ("thứ tư", not "bốn"), also for consecutive days
    ("thứ 2-4 em rảnh", "thứ hai đến thứ tư em rảnh"),
    ("Thứ 2-3", "thứ hai đến thứ ba"),
    ("thứ 2-thứ 4", "thứ hai đến thứ tư"),
    ("Thứ 2 - Thứ 6", "thứ hai đến thứ sáu"),
    ("từ 5−10 ngày", "từ năm đến mười ngày"),  # U+2212, the minus sign
])
def test_ranges_are_said_with_den(text: str, norm: str) -> None:
    assert TextNormalizer()(text).text == norm


@pytest.mark.parametrize("text,norm", [
    # a minus glued to a number is its sign: dropping it turned -5 % into 5 %
    ("lãi suất -5% năm", "lãi suất âm năm phần trăm năm"),
    ("nhiệt độ -3 độ", "nhiệt độ âm ba độ"),
    ("(−2,5%)", "âm hai phẩy năm phần trăm"),
    ("số dư -1.500.000đ", "số dư âm một triệu năm trăm nghìn đồng"),
    # not a sign: a dash after a number (a range), or followed by a space (a list item, a pause)
    ("5 -10%", "năm đến mười phần trăm"),
    ("- 5 sản phẩm", "năm sản phẩm"),
])
def test_a_minus_before_a_number_is_said_am(text: str, norm: str) -> None:
    assert TextNormalizer()(text).text == norm


@pytest.mark.parametrize("text,norm", [
    # full-width forms (CJK input methods, some PDFs) are their ASCII letters and digits
    ("số ２０２４ nhé", "số hai nghìn không trăm hai mươi tư nhé"),
    ("mã ＯＴＰ là １２３４５６", "mã ô tê pê là một hai ba bốn năm sáu"),
    ("１０\u3000giờ", "mười giờ"),
])
def test_full_width_forms_are_ascii(text: str, norm: str) -> None:
    assert TextNormalizer()(text).text == norm


@pytest.mark.parametrize("text,norm", [
    # d-m dates: were two bare numbers
    ("hẹn ngày 5-12", "hẹn ngày năm tháng mười hai"),
    ("hẹn 15-12 nhé", "hẹn ngày mười lăm tháng mười hai nhé"),
    # a slash in a house number or 24/7: was dropped ("ba mươi tư hai") or read as a date
    ("ngõ 34/2 Hoàng Hoa Thám", "ngõ ba mươi tư trên hai hoàng hoa thám"),
    ("nhà số 12/5", "nhà số mười hai trên năm"),
    ("123/45 Nguyễn Trãi", "một trăm hai mươi ba trên bốn mươi lăm nguyễn trãi"),
    ("hỗ trợ 24/7", "hỗ trợ hai mươi tư trên bảy"),
    # dates and the rest (unchanged)
    ("ngày 24/7", "ngày hai mươi tư tháng bảy"),
    ("hạn thanh toán là 15/12", "hạn thanh toán là ngày mười lăm tháng mười hai"),
    ("trả 1/2 thôi", "trả ngày một tháng hai thôi"),
    ("chia 50/50", "chia năm mươi năm mươi"),
])
def test_dash_dates_and_house_number_slashes(text: str, norm: str) -> None:
    assert TextNormalizer()(text).text == norm


@pytest.mark.parametrize("text,norm", [
    # digits glued after letters are an id: they were read as a number ("mười hai nghìn ba trăm…")
    ("số hợp đồng ABC12345", "số hợp đồng abc một hai ba bốn năm"),
    ("đơn hàng DH123456", "đơn hàng dh một hai ba bốn năm sáu"),
    # short ones are still numbers (unchanged)
    ("iPhone15", "iphone mười lăm"),
    ("căn 12A", "căn mười hai a"),
])
def test_digits_glued_after_letters_are_a_code(text: str, norm: str) -> None:
    cfg = TextNormConfig(unknown_latin="keep")
    assert TextNormalizer(cfg)(text).text == norm


def test_spaces_inside_a_tag() -> None:
    """'( cười )' was not the tag '(cười)': its word was kept as if said."""
    assert TextNormalizer()("( cười ) dạ vâng (  Ho ) ạ").text == "dạ vâng ạ"
    cfg = TextNormConfig.from_mapping({"tags": {"(cười lớn)": "", "( Nhạc )": ""}})
    assert TextNormalizer(cfg)("(cười  lớn) dạ (nhạc)").text == "dạ"


def test_an_unknown_note_is_rejected_not_said() -> None:
    """'(tiếng ồn)' was kept as the words 'tiếng ồn', a training target nobody said."""
    with pytest.raises(NormalizeError, match=r"unknown transcriber's note '\(tiếng ồn\)'") as e:
        TextNormalizer()("(tiếng ồn) dạ em nghe")
    assert e.value.kind == UNKNOWN_NOTE and "text.tags" in e.value.advice
    keep = TextNormConfig(unknown_latin="keep")  # scoring and hotwords keep it, as before
    assert TextNormalizer(keep)("(tiếng ồn) dạ").text == "tiếng ồn dạ"
    for tags in ({"(tiếng ồn)": ""}, {"(*)": ""}):
        assert TextNormalizer(TextNormConfig.from_mapping({"tags": tags}))("(tiếng ồn) dạ").text == "dạ"
    # digits in brackets are a number (an area code), not a note
    assert TextNormalizer()("gọi (028) 3822 1234").text.startswith("gọi không hai tám")


@pytest.mark.parametrize("text,norm", [
    # were "thứ bốn", "lần thứ một", "tháng bốn": forms nobody says
    ("thứ 4 tuần sau", "thứ tư tuần sau"),
    ("THỨ 4", "thứ tư"),
    ("đây là lần thứ 1 em gọi", "đây là lần thứ nhất em gọi"),
    ("cuối tháng 4 nhé", "cuối tháng tư nhé"),
    # the plain cardinal (unchanged)
    ("thứ 2 tuần sau", "thứ hai tuần sau"),
    ("thứ 14", "thứ mười bốn"),
    ("tầng 4", "tầng bốn"),
    ("tháng 1", "tháng một"),
])
def test_ordinals_thu_nhat_thu_tu_and_thang_tu(text: str, norm: str) -> None:
    assert TextNormalizer()(text).text == norm


@pytest.mark.parametrize("text,norm", [
    # "/" = per was dropped ("mười lăm triệu tháng")
    ("lương 15 triệu/tháng", "lương mười lăm triệu một tháng"),
    ("phí duy trì 20.000 VND/tháng", "phí duy trì hai mươi nghìn đồng một tháng"),
    ("cước 1.000đ/phút", "cước một nghìn đồng một phút"),
    ("lãi suất 1,5%/năm", "lãi suất một phẩy năm phần trăm một năm"),
    ("100k / ngày", "một trăm nghìn một ngày"),
    ("3 lần/tuần", "ba lần một tuần"),
    # a slash between words is not "per" (unchanged)
    ("anh/chị cho em xin ngày/tháng/năm sinh", "anh chị cho em xin ngày tháng năm sinh"),
])
def test_slash_per_period_is_mot(text: str, norm: str) -> None:
    assert TextNormalizer()(text).text == norm


def test_eth_lookalike_is_d_stroke() -> None:
    """'Ðà Nẵng' typed with the Icelandic eth (U+00D0) was rejected as the unknown Latin word 'Ðà'."""
    assert TextNormalizer()("\u00d0à Nẵng, 500.000 \u00f0").text == "đà nẵng năm trăm nghìn đồng"
