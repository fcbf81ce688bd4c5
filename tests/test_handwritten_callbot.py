"""Thirty call-bot sentences written by hand for this test only: no generator, corpus or other file has them.
Spoken by espeak-ng with held-out speaker variants, they check what the demo claims: the shipped pretrained
checkpoint recognises Vietnamese it has never heard (clean speech), and the demo's fine-tuned model
(``egs/callbot/demo/finetuned``: what ``./run.sh`` produces, exported) recognises them over a phone line.
References keep their natural spelling (``hóa``); scoring maps tone-mark placement to one form."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from chunkformer.audio import resample
from chunkformer.checkpoint import load_model
from chunkformer.decoding.ctc_search import greedy_search
from chunkformer.decoding.scoring import compute_wer
from chunkformer.frontend import fbank
from chunkformer.model.masked_batch import Context

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # the shipped models end to end on synthesised speech: deselect with -m 'not slow'
sys.path.insert(0, str(ROOT / "local"))
from make_demo_corpus import phone_copies  # noqa: E402
from tts import speak_heldout  # noqa: E402

SENTENCES = [
    "alo em chào chị chị đang cần hỗ trợ về vấn đề gì ạ",
    "tôi muốn hỏi xem gói cước hiện tại của tôi còn bao nhiêu dung lượng",
    "dạ hệ thống ghi nhận chị vừa thanh toán hóa đơn điện tháng này rồi ạ",
    "anh vui lòng đọc giúp em bốn số cuối của căn cước công dân",
    "cho tôi đặt lịch khám răng vào sáng thứ bảy tuần sau nhé",
    "đơn hàng của bạn đang được vận chuyển và sẽ tới trong hai ngày nữa",
    "tôi bị trừ tiền hai lần cho cùng một giao dịch sáng nay",
    "em xin phép chuyển cuộc gọi của anh tới bộ phận kỹ thuật",
    "số điện thoại liên hệ của tôi là không chín ba bảy hai một tám năm sáu bốn",
    "chị có muốn gia hạn hợp đồng bảo hiểm xe máy thêm một năm không ạ",
    "mạng nhà tôi chập chờn từ tối hôm qua đến giờ",
    "bên em đang có chương trình giảm giá mười lăm phần trăm cho khách hàng thân thiết",
    "tôi quên mật khẩu đăng nhập ứng dụng rồi phải làm sao",
    "dạ khoản vay của anh sẽ đến hạn vào ngày hai mươi tháng này",
    "làm ơn hủy giúp tôi đơn đặt bàn lúc bảy giờ tối nay",
    "anh có thể nhận hàng tại cửa hàng gần nhất hoặc giao tận nhà",
    "em đã gửi mã xác nhận qua tin nhắn anh kiểm tra giúp em nhé",
    "tôi muốn khiếu nại về thái độ của nhân viên giao hàng",
    "chị còn ba triệu bốn trăm nghìn đồng trong tài khoản sau khi trừ phí thường niên",
    "xin lỗi tôi nghe không rõ anh nói lại chậm hơn được không",
    "thẻ của tôi bị nuốt ở cây rút tiền trên đường lê lợi",
    "phí chuyển khoản liên ngân hàng hiện nay là miễn phí ạ",
    "cuộc hẹn của bác với bác sĩ đã được dời sang chiều thứ năm",
    "chị cho em xin địa chỉ nhận hàng đầy đủ bao gồm số nhà và tên phường",
    "tôi không đồng ý với số tiền phạt trả chậm này",
    "vâng em đã ghi nhận yêu cầu và sẽ có người gọi lại cho anh trong vòng một giờ",
    "nhà tôi ở quận ba gần chợ bàn cờ",
    "gói internet mới có tốc độ cao hơn nhưng giá chỉ tăng năm mươi nghìn",
    "cảm ơn chị đã gọi tới tổng đài chúc chị một ngày tốt lành",
    "cho hỏi chi nhánh ở cầu giấy mấy giờ thì mở cửa",
]


def wer_of(model_dir: Path, waves: list[tuple[np.ndarray, int]]) -> float:
    loaded = load_model(model_dir)
    feats = [fbank(resample(np.asarray(x, dtype=np.float32), r, 16000), 16000) for x, r in waves]
    with torch.no_grad():
        outs = loaded.model.eval().ctc_log_probs(feats, Context.DEFAULT)
    hyps = [loaded.tokenizer.decode(greedy_search(o)) for o in outs]
    for ref, hyp in zip(SENTENCES, hyps):
        print(f"REF {ref}\nHYP {hyp}")
    return compute_wer([(str(i), r, h) for i, (r, h) in enumerate(zip(SENTENCES, hyps))]).wer


@pytest.fixture(scope="module")
def clean() -> list[tuple[np.ndarray, int]]:
    assert len(SENTENCES) == 30 and len(set(SENTENCES)) == 30
    return [speak_heldout(i, s) for i, s in enumerate(SENTENCES)]


@pytest.fixture(scope="module")
def phone(clean) -> list[tuple[np.ndarray, int]]:
    out = phone_copies(clean)
    assert all(r == 8000 for _, r in out)
    return out


@pytest.fixture(scope="module")
def wers(clean, phone) -> dict[str, float]:
    """Greedy WER % of the shipped pretrained and fine-tuned models, clean and over the phone line."""
    out = {}
    for name in ("pretrained", "finetuned"):
        for cond, waves in (("clean", clean), ("phone", phone)):
            out[f"{name}/{cond}"] = wer_of(ROOT / "egs/callbot/demo" / name, waves)
    print(out)
    return out


def test_the_shipped_models_recognise_unseen_sentences_and_the_fine_tune_fixes_the_phone_line(wers) -> None:
    """What the shipped models reach today (measured on an AMD EPYC, 2026-12-07, after one sentence that was a
    training pattern was replaced: pretrained 20.4 % clean, 95.5 % over the phone line; fine-tuned 17.1 % clean,
    34.0 % over the phone line), with a margin for other CPUs' rounding (the
    smallest gap between the two best tokens of any frame here is 0.0004 nats for the pretrained model over the
    phone line, 0.004 clean, 0.006 and 0.03 for the fine-tuned one: far above float32 differences, ~1e-5): a
    model that recognised templates only, or a fine-tune that did not learn the channel, fails here."""
    assert wers["pretrained/clean"] <= 23.0, wers
    assert wers["pretrained/phone"] >= 80.0, wers  # the channel gap is real
    assert wers["finetuned/phone"] <= 37.0, wers
    assert wers["finetuned/clean"] <= wers["pretrained/clean"] + 5.0, wers  # the fine-tune keeps clean speech


def test_pretrained_checkpoint_meets_the_issue_target(wers) -> None:
    assert wers["pretrained/clean"] <= 25.0, wers


def test_fine_tuned_model_meets_the_issue_target_over_a_phone_line(wers) -> None:
    assert wers["finetuned/phone"] <= 35.0, wers
