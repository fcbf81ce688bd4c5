"""Packed inference (``ChunkFormerModel.ctc_log_probs`` in eval mode when every chunk sees its whole utterance):
the masked batch's log-probs at the edge of full attention, for one-frame utterances, uniform and many-utterance
batches, under int8 and under every grad mode; everything else keeps the masked batch.

Exactness is checked on a float64 copy of the official fixture model: there the two paths differ only by float64
rounding (1e-9 is ~1e5 ulps of the largest log-prob, far below float32's 1e-4 tolerance), so an off-by-one
positional slice or a conv gap would show, where float32 noise could hide a small one.
"""

from __future__ import annotations

import copy

import pytest
import torch

from chunkformer.checkpoint import load_model
from chunkformer.frontend import fbank
from chunkformer.model.asr_model import ChunkFormerModel, full_attention
from chunkformer.model.embedding import RelPositionalEncoding
from chunkformer.model.masked_batch import Context, make_chunk_batch, window_size
from chunkformer.model.quantize import BACKENDS, quantize_int8

from helpers import speech

F64_TOL = 1e-9
# between int8 runs of differently shaped batches (tests/unit/model/test_quantize.py: float rounding, measured 1e-5)
INT8_TOL = 1e-3


@pytest.fixture(scope="module")
def fp32(official_model_dir) -> ChunkFormerModel:
    return load_model(official_model_dir).model.eval()


@pytest.fixture(scope="module")
def fp64(fp32) -> ChunkFormerModel:
    return copy.deepcopy(fp32).double()


def masked(model: ChunkFormerModel, feats: list[torch.Tensor], ctx: Context) -> list[torch.Tensor]:
    """The masked batch with the context as given (``chunk_batch`` would trim it with ``effective_context``)."""
    batch = make_chunk_batch([f.to(model.device) for f in feats], ctx, model.encoder.conv_lorder)
    with torch.no_grad():
        return batch.split(model.ctc.log_softmax(model.encoder(batch)[0]))


def trimmed(model: ChunkFormerModel, feats: list[torch.Tensor], ctx: Context) -> list[torch.Tensor]:
    """The masked batch exactly as ``ctc_log_probs`` builds it when it does not pack."""
    with torch.no_grad():
        y, lens = model(model.chunk_batch(feats, ctx))
    return [y[i, :n] for i, n in enumerate(lens.tolist())]


def packed(model: ChunkFormerModel, feats: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.no_grad():
        y, lens = model.encoder.forward_packed([f.to(model.device) for f in feats])
        return list(model.ctc.log_softmax(y).split(lens))


def max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    assert [x.shape for x in a] == [y.shape for y in b]
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def randn(frames: list[int], seed: int, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 80, generator=g).to(dtype) for n in frames]


# context → the most output frames for which every chunk still sees its whole utterance
BOUNDARIES = {
    Context(128, 64, 128): 192,  # the default: 15.4 s
    Context(32, 16, 32): 48,
    Context(16, 8, 16): 24,
    Context(0, 64, 0): 64,  # no context: one chunk per utterance
    Context(0, 64, 64): 64,
    Context(64, 64, 0): 64,
    Context(64, 32, 32): 64,  # left > right: the last chunk could see 96 frames back, the first only 64 ahead
    Context(16, 32, 64): 32,  # left < right
    Context(100, 64, 100): 128,  # context not a multiple of the chunk
}


