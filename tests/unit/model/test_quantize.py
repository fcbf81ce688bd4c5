"""int8 inference (chunkformer.model.quantize): every large product replaced, the demo model's frame decisions
kept on real speech, and a frame's quantisation independent of its batch neighbours (per-row scales)."""

from __future__ import annotations

import sys

import pytest
import torch

from chunkformer.audio import resample
from chunkformer.checkpoint import load_model
from chunkformer.frontend import fbank
from chunkformer.model.masked_batch import Context
from chunkformer.model.quantize import (
    BACKENDS,
    Int8Linear,
    Int8Pointwise2d,
    default_backend,
    int8_backend,
    is_int8,
    quantize_int8,
)

from helpers import REPO, speech

DEMO = REPO / "egs" / "callbot" / "demo" / "pretrained"
# a context that is not full attention for these lengths: the chunk geometry does not depend on the batch
FIXED = Context(16, 8, 16)


@pytest.mark.parametrize("backend", BACKENDS)
def test_int8_linear_is_close_and_row_independent(backend):
    torch.manual_seed(0)
    lin = torch.nn.Linear(96, 40)
    q = Int8Linear.from_linear(lin, backend=backend)
    x = torch.randn(3, 7, 96) * torch.tensor([0.01, 1.0, 300.0]).view(3, 1, 1)  # rows of very different scale
    with torch.no_grad():
        ref, y = lin(x), q(x)
        assert y.shape == ref.shape
        rel = (y - ref).norm(dim=-1) / ref.norm(dim=-1)  # per-row scales: small relative error at any magnitude
        assert rel.max() < 0.03, rel.max()
        assert torch.equal(q(x[0]), y[0])  # the same bits alone as next to a 30 000 times louder row
        per_tensor = Int8Linear.from_linear(lin, per_row=False, backend=backend)
        assert not torch.equal(per_tensor(x[0]), per_tensor(x)[0])  # what per-row scaling avoids


def test_onednn_sees_the_same_range_alone_and_in_a_batch():
    """oneDNN's product measures its input's range: a row whose values are all positive would be quantised on
    [0, 1] alone and on [-1, 1] next to a row with a negative peak, but for the pinned rows."""
    torch.manual_seed(2)
    lin = torch.nn.Linear(64, 32)
    q = Int8Linear.from_linear(lin, backend="onednn")
    x = torch.stack([torch.rand(64) + 0.1, -torch.rand(64) - 0.1])
    with torch.no_grad():
        assert torch.equal(q(x[:1]), q(x)[:1])
        assert torch.equal(q(x[1:]), q(x)[1:])
        fb = Int8Linear.from_linear(lin, backend="fbgemm")
        rel = (q(x) - fb(x)).norm(dim=-1) / fb(x).norm(dim=-1)
        assert rel.max() < 0.02, rel  # the same grids, other kernels


def test_onednn_is_the_default_only_where_the_cpu_has_amx_int8():
    assert default_backend(frozenset({"avx512_vnni", "amx_tile", "amx_int8"})) == "onednn"
    assert default_backend(frozenset({"avx2", "avx512_vnni", "amx_bf16"})) == "fbgemm"
    assert default_backend() in BACKENDS
    with pytest.raises(ValueError, match="backend"):
        Int8Linear(torch.ones(4, 4), None, backend="qnnpack")


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_large_product_is_int8(official_model_dir, backend):
    int8 = quantize_int8(load_model(official_model_dir).model, backend=backend)
    assert is_int8(int8) and not is_int8(load_model(official_model_dir).model)
    assert int8_backend(int8) == backend and int8_backend(load_model(official_model_dir).model) is None
    layer = int8.encoder.encoders[0]
    for m in (layer.feed_forward.w_1, layer.feed_forward.w_2, layer.feed_forward_macaron.w_1,
              layer.feed_forward_macaron.w_2, layer.self_attn.linear_out, layer.self_attn.qkv_int8,
              layer.conv_module.pointwise1_int8, layer.conv_module.pointwise2_int8, int8.encoder.embed.out,
              int8.encoder.embed.conv[3].lin, int8.encoder.embed.conv[6].lin, int8.ctc.ctc_lo):
        assert isinstance(m, Int8Linear) and m.backend == backend
    assert quantize_int8(int8) is int8  # idempotent
    assert int8.device == torch.device("cpu")


