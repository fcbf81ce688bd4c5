"""int8 inference: the model's matrix products with int8 weights and int8 activations (fbgemm/x86 kernels).

:func:`quantize_int8` replaces, in place, every large matrix product of an inference model by an
:class:`Int8Linear`: both feed-forward layers of every block, the fused q|k,v projection and the attention
output, the two pointwise convolutions of the conv module, the subsampling's two pointwise convolutions and its
output projection, and the CTC head. The subsampling's first and depthwise convolutions, the blocks' depthwise
conv, attention scores, softmax and LayerNorms stay float32, and so does the masked-batch geometry (same chunks,
masks and results layout).

Weights are quantised once, symmetric per output channel (``qint8``). Activations are quantised at run time
**per row** (one scale per frame), not per tensor as ``torch.ao.quantization.quantize_dynamic`` does: each
row is divided by its own max |x| before the fbgemm int8 GEMM and multiplied back after it, so every row lies
in [-1, 1] and is quantised with one fixed scale (:data:`_ACT_GRID`). So a frame's quantisation
depends on that frame alone: a loud utterance in the batch does not coarsen a quiet one, and with the same
chunk geometry an utterance gets the same result alone or in any batch (up to float rounding, as in float32).
A batch whose lengths change the chunk size chosen by ``effective_context`` changes float rounding in the
unquantised parts, which int8 rounding can amplify: then a few frames differ (measured in
docs/SERVING.md). Per-row scaling costs two cheap elementwise passes per product.

Two kernel libraries (``backend``): fbgemm (torch's ``x86``/``fbgemm`` engine) and oneDNN (``onednn``).
:func:`default_backend` takes oneDNN on CPUs with AMX-INT8 tiles, whose int8 products oneDNN runs on them and
fbgemm does not (measured on an Intel Xeon with AMX, the large model at 2 threads on a batch of 24 turns: 1.83×
float32 with oneDNN, 1.57× with fbgemm, same run; docs/BENCHMARKS.md), and fbgemm everywhere else (AMD Zen 4,
AVX-512 VNNI: 1.80–1.88×). oneDNN's gain needs many rows per product: one short turn per call is faster with
fbgemm even there (1.55× against 1.46×), hence ``backend`` (``--int8-backend``) to override the default.
oneDNN's product has no fixed-grid entry point: it measures its input's range itself, so the rows scaled into
[-1, 1] go to it with two pinned rows of +1 and -1, which make that range [-1, 1] in every batch (and
keeps a frame's result independent of its neighbours).

``reduce_range`` (7-bit activations, torch's default for fbgemm) avoids the int16 saturation of AVX2's
u8×s8 multiply-add; CPUs with VNNI accumulate in int32 and get the full 8 bits (:func:`has_vnni`), which
halves the quantisation step (measured on the demo model: 99.7 % of frames with the float argmax instead of
99.5 %). torch marks its quantised-tensor API as deprecated (torchao is the named successor; the plain
``torch._int_mm`` int8 product was 3× slower than fbgemm on a 2048×512×2048 product here): docs/SERVING.md.

>>> import torch
>>> lin = torch.nn.Linear(64, 32)
>>> q = Int8Linear.from_linear(lin)
>>> x = torch.randn(5, 64)
>>> bool(torch.allclose(q(x), lin(x), atol=0.05))
True
>>> bool(torch.equal(q(x)[:2], q(x[:2])))   # a row's result does not depend on the other rows
True
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from chunkformer.model.asr_model import ChunkFormerModel

_TINY = 1e-30  # floor of a row's max |x| (an all-zero row stays zero)
# uint8 (scale, zero point) of a row scaled into [-1, 1], by reduce_range: what fbgemm's dynamic quantisation
# chooses for the range [-1, 1] (bit-identical results), given up front so that the product skips its own pass
# over the input to find the range (measured 14 % faster for the whole large model at 2 threads, 13 of 15 rounds).
# 7-bit: codes 0…128, whose pairwise u8×s8 sums stay below int16's limit (128·127·2 < 32767).
_ACT_GRID = {False: (2.0 / 255, 128), True: (2.0 / 127, 64)}


class QuantizationError(RuntimeError):
    """int8 inference is not available here (no fbgemm/x86 quantised engine); the message says why."""


BACKENDS = ("fbgemm", "onednn")  # the kernel libraries of the int8 products (module docstring)


def select_engine(backend: str = "fbgemm") -> str:
    """Sets torch's quantised engine for ``backend`` (fbgemm: ``x86`` or ``fbgemm``; ``onednn``) and returns its
    name; raises if this build has none of them."""
    engines = torch.backends.quantized.supported_engines
    for name in ("x86", "fbgemm") if backend == "fbgemm" else (backend,):
        if name in engines:
            torch.backends.quantized.engine = name
            return name
    raise QuantizationError(f"int8 with {backend} needs torch's quantised engine for it; this build has {engines}")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``/proc/cpuinfo``; empty where it cannot be read)."""
    try:
        return frozenset(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return frozenset()


def has_vnni() -> bool:
    """True when the CPU has AVX-512 VNNI or AVX-VNNI (int8 products accumulate in int32, no saturation)."""
    return bool({"avx512_vnni", "avx_vnni"} & cpu_flags())


def default_backend(flags: frozenset[str] | None = None) -> str:
    """``"onednn"`` on a CPU with AMX-INT8 (``flags``: default this CPU's), else ``"fbgemm"`` (module docstring)."""
    return "onednn" if "amx_int8" in (cpu_flags() if flags is None else flags) else "fbgemm"


class Int8Linear(nn.Module):
    """``y = x Wᵀ + b`` with W in int8 (per output channel) and x quantised to 8 bits per row at run time.

    ``per_row=False`` quantises x per tensor instead (what ``torch.ao.quantization.quantize_dynamic`` does):
    kept for the benchmark that measures what per-row scaling costs.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, per_row: bool = True,
                 reduce_range: bool | None = None, backend: str | None = None) -> None:
        super().__init__()
        w = weight.detach().float().contiguous()
        self.in_features, self.out_features = w.shape[1], w.shape[0]
        self.per_row = per_row
        self.backend = default_backend() if backend is None else backend
        if self.backend not in BACKENDS:
            raise ValueError(f"int8 backend must be one of {BACKENDS}, not {self.backend!r}")
        self.reduce_range = not has_vnni() if reduce_range is None else reduce_range
        scale = (w.abs().amax(1).clamp_min(_TINY) / 127.0).double()
        with warnings.catch_warnings():  # the quantised-tensor API warns that it is deprecated (see module doc)
            warnings.simplefilter("ignore")
            wq = torch.quantize_per_channel(w, scale, torch.zeros(w.shape[0], dtype=torch.long), 0, torch.qint8)
            b = bias.detach().float().contiguous() if bias is not None else None
            engine = torch.backends.quantized.engine
            select_engine(self.backend)  # the packed weights belong to the engine current at packing
            try:
                self._packed = torch.ops.quantized.linear_prepack(wq, None if per_row else b)
            finally:
                torch.backends.quantized.engine = engine
        self.register_buffer("bias", b if per_row else None)
        pin = torch.tensor([[1.0], [-1.0]]).expand(2, self.in_features).contiguous()
        self.register_buffer("_pin", pin if self.backend == "onednn" else None, persistent=False)

    @classmethod
    def from_linear(cls, lin: nn.Linear, per_row: bool = True, backend: str | None = None) -> Int8Linear:
        return cls(lin.weight, lin.bias, per_row, backend=backend)

    def _scaled_product(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """The int8 product of the rows ``x / m`` (each in [-1, 1]), on the fixed activation grid."""
        if self._pin is None:
            return torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(
                x / m, *_ACT_GRID[self.reduce_range], self._packed)
        rows = x.new_empty(x.shape[0] + 2, self.in_features)
        torch.div(x, m, out=rows[:-2])
        rows[-2:] = self._pin  # oneDNN measures the range itself: the pinned rows make it [-1, 1]
        return torch.ops.quantized.linear_dynamic(rows, self._packed, self.reduce_range)[:-2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x = x.reshape(-1, self.in_features).float()
        if not self.per_row:
            y = torch.ops.quantized.linear_dynamic(x, self._packed, self.reduce_range)
            return y.view(*lead, self.out_features)
        m = x.abs().amax(1, keepdim=True).clamp_min_(_TINY)
        y = self._scaled_product(x, m)
        # in place: a fresh (rows, out) result would page-fault on every call (measured ~6x the pass itself)
        y = torch.addcmul(self.bias, y, m, out=y) if self.bias is not None else y.mul_(m)
        return y.view(*lead, self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, per_row={self.per_row}, "
                f"reduce_range={self.reduce_range}, backend={self.backend}")


def _conv1x1(conv: nn.Conv1d, per_row: bool, backend: str) -> Int8Linear:
    return Int8Linear(conv.weight.squeeze(-1), conv.bias, per_row, backend=backend)


class Int8Pointwise2d(nn.Module):
    """A 1×1 ``Conv2d`` (N, C, T, F) → (N, C', T, F) as an :class:`Int8Linear` over the channels of each (t, f)
    position (a row per position, so per-row scaling keeps positions independent). Returns a channels-last view:
    the depthwise convolution after it reads that layout without a copy."""

    def __init__(self, conv: nn.Conv2d, per_row: bool, backend: str | None = None) -> None:
        super().__init__()
        self.lin = Int8Linear(conv.weight.flatten(1), conv.bias, per_row, backend=backend)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, f = x.shape
        y = self.lin(x.permute(0, 2, 3, 1).reshape(-1, c))
        return y.view(n, t, f, -1).permute(0, 3, 1, 2)


def quantize_int8(model: ChunkFormerModel, per_row: bool = True, backend: str | None = None) -> ChunkFormerModel:
    """Turns ``model`` (in place) into an int8 inference model and returns it; see the module docstring.
    ``backend``: ``"fbgemm"`` or ``"onednn"``; default :func:`default_backend`.

    Inference only: the int8 products have no gradient, and the model's state dict is no longer a checkpoint
    (save or export the float model).
    """
    if is_int8(model):
        return model
    backend = default_backend() if backend is None else backend
    select_engine(backend)
    model.eval()
    enc = model.encoder

    def lin(m: nn.Linear) -> Int8Linear:
        return Int8Linear.from_linear(m, per_row, backend)

    enc.embed.out = lin(enc.embed.out)
    for i in (3, 6):  # the subsampling's two pointwise convolutions (module docstring of subsampling.py)
        enc.embed.conv[i] = Int8Pointwise2d(enc.embed.conv[i], per_row, backend)
    for layer in enc.encoders:
        for ff in (layer.feed_forward, layer.feed_forward_macaron):
            ff.w_1, ff.w_2 = lin(ff.w_1), lin(ff.w_2)
        att = layer.self_attn
        with torch.no_grad():
            att.qkv_int8 = Int8Linear(*att.fused_qkv(), per_row=per_row, backend=backend)
        att.linear_out = lin(att.linear_out)
        conv = layer.conv_module
        conv.pointwise1_int8 = _conv1x1(conv.pointwise_conv1, per_row, backend)
        conv.pointwise2_int8 = _conv1x1(conv.pointwise_conv2, per_row, backend)
    model.ctc.ctc_lo = lin(model.ctc.ctc_lo)
    return model


def is_int8(model: nn.Module) -> bool:
    """True when :func:`quantize_int8` has been applied to ``model``."""
    return any(isinstance(m, Int8Linear) for m in model.modules())


def int8_backend(model: nn.Module) -> str | None:
    """The backend of ``model``'s int8 products (``"fbgemm"`` or ``"onednn"``), None for a float model."""
    return next((m.backend for m in model.modules() if isinstance(m, Int8Linear)), None)
