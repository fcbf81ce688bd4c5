"""Our model vs golden outputs of the official chunkformer 1.2.2 (tests/fixtures/README.md says how they
were made): same features, same CTC log-probs (masked batch and segmented long-form), same transcripts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chunkformer.checkpoint import load_model
from chunkformer.frontend import fbank, load_features
from chunkformer.model import official_segment_frames
from chunkformer.model.masked_batch import Context, make_chunk_batch

from conftest import OFFICIAL

CONTEXTS = {"l128_c64_r128": Context(128, 64, 128), "l32_c16_r32": Context(32, 16, 32)}
EPS32 = float(np.finfo(np.float32).eps)
# Log-probs: the golden values reach |60|, where one float32 ulp is 3.8e-6; the two implementations sum in other
# orders (other kernels, SIMD widths) through every layer, so they agree to some tens of ulps of the largest
# value, not bit for bit. 1e-4 is 26 ulps at |60| (measured: within it on AMD AVX2 and Intel AVX-512).
TOL = 1e-4


def fbank_tolerance(ref: np.ndarray, ulps: float = 36.0) -> np.ndarray:
    """Per-value tolerance for float32 log-mel features, from how they are computed: the FFT's rounding error
    is relative to the whole frame's energy (it grows with log2(512) = 9 butterfly stages, ~2 ulps each, and two
    implementations: 36 ulps), and log() turns an error dE in a mel energy E into dE/E. So a quiet mel bin in a
    loud frame (the empty band of 8 kHz audio) legitimately differs far more than a loud one; a fixed atol
    either fails on another CPU's FFT (1.16e-4 seen on AVX-512 against atol 1e-4) or hides real errors in loud
    bins. The frame energy is estimated from the reference's own mel energies; 4 ulps of the value itself cover
    the log and the final rounding. The bound explodes for bins ~1e9 times quieter than their frame, so it is
    capped at 1e-3 (a wrong window, mel bank or pre-emphasis changes log energies by far more)."""
    energy = np.exp(ref.astype(np.float64))
    frame = energy.sum(axis=1, keepdims=True)
    return np.minimum(ulps * EPS32 * frame / energy + 4 * EPS32 * np.abs(ref), 1e-3)


@pytest.fixture(scope="module")
def loaded(official_model_dir):
    return load_model(official_model_dir)


@pytest.fixture(scope="module")
def long_feats(long_wave):
    return fbank(long_wave.astype(np.float32) / 32768.0)


def test_loads_strictly_and_keeps_decoder(loaded):
    assert loaded.kind == "official-folder"
    assert any(k.startswith("decoder.") for k in loaded.extra_state)
    assert loaded.model.encoder.global_cmvn is not None
    assert len(loaded.tokenizer) == loaded.model.cfg.vocab_size == 62


@pytest.mark.parametrize("name", ["A", "C"])
def test_fbank_matches_official_front_end(golden, name):
    ours = load_features(OFFICIAL / f"{name}.wav").numpy()
    assert ours.shape == golden[f"feats_{name}"].shape
    ref = golden[f"feats_{name}"]
    tol = fbank_tolerance(ref)
    worst = np.unravel_index(np.argmax(np.abs(ours - ref) / tol), ref.shape)
    assert np.all(np.abs(ours - ref) <= tol), (worst, ours[worst], ref[worst], tol[worst])
    assert tol.min() < 5e-5  # loud bins are held to a few 1e-5


@pytest.mark.parametrize("tag", CONTEXTS)
def test_masked_batch_log_probs(loaded, golden, tag):
    feats = [load_features(OFFICIAL / f"{n}.wav") for n in "ABC"]
    outs = loaded.model.ctc_log_probs(feats, CONTEXTS[tag])
    for name, out in zip("ABC", outs):
        ref = golden[f"logp_{tag}_{name}"]
        assert out.shape == ref.shape
        assert np.abs(out.numpy() - ref).max() < TOL, name


@pytest.mark.parametrize("tag", CONTEXTS)
def test_long_input_one_shot_and_in_segments(loaded, golden, long_feats, tag):
    ctx = CONTEXTS[tag]
    seg = official_segment_frames(60, ctx.chunk)
    one_shot = loaded.model.ctc_log_probs([long_feats], ctx)[0].numpy()
    assert np.abs(one_shot - golden[f"logp_{tag}_L_oneshot"]).max() < TOL
    # the official endless_decode look-ahead, reproduced for parity
    official = loaded.model.ctc_log_probs_long(long_feats, ctx, seg, official_lookahead=True).numpy()
    assert np.abs(official - golden[f"logp_{tag}_L_endless"]).max() < TOL
    # our default look-ahead is exact: segments equal the one-shot result
    exact = loaded.model.ctc_log_probs_long(long_feats, ctx, seg).numpy()
    assert np.abs(exact - golden[f"logp_{tag}_L_oneshot"]).max() < TOL
    assert seg * 8 < long_feats.shape[0] / 3, "the test must cover several segments"


def test_batch_equals_single(loaded):
    feats = [load_features(OFFICIAL / f"{n}.wav") for n in "ABC"]
    ctx = Context(128, 64, 128)
    batched = loaded.model.ctc_log_probs(feats, ctx)
    for f, b in zip(feats, batched):
        torch.testing.assert_close(loaded.model.ctc_log_probs([f], ctx)[0], b, atol=1e-4, rtol=0)


def test_full_attention_batches_use_short_chunks_with_the_same_result(loaded):
    """Mixed 2-15 s turns: every chunk sees its whole utterance, so short chunks (little padding) replace one
    padded chunk per utterance, and the log-probs stay those of the padded batch."""
    from chunkformer.model.asr_model import effective_context, frame_cost
    from chunkformer.model.masked_batch import make_chunk_batch

    g = torch.Generator().manual_seed(3)
    feats = [torch.randn(n, 80, generator=g) for n in (1500, 200, 450, 300, 900)]
    model = loaded.model
    ctx = effective_context(Context(128, 64, 128), [f.shape[0] for f in feats], frame_cost(model.encoder.cfg))
    longest = 1 + (1500 - 15) // 8
    assert ctx.chunk < longest and ctx.left == ctx.right >= longest - ctx.chunk
    padded = make_chunk_batch(feats, Context(0, longest, 0), model.encoder.conv_lorder)
    ours = model.chunk_batch(feats, Context(128, 64, 128))
    assert ours.context == ctx and ours.xs.shape[0] > padded.xs.shape[0]
    model.eval()
    with torch.no_grad():
        a, lens = model(padded)
        b, lens_b = model(ours)
    assert torch.equal(lens, lens_b)
    for i, n in enumerate(lens.tolist()):
        torch.testing.assert_close(b[i, :n], a[i, :n], atol=TOL, rtol=1e-5)  # float rounding only
    # equal lengths: nothing to gain, one chunk per utterance as before
    assert effective_context(Context(128, 64, 128), [1500, 1500]) == Context(0, longest, 0)


def test_packed_inference_equals_the_masked_batch(loaded, monkeypatch):
    """In eval mode, ``ctc_log_probs`` runs the utterances whose chunks all see their whole utterance packed end
    to end (no padding to whole chunks, attention and depthwise conv per utterance, one GEMM per projection): the
    masked batch's log-probs up to float rounding, for lengths down to one output frame; utterances whose chunks
    cannot see all of them, and training, keep the masked batch."""
    model = loaded.model.eval()
    g = torch.Generator().manual_seed(5)
    feats = [torch.randn(n, 80, generator=g) for n in (15, 23, 200, 517, 1500, 96)]
    calls = []
    packed = model.encoder.forward_packed
    monkeypatch.setattr(model.encoder, "forward_packed", lambda f: calls.append(len(f)) or packed(f))
    with torch.no_grad():
        ours = model.ctc_log_probs(feats, Context(128, 64, 128))
        ref, lens = model(model.chunk_batch(feats, Context(128, 64, 128)))
    assert calls == [len(feats)]
    for i, n in enumerate(lens.tolist()):
        assert ours[i].shape == (n, 62)
        torch.testing.assert_close(ours[i], ref[i, :n], atol=TOL, rtol=1e-5)
    # [32, 16, 32]: 517 and 1500 frames (63 and 186 output frames) reach beyond the context: a masked batch of
    # those two, the other four packed; each result as in one masked batch of all six
    small = Context(32, 16, 32)
    with torch.no_grad():
        ours = model.ctc_log_probs(feats, small)
        ref, lens = model(make_chunk_batch(feats, small, model.encoder.conv_lorder))
        model.train()
        try:
            model.ctc_log_probs(feats[:2], Context(128, 64, 128))
            with pytest.raises(RuntimeError, match="inference"):
                packed(feats[:2])
        finally:
            model.eval()
    assert calls == [len(feats), 4]
    for i, n in enumerate(lens.tolist()):
        torch.testing.assert_close(ours[i], ref[i, :n], atol=TOL, rtol=1e-5)
    with pytest.raises(ValueError, match="utterance 2 has 14 frames"):  # its place in the whole batch
        model.ctc_log_probs([feats[4], feats[0], feats[0][:14]], small)
    with pytest.raises(ValueError, match="empty batch"):
        model.ctc_log_probs([], small)