@pytest.mark.parametrize("reduce_range", [False, True])
def test_the_fixed_activation_grid_is_fbgemms_own_for_rows_in_unit_range(reduce_range):
    """Int8Linear gives the scale of rows scaled into [-1, 1] up front; fbgemm's dynamic quantisation, made to
    see that range by two pinned rows, chooses the same grid: the same bits."""
    torch.manual_seed(1)
    lin = torch.nn.Linear(64, 48)
    q = Int8Linear(lin.weight, lin.bias, reduce_range=reduce_range)
    x = torch.randn(9, 64) * torch.logspace(-2, 2, 9).view(9, 1)
    with torch.no_grad():
        m = x.abs().amax(1, keepdim=True)
        pinned = torch.cat([x / m, torch.ones(1, 64), -torch.ones(1, 64)])
        dynamic = torch.addcmul(lin.bias, torch.ops.quantized.linear_dynamic(pinned, q._packed, reduce_range)[:-2], m)
        assert torch.equal(q(x), dynamic)


def test_int8_pointwise_conv2d_matches_the_conv():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(32, 24, 1)
    x = torch.randn(2, 32, 9, 5)
    with torch.no_grad():
        ref, y = conv(x), Int8Pointwise2d(conv, per_row=True)(x)
        assert y.shape == ref.shape
        assert float((y - ref).norm() / ref.norm()) < 0.03
        # the next depthwise convolution gets the channels-last layout (no copy)
        assert y.is_contiguous(memory_format=torch.channels_last)
        dw = torch.nn.Conv2d(24, 24, 3, 2, groups=24)
        assert torch.allclose(dw(y), dw(y.contiguous()), atol=1e-5)


@pytest.fixture(scope="module")
def vietnamese() -> list[torch.Tensor]:
    """Four sentences spoken by espeak-ng (held-out voices), 16 kHz fbank."""
    sys.path.insert(0, str(REPO / "local"))
    from tts import espeak

    texts = ["alo em chào anh anh cần hỗ trợ gì ạ", "tôi muốn kiểm tra số dư tài khoản",
             "đơn hàng của chị sẽ được giao vào chiều mai", "cảm ơn anh đã gọi tới tổng đài"]
    out = []
    for i, t in enumerate(texts):
        x, rate = espeak(t, ("vi", "vi-vn-x-central", "vi-vn-x-south", "vi")[i], 150 + 10 * i, 40 + 5 * i)
        out.append(fbank(resample(x, rate, 16000)))
    return out


@pytest.mark.skipif(not DEMO.is_dir(), reason="no demo checkpoint")
@pytest.mark.parametrize("backend", BACKENDS)
def test_int8_keeps_the_demo_models_decisions(vietnamese, backend):
    fp32 = load_model(DEMO).model
    int8 = quantize_int8(load_model(DEMO).model, backend=backend)
    ctx = Context.DEFAULT
    a, b = fp32.ctc_log_probs(vietnamese, ctx), int8.ctc_log_probs(vietnamese, ctx)
    assert [x.shape for x in a] == [x.shape for x in b]
    frames = sum(x.size(0) for x in a)
    agree = sum(int((x.argmax(-1) == y.argmax(-1)).sum()) for x, y in zip(a, b)) / frames
    assert agree >= 0.98, agree  # measured 0.997 on the demo telephony test set
    # probabilities, not log-probs: tiny posteriors have large log errors that decide nothing
    diff = max(float((x.exp() - y.exp()).abs().max()) for x, y in zip(a, b))
    assert diff < 0.3, diff


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_frames_quantisation_ignores_its_batch_neighbours(official_model_dir, backend):
    feats = [fbank(speech(seed, sec)) for seed, sec in ((71, 3.3), (72, 6.1), (73, 1.2))]
    loud = fbank(speech(74, 4.0) * 30.0)  # a neighbour 30 dB louder
    for per_row, bound in ((True, 1e-3), (False, None)):
        model = quantize_int8(load_model(official_model_dir).model, per_row=per_row, backend=backend)
        together = model.ctc_log_probs([*feats, loud], FIXED)
        diff = max(float((model.ctc_log_probs([f], FIXED)[0] - together[i]).abs().max())
                   for i, f in enumerate(feats))
        if bound is not None:
            assert diff < bound, diff  # float rounding only (measured 1e-5)
        else:
            assert diff > 0.01, diff  # per-tensor scales: the loud neighbour changes the others
