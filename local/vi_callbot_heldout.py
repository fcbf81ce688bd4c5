"""Held-out call-bot sentence patterns of the demo corpus: the TEST and VALIDATION patterns.

Written apart from the training patterns of ``vi_callbot_text.py`` and never derived from them: other sentence
structures and wordings a caller or a bot might use (narratives, indirect questions, reproaches, two-clause
turns), sharing with training only the slot vocabularies. So a model that learned the training patterns by
heart gains nothing on these: the ``test`` split measures recognition of unseen sentences, ``test_seen``
(training patterns, held-out slot values) measures the easier case. ``tests/unit/local/test_demo_corpus.py`` checks that
no skeleton here equals, or is a reordering of a subset or superset of, a training skeleton (particles
aside), that word order overlap with every training skeleton stays low, and that val and test share nothing.

Slots and their notation are those of ``vi_callbot_text.py`` (``{p}``, ``{me}``, ``{amount}``, ``{x2}`` …).
"""

from __future__ import annotations

import unicodedata

from vi_callbot_text import Pattern

_TEST = (
    "alo có phải bên giao hàng không {me} chờ cái {product} từ sáng tới giờ vẫn chưa ai mang tới",
    "phiền {p} đọc chậm lại từng số {account} để em ghi cho chính xác",
    "bữa trước {me} có ghé chi nhánh {district} làm thủ tục mà người ta bảo thiếu giấy tờ",
    "nhờ {p} kiểm tra giùm xem món {product} đặt hôm {day} giờ tới đâu rồi",
    "tiền vừa chuyển đi {amount} mà bên {bank} báo người nhận chưa thấy",
    "em báo {p} là khoản phí {amount} này đã được miễn cho kỳ này",
    "ở {district} hiện có {count} điểm giao dịch mở cả cuối tuần",
    "{me} cần đổi ca khám {dept} sang buổi chiều vì sáng {day} kẹt họp",
    "dạ {p} ơi gói {plan} hiện đang ưu đãi nhân đôi dung lượng cho thuê bao mới",
    "nếu {p} đồng ý em sẽ trích {amount} từ thẻ đuôi {cardtail}",
    "cho hỏi {insurance} có chi trả khi nằm viện dưới {count} ngày không",
    "người nhà {me} là {fullname} đang nằm viện muốn làm hồ sơ thanh toán",
    "số máy {phone} gọi cho {me} mấy lần tự xưng nhân viên {bank}",
    "bên em vừa gửi mã tới số {phone} {p} đọc giúp em sáu chữ số đó nhé",
    "{p} có {count} cuộc gọi nhỡ từ số {hotline} đó là đường dây nóng của bên em",
    "em mang hàng tới phường {ward} mà bảo vệ toà nhà không cho lên {p} xuống nhận giúp em",
    "hôm qua mất điện cả buổi ở {district} mà tháng này vẫn tính tới {amount}",
    "{p} cho em xin họ tên đầy đủ và năm sinh của người đứng tên {insurance}",
    "{me} định lấy thêm {product} nhưng thấy chỗ khác rẻ hơn {amount}",
    "giờ này còn xếp được lịch với bác sĩ {name} không hay phải đợi tới {date}",
    "{me} chưa tiêu đồng nào mà ứng dụng cứ báo âm {amount} là thế nào",
    "trước {time} chiều nay {p} chuyển khoản thì trong ngày bên kia sẽ nhận được",
    "nhân viên {shop} tới lắp {product} mà làm hỏng cả tường nhà {me}",
    "căn hộ {me} ở tầng {count} chung cư bên đường {street} nên nhớ báo trước khi lên",
    "vậy em giữ chỗ cho {p} ở khoa {dept} lúc {time} nha",
    "ai cho phép ngân hàng {bank} tự ý tăng hạn mức chi tiêu của {me} thành {amount}",
    "hình như lúc nãy {me} đọc nhầm số nhà phải là {house} mới đúng",
    "em thấy đơn {order} đã quá hạn đổi trả từ {date} rồi {p} ạ",
    "cả tháng nay cứ tối đến là đường truyền internet ở {district} {issue}",
    "{p} có muốn nhận hoá đơn điện tử qua số {phone} thay cho bản giấy không",
    "lần này {shop} tặng kèm {product} cho mỗi hoá đơn trên {amount}",
    "xin {p} đừng tắt máy em sắp đọc xong điều khoản của {insurance}",
    "mẹ của {me} sinh năm {year} có tham gia {insurance} được không",
    "vậy là tổng cộng {p} phải trả {amount} gồm cả tiền công lắp đặt",
    "{me} đang ở ngay cổng chợ {ward} người giao cứ đi thẳng vào là thấy",
    "món {product} này lúc đặt ghi màu đen mà nhận về lại màu trắng",
    "sao {bank} trừ phí duy trì mỗi tháng {amount} mà không báo trước",
    "em đã gửi đường dẫn thanh toán tới số {phone} {p} kiểm tra tin nhắn giúp em",
    "có phải {fullname} là chủ {card} này không",
    "từ {city} gửi vào {city2} thì đi đường bộ hay máy bay",
    "{me} lỡ tay xoá mất tin nhắn có mã {otp} rồi giờ làm sao",
    "khoản bồi thường {amount} khi nào mới về tới tài khoản {me}",
    "sang {date} là thẻ của {p} hết hiệu lực nên cần làm thẻ mới",
    "{p} cho em xin một phút để em tra lại lịch sử giao dịch {amount} ạ",
    "bên {me} là quán ăn ở {address} cần lắp thêm một đường truyền",
    "ông {fullname} nhà {me} đã mất nên muốn tất toán sổ tiết kiệm ở {bank}",
)

