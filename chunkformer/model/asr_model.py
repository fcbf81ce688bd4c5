"""ChunkFormer CTC model: global CMVN + encoder + CTC head, with the official state-dict layout
(``encoder.*``, ``ctc.ctc_lo.*``). Attention-decoder weights of a checkpoint are not modelled here;
:mod:`chunkformer.checkpoint` carries them along untouched.

Inputs are lists of un-padded fbank tensors (T_b, 80); outputs are per-utterance (L_b, ·) with
``L_b = subsampled_len(T_b)`` (:mod:`chunkformer.model.subsampling`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from chunkformer.frontend import FRAME_SHIFT
from chunkformer.model.cmvn import GlobalCMVN
from chunkformer.model.ctc import CTC
from chunkformer.model.encoder import ChunkFormerEncoder, EncoderConfig, dropout_active
from chunkformer.model.masked_batch import ChunkBatch, Context, check_lengths, make_chunk_batch, window_size
from chunkformer.model.subsampling import RATE, subsampled_len


@dataclass
class ModelConfig:
    vocab_size: int
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    use_cmvn: bool = True


def relative_right_context(context: Context, num_blocks: int, conv_lorder: int, official: bool = False) -> int:
    """Output frames to the right that a chunk's output depends on through all blocks.

    Exact bound: N·(c + r) — per block, attention reaches r frames past the chunk and the conv reaches into
    the next chunk, whose attention again reaches r past it. The official ``endless_decode`` uses
    ``r' + max(c, r')·(N-1)``, r' = max(r, k//2), which is too short: its segments differ from the one-shot
    result by up to ~1e-2 in log-prob near segment ends. ``official=True`` reproduces that for parity tests.
    """
    if official:
        r = max(context.right, conv_lorder)
        return r + max(context.chunk, r) * (num_blocks - 1)
    return num_blocks * (context.chunk + context.right)


def effective_context(context: Context, num_frames: list[int], frame_cost: float = 1100.0) -> Context:
    """The cheapest context with the same result for utterances of ``num_frames`` fbank frames.

    Keys outside an utterance are masked, so left/right context beyond the longest utterance's other chunks
    only adds masked padding: with at most k chunks per utterance, l and r are cut to (k-1)·c.
    If l and r are at least that reach, every chunk sees its whole utterance, which is full attention, and
    then *any* chunk size c' with l = r = its own reach gives the same result. One chunk per utterance is a
    padded batch (every utterance padded to the longest: 61 % padding for 2–15 s call-bot turns); short
    chunks pad each utterance only to a multiple of c' but make the attention windows wider. The chunk size
    is picked by estimated cost: padded frames × (``frame_cost`` + attention window), where ``frame_cost``
    is a frame's feed-forward/projection work in units of one query-key pair (:func:`frame_cost`).

    >>> effective_context(Context(128, 64, 128), [1500, 300, 200, 250])   # 15 s + three short turns
    Context(left=176, chunk=16, right=176)
    >>> effective_context(Context(128, 64, 128), [1500, 1500])            # equal lengths: one chunk each
    Context(left=0, chunk=186, right=0)
    >>> effective_context(Context(16, 8, 16), [3000])                     # not full attention: kept
    Context(left=16, chunk=8, right=16)
    """
    lengths = [max(1, subsampled_len(n)) for n in num_frames]
    longest = max(lengths)

    def reach(c: int) -> int:
        return _reach(longest, c)

    c = context.chunk
    if not full_attention(context, num_frames):
        return Context(min(context.left, reach(c)), c, min(context.right, reach(c)))

    def cost(size: int) -> float:
        padded = sum(-(-n // size) * size for n in lengths)
        return padded * (frame_cost + 2 * reach(size) + size)

    # cheapest size; on a tie the larger chunk (fewer, bigger GEMMs)
    size = min({longest, *(k for k in (16, 32, 64) if k < longest)}, key=lambda k: (cost(k), -k))
    return Context(reach(size), size, reach(size))


def _reach(longest: int, chunk: int) -> int:
    """Frames a chunk of the longest utterance (``longest`` output frames) must see on each side to see all of
    it: (k-1)·c for k chunks."""
    return (-(-longest // chunk) - 1) * chunk


def full_attention(context: Context, num_frames: list[int]) -> bool:
    """Whether, for utterances of ``num_frames`` fbank frames, every chunk of ``context`` sees its whole
    utterance (left and right context reach its first and last frame): then the masked batch is full
    attention per utterance.

    >>> full_attention(Context(128, 64, 128), [800, 1500]), full_attention(Context(128, 64, 128), [2000])
    (True, False)
    """
    longest = max(max(1, subsampled_len(n)) for n in num_frames)
    return min(context.left, context.right) >= _reach(longest, context.chunk)


def frame_cost(cfg: EncoderConfig) -> float:
    """Multiply-adds per frame and block outside attention (macaron FFNs 4·d·ffn, q/k/v/out 4·d², conv
    pointwise 3·d²) over those per query-key pair (scores, positional term, weighted sum: 3·d)."""
    d, ffn = cfg.output_size, cfg.linear_units
    return (4 * d * ffn + 7 * d * d) / (3 * d)


def official_segment_frames(total_batch_duration: float, chunk: int) -> int:
    """Output frames per segment that the official ``endless_decode`` keeps for a given budget (seconds)."""
    max_frames = int(total_batch_duration // FRAME_SHIFT) // 2
    return chunk * (max_frames // chunk // RATE)


class ChunkFormerModel(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        e = cfg.encoder
        cmvn = GlobalCMVN(torch.zeros(e.input_dim), torch.ones(e.input_dim)) if cfg.use_cmvn else None
        self.encoder = ChunkFormerEncoder(e, cmvn)
        self.ctc = CTC(e.output_size, cfg.vocab_size)

    @property
    def device(self) -> torch.device:
        return self.encoder.after_norm.weight.device  # a float parameter in fp32 and int8 models alike

    def chunk_batch(self, feats: list[torch.Tensor], context: Context, offsets: list[int] | None = None
                    ) -> ChunkBatch:
        """Masked chunk batch; without cached history the context is trimmed to what the batch can use."""
        if offsets is None:
            context = effective_context(context, [f.shape[0] for f in feats], frame_cost(self.encoder.cfg))
        return make_chunk_batch([f.to(self.device) for f in feats], context, self.encoder.conv_lorder, offsets)

    def forward(self, batch: ChunkBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded CTC log-probs (B, L_max, V) and lengths (B,), for the CTC loss."""
        y = self.ctc.log_softmax(self.encoder(batch)[0])
        flat = y.reshape(-1, y.size(-1))
        return flat[batch.gather_index()], batch.out_lens

    @torch.no_grad()
    def ctc_log_probs(self, feats: list[torch.Tensor], context: Context) -> list[torch.Tensor]:
        """One batch over all utterances → per-utterance (L_b, V) CTC log-probs.

        In eval mode (every dropout off, :func:`dropout_active`: the packed path has none), the utterances to
        which ``context`` gives full attention (:func:`full_attention`: turns up to 15 s with the default context)
        run packed end to end (:meth:`ChunkFormerEncoder.forward_packed`): the same result up to float rounding,
        without the masked batch's padding to whole chunks and its copies of overlapping attention windows. The
        others (and every utterance while a dropout is on) run in one masked batch; an utterance's result never
        depends on the others of its batch, so the split changes nothing."""
        check_lengths(feats)  # before the split, so that an error names the utterance's place in the batch
        out: list[torch.Tensor | None] = [None] * len(feats)
        dropout = dropout_active(self)  # the packed path has no dropout: every utterance masked
        packed = [i for i, f in enumerate(feats) if not dropout and full_attention(context, [f.shape[0]])]
        if packed:
            y, lens = self.encoder.forward_packed([feats[i].to(self.device) for i in packed])
            for i, lp in zip(packed, self.ctc.log_softmax(y).split(lens)):
                out[i] = lp
        masked = [i for i, o in enumerate(out) if o is None]
        if masked:
            for i, lp in zip(masked, self.masked_log_probs([feats[i] for i in masked], context)):
                out[i] = lp
        return out  # type: ignore[return-value]  # every entry is set above

    @torch.no_grad()
    def masked_log_probs(self, feats: list[torch.Tensor], context: Context) -> list[torch.Tensor]:
        """One masked batch over all utterances → per-utterance (L_b, V) CTC log-probs: what
        :meth:`ctc_log_probs` runs for utterances beyond the context and while a dropout is on."""
        batch = self.chunk_batch(feats, context)
        return batch.split(self.ctc.log_softmax(self.encoder(batch)[0]))

    @torch.no_grad()
    def ctc_log_probs_long(
        self, feats: torch.Tensor, context: Context, segment_frames: int, official_lookahead: bool = False
    ) -> torch.Tensor:
        """One long utterance (T, F) → (L, V) CTC log-probs, decoded in cached segments (see :meth:`long_segments`)."""
        return torch.cat(list(self.long_segments(feats, context, segment_frames, official_lookahead)), 0)

    @torch.no_grad()
    def long_segments(
        self, feats: torch.Tensor, context: Context, segment_frames: int, official_lookahead: bool = False
    ) -> Iterator[torch.Tensor]:
        """Yields CTC log-probs (≤ segment_frames, V) of consecutive segments of one long utterance (T, F).

        The official ``endless_decode`` algorithm: each segment runs with attention/conv caches of the previous
        one plus enough look-ahead; memory is bounded by the segment length, not the input length. With the exact
        look-ahead (default) the concatenation equals the one-shot masked batch up to float rounding.
        """
        c = context.chunk
        if segment_frames < c or segment_frames % c:
            raise ValueError(f"segment_frames must be a positive multiple of the chunk size {c}, got {segment_frames}")
        enc = self.encoder
        right = relative_right_context(context, enc.cfg.num_blocks, enc.conv_lorder, official_lookahead) * RATE
        step = segment_frames * RATE
        total = feats.size(0)
        att, cnn = enc.init_caches(context.left, self.device, feats.dtype)
        offset = 0
        for start in range(0, total, step):
            # the segment's fbank frames: its segment_frames output frames read window_size() = step + 7 frames
            # (the last output frame's receptive field ends 7 frames past the stride grid)
            end = min(start + window_size(segment_frames), total)
            batch = self.chunk_batch([feats[start : end + right]], context, [offset])
            y, att, cnn = enc(batch, att, cnn, keep=segment_frames)
            y = batch.split(y)[0]
            last = start + right >= total
            if not last:
                y = y[:segment_frames]
            offset += y.size(0)
            yield self.ctc.log_softmax(y)
            if last:
                break