@pytest.mark.parametrize("ctx", BOUNDARIES, ids=str)
def test_packed_at_the_edge_of_full_attention(fp64, ctx):
    """At the longest full-attention utterance (with and without the up to 7 fbank frames that add no output
    frame) the batch runs packed with the masked batch's result; one output frame more, that utterance runs in
    the masked batch and its shorter neighbour still packed."""
    top = BOUNDARIES[ctx]
    for length, extra in ((top, 0), (top, 7), (top + 1, 0), (top + 1, 7)):
        feats = randn([window_size(length) + extra, window_size(max(1, length // 3))], length + extra,
                      torch.float64)
        full = length <= top
        assert full_attention(ctx, [f.shape[0] for f in feats]) is full
        ours = fp64.ctc_log_probs(feats, ctx)
        assert [x.size(0) for x in ours] == [length, max(1, length // 3)]
        assert max_diff(ours, masked(fp64, feats, ctx)) < F64_TOL, (length, extra)
        split = [trimmed(fp64, feats[:1], ctx)[0], packed(fp64, feats[1:])[0]]
        assert same(ours, packed(fp64, feats) if full else split), (length, extra)


BATCHES = {
    "one output frame": [15],
    "15-22 frames, alone": [22],
    "15-22 frames": list(range(15, 23)),
    "one utterance": [1500],
    "equal lengths": [700] * 4,
    "64 short": [15 + (37 * i) % 400 for i in range(64)],
    "mixed": [15, 23, 200, 517, 1543, 96],
}


@pytest.mark.parametrize("name", BATCHES)
def test_packed_batches_equal_the_masked_batch(fp64, fp32, name):
    """Short, uniform and many-utterance batches: packed, the masked batch's result (float64 rounding; float32
    within the golden tolerance of test_model_parity.py), each utterance as alone."""
    ctx = Context.DEFAULT
    feats = randn(BATCHES[name], len(BATCHES[name]), torch.float64)
    ours = fp64.ctc_log_probs(feats, ctx)
    assert same(ours, packed(fp64, feats))
    assert max_diff(ours, masked(fp64, feats, ctx)) < F64_TOL
    assert max_diff(ours, [fp64.ctc_log_probs([f], ctx)[0] for f in feats]) < F64_TOL
    feats32 = [f.float() for f in feats]
    assert max_diff(fp32.ctc_log_probs(feats32, ctx), masked(fp32, feats32, ctx)) < 1e-4


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_input_dtypes_behave_as_in_the_masked_batch(fp32, dtype):
    """The float32 model refuses float64 features in the masked batch (CMVN keeps them float64, the
    subsampling's weights are float32) and so in the packed one; bfloat16 features become float32 in both."""
    feats = randn([300, 90], 9, dtype)
    try:
        ref = masked(fp32, feats, Context.DEFAULT)
    except RuntimeError as e:
        with pytest.raises(type(e)):
            fp32.ctc_log_probs(feats, Context.DEFAULT)
        return
    assert dtype == torch.bfloat16
    assert max_diff(fp32.ctc_log_probs(feats, Context.DEFAULT), ref) < 1e-4


@pytest.mark.parametrize("backend", BACKENDS)
def test_int8_packed(official_model_dir, backend):
    """int8 products (subsampling pointwise convs, fused q|k,v, conv pointwise, FFNs, CTC) in a packed batch: the
    int8 masked batch's result, and a frame's quantisation still ignores its neighbours (a 30 dB louder one)."""
    model = quantize_int8(load_model(official_model_dir).model, backend=backend)
    ctx = Context.DEFAULT
    feats = [fbank(speech(seed, sec)) for seed, sec in ((71, 3.3), (72, 6.1), (73, 1.2), (74, 0.2))]
    batch = [*feats, fbank(speech(75, 4.0) * 30.0)]
    together = model.ctc_log_probs(batch, ctx)
    assert same(together, packed(model, batch))
    assert max_diff(together, masked(model, batch, ctx)) < INT8_TOL
    assert max_diff(together[:-1], [model.ctc_log_probs([f], ctx)[0] for f in feats]) < INT8_TOL


def test_grad_modes(fp32):
    """``torch.inference_mode`` and ``torch.no_grad`` callers get the same tensors, none tracking gradients."""
    feats = randn([300, 90, 1500], 4)
    ref = fp32.ctc_log_probs(feats, Context.DEFAULT)
    for mode in (torch.inference_mode, torch.no_grad, torch.enable_grad):
        with mode():
            out = fp32.ctc_log_probs(feats, Context.DEFAULT)
        assert same(out, ref) and not any(x.requires_grad for x in out)


def _dropout_on(model: ChunkFormerModel, where: str) -> ChunkFormerModel:
    """A copy with dropout on: everywhere (train mode), only in the encoder, or one dropout (Monte Carlo dropout)."""
    model = copy.deepcopy(model).eval()
    if where == "train":
        model.train()
    elif where == "encoder":
        model.encoder.train()
    else:
        model.encoder.encoders[0].dropout.train()
    return model


@pytest.mark.parametrize("where", ["train", "encoder", "one dropout"])
def test_dropout_on_keeps_the_masked_batch(fp32, where):
    """Any dropout in training mode: the masked batch with its dropout, as ctc_log_probs ran before packing (the
    packed path has no dropout; it used to raise for an eval model whose encoder trains, and to skip a single
    dropout silently)."""
    model = _dropout_on(fp32, where)
    feats = randn([300, 90], 6)
    torch.manual_seed(11)
    ours = model.ctc_log_probs(feats, Context.DEFAULT)
    torch.manual_seed(11)
    assert same(ours, trimmed(model, feats, Context.DEFAULT))
    assert max_diff(ours, fp32.ctc_log_probs(feats, Context.DEFAULT)) > 1e-3  # dropout did act
    with pytest.raises(RuntimeError, match="inference"):
        model.encoder.forward_packed(feats)


def test_positional_window_stays_inside_the_table():
    """``window(c, l, r)`` covers distances c+l-1 … -(c+r-1) of the ±4999 table, the packed path's (L, 0, 0) the
    centred 2L-1 of them. Either side past the table is refused: a right one used to come back short, and the
    attention's relative shift read the next row's positions for the farthest keys (``ctc_log_probs`` with
    Context(0, 64, 4940) on a 480 s input ran with wrong scores; with Context(0, 64, 5000) it failed in as_strided)."""
    pe = RelPositionalEncoding(8, 0.0)
    assert pe.window(64, 0, 4935).shape == (1, 2 * 64 + 4935 - 1, 8)
    assert torch.equal(pe.window(4999, 0, 0), pe.pe[:, 1:-1])
    for left, right in ((4936, 0), (0, 4936)):
        with pytest.raises(ValueError, match="table"):
            pe.window(64, left, right)