_VAL = (
    "em đọc lại địa chỉ {address} {p} nghe có đúng không",
    "{me} muốn biết giờ làm việc của ngân hàng {bank} gần chợ {ward}",
    "hàng đã về kho {district} chiều nay bên em phát cho {p} luôn",
    "{p} muốn trả góp {product} trong {count} tháng hay trả thẳng",
    "em xin lỗi đã để {p} chờ lâu đơn {order} sẽ được ưu tiên",
    "{me} bị dị ứng thuốc nên muốn gặp bác sĩ {name} trao đổi trước",
    "bao giờ thợ tới sửa {product} cho {me}",
    "lãi phát sinh tháng này là {amount} do {p} trả chậm",
    "sáng mai {p} mang theo giấy hẹn tới quầy số {count} nhé",
    "cước gọi quốc tế của số {phone} sao cao vậy",
    "{me} đã chụp hình cái {product} {defect} gửi qua tin nhắn rồi",
    "em chuyển yêu cầu của {p} cho cửa hàng {shop} xử lý nhé",
    "{insurance} không chi trả cho bệnh có sẵn {p} lưu ý giúp em",
    "bên {me} ở {city} sao mua hàng phải chờ lâu thế",
    "khoản tiền {amount} đó là phí dịch vụ {banksvc} tháng trước",
    "{me} đóng tiền {bill} qua ứng dụng rồi mà vẫn báo nợ",
    "em muốn gặp người tên {name} ở nhà có ai tên vậy không",
    "nếu không hài lòng {p} có thể đổi trả trong vòng {count} ngày",
    "máy báo mã {otp} sai là sao em nhập đúng rồi mà",
    "lịch tiêm chủng tiếp theo của bé là {date}",
    "tiền điện nhà {me} tăng gấp đôi từ khi chuyển về {district}",
    "số tổng đài {hotline} gọi mãi không ai bắt máy",
    "trong vòng {count} ngày tới sẽ có nhân viên đến khảo sát tại {address}",
    "người nhận ở đường {street} từ chối nhận nên hàng bị trả về",
)


def _patterns(prefix: str, texts: tuple[str, ...]) -> tuple[Pattern, ...]:
    return tuple(Pattern(f"{prefix}.{i}", unicodedata.normalize("NFC", t)) for i, t in enumerate(texts))


TEST_PATTERNS = _patterns("test", _TEST)
VAL_PATTERNS = _patterns("val", _VAL)
