"""int8 through ONNX Runtime against our torch int8 (``quantize_int8``, what ``--int8`` does): speed and log-prob
agreement on the same masked chunk batch (issue 17: "torch int8 or ONNX Runtime int8 if it is faster").

**What is exported.** What ``ChunkFormerModel.ctc_log_probs`` runs after ``make_chunk_batch``: the chunk windows
``xs`` (N, size, 80), ``att_mask`` (N, l+c+r) and ``conv_mask`` (N, c+2·(k//2)) in, CTC log-probs (N, c, V) out
(CMVN, subsampling, all blocks, after-norm, CTC head, log-softmax). The number of chunks N is a dynamic axis; the
context [l, c, r] is fixed by the batch the graph is exported with (``effective_context`` picks it per batch, so
another batch geometry needs another export; ``OrtModel`` refuses a batch whose context differs). Cutting the
windows before and ``ChunkBatch.split`` after are the same torch code on both sides.

Exported with ``torch.onnx.export(dynamo=True)`` (torch.export + onnxscript): the TorchScript exporter
(``dynamo=False``) fails on ``Tensor.unfold`` with a dynamic input size (the overlapping attention and conv
windows). During export the encoder runs in one pass over all chunks (``_one_pass``: no chunk groups, the
subsampling over all windows at once): the per-group and per-window Python loops of the eager encoder would
be unrolled for the export batch's N, and the group count's ceiling division (a floor division of a negative
number) is exported as an ONNX integer ``Div`` that truncates, which gave a division by zero at run time. The
arithmetic per chunk is unchanged (the eager model's own modules run), so torch and ORT compute the same function.

**int8 ONNX.** ``onnxruntime.quantization.quantize_dynamic`` on the MatMul/Gemm nodes (the Linear layers and 1x1
convolutions: what ``quantize_int8`` quantises; the subsampling convs stay float32 on both sides) after ORT's
offline graph optimisation (constant folding, so that weights built in the graph such as the fused q|k|v
become initialisers and get quantised); weights QInt8 or QUInt8 (``--weight-type``), per output channel or per
tensor (``--per-channel``); activations are quantised per tensor to uint8 at run time (ORT's dynamic mode).

**Timing.** Sessions with ``intra_op_num_threads`` = N, ``inter_op_num_threads`` = 1 (sequential), full graph
optimisation; torch with ``torch.set_num_threads(N)``. For each thread count of ``--threads``: torch fp32, torch
int8, ORT fp32, ORT int8 alternate (``_common.alternate``: one untimed call each, then ``--reps`` rounds, order
flipped every round); median wall time, audio seconds per second, ratio to torch fp32. The batch and the models
are ``bench_int8.py``'s (``batch_features``, ``build``: the 24 demo test turns; ``large`` = seeded random weights).
Agreement (first call of each, against torch fp32): ``bench_int8.agreement``.

ONNX Runtime is a bench-only dependency, installed beside the venv (not in requirements.txt)::

    .venv/bin/pip install --target exp/ort onnxruntime==1.32.0 onnx onnxscript
    PYTHONPATH=. .venv/bin/python bench/bench_onnx_int8.py --models large,egs/callbot/demo/pretrained \
        --threads 2,1 --reps 7 --json exp/onnx_int8.json
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import bench_int8 as B  # noqa: E402

sys.path.insert(0, str(C.REPO))
from chunkformer.model.asr_model import ChunkFormerModel  # noqa: E402
from chunkformer.model.encoder import ChunkFormerEncoder  # noqa: E402
from chunkformer.model.masked_batch import ChunkBatch, Context  # noqa: E402
from chunkformer.model.quantize import has_vnni, quantize_int8  # noqa: E402

ORT_DIR = C.REPO / "exp" / "ort"
INSTALL = f".venv/bin/pip install --target {ORT_DIR} onnxruntime==1.32.0 onnx onnxscript"
Run = Callable[[], list[torch.Tensor]]


def import_ort() -> ModuleType:
    """onnxruntime from ``exp/ort`` (appended to sys.path, so the venv's numpy etc. keep precedence)."""
    if str(ORT_DIR) not in sys.path:
        sys.path.append(str(ORT_DIR))
    try:
        import onnxruntime
    except ImportError as e:
        raise SystemExit(f"bench_onnx_int8: onnxruntime does not import ({e}); install it with: {INSTALL}") from e
    return onnxruntime


class MaskedBatchGraph(nn.Module):
    """The model from chunk windows and masks to CTC log-probs (N, c, V), at a fixed context: the export target."""

    def __init__(self, model: ChunkFormerModel, context: Context) -> None:
        super().__init__()
        self.model = model
        self.context = context

    def forward(self, xs: torch.Tensor, att_mask: torch.Tensor, conv_mask: torch.Tensor) -> torch.Tensor:
        batch = ChunkBatch(xs, att_mask, conv_mask, [], torch.zeros(0, dtype=torch.long), self.context)
        return self.model.ctc.log_softmax(self.model.encoder(batch)[0])


@contextlib.contextmanager
def _one_pass(encoder: ChunkFormerEncoder) -> Iterator[None]:
    """The encoder over all chunks in one pass (group 0, subsampling of all windows at once) while exporting:
    its Python loops over groups and windows depend on N, which must stay a dynamic axis (module docstring)."""
    encoder.chunk_group = lambda *_: 0  # type: ignore[method-assign]
    encoder.subsample = encoder.embed.forward  # type: ignore[method-assign]
    try:
        yield
    finally:
        del encoder.chunk_group, encoder.subsample


def export(model: ChunkFormerModel, batch: ChunkBatch, path: Path) -> None:
    """fp32 ONNX of :class:`MaskedBatchGraph` at ``batch.context``, the number of chunks a dynamic axis."""
    n = torch.export.Dim("chunks", min=1)
    graph = MaskedBatchGraph(model, batch.context).eval()
    with _one_pass(model.encoder), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (batch.xs, batch.att_mask, batch.conv_mask), str(path), dynamo=True,
                          input_names=["xs", "att_mask", "conv_mask"], output_names=["log_probs"],
                          dynamic_shapes={"xs": {0: n}, "att_mask": {0: n}, "conv_mask": {0: n}}, verbose=False)


def quantize(fp32: Path, out: Path, weight_type: str, per_channel: bool) -> dict[str, int]:
    """int8 ONNX of ``fp32`` (module docstring); returns the counts of quantised and float products."""
    ort = import_ort()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folded = out.with_suffix(".folded.onnx")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # constant folding, portable ops
    opts.optimized_model_filepath = str(folded)
    ort.InferenceSession(str(fp32), opts, providers=["CPUExecutionProvider"])
    wt = {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}[weight_type]
    import onnx

    quantize_dynamic(folded, out, nodes_to_quantize=_linear_nodes(onnx.load(str(folded))), per_channel=per_channel,
                     weight_type=wt)
    ops = [node.op_type for node in onnx.load(str(out), load_external_data=False).graph.node]
    return {op: ops.count(op) for op in ("MatMulInteger", "DynamicQuantizeMatMul", "MatMul", "Gemm", "Conv")
            if op in ops}


def _linear_nodes(model: Any) -> list[str]:
    """MatMul/Gemm nodes with a 2-D constant weight: the Linear layers. The folded positional product
    (q+v)·pᵀ has a constant 3-D right side too; it is attention, which torch int8 leaves in float32 as well."""
    two_d = {t.name for t in model.graph.initializer if len(t.dims) == 2}
    return [n.name for n in model.graph.node if n.op_type in ("MatMul", "Gemm") and n.input[1] in two_d]


class OrtModel:
    """An ONNX session behind ``ctc_log_probs(feats, context)``: the same chunk batch and split as torch."""

    def __init__(self, path: Path, model: ChunkFormerModel, context: Context, threads: int) -> None:
        ort = import_ort()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.model, self.context = model, context

    def ctc_log_probs(self, feats: list[torch.Tensor], context: Context) -> list[torch.Tensor]:
        batch = self.model.chunk_batch(feats, context)
        if batch.context != self.context:
            raise ValueError(f"graph exported for context {self.context}, this batch has {batch.context}")
        y = self.session.run(None, {"xs": batch.xs.numpy(), "att_mask": batch.att_mask.numpy(),
                                    "conv_mask": batch.conv_mask.numpy()})[0]
        return batch.split(torch.from_numpy(y))


def _agreement(runs: dict[str, Run]) -> dict[str, dict]:
    ref = runs["torch fp32"]()
    out = {name: B.agreement(ref, run()) for name, run in runs.items() if name != "torch fp32"}
    for name, row in out.items():
        print(f"  agreement {name} vs torch fp32: {row}", flush=True)
    return out


def bench_model(spec: str, feats: list[torch.Tensor], a: argparse.Namespace, ctx: Context, work: Path) -> dict:
    """Export, quantise, check agreement and time the four variants at each thread count."""
    fp32, desc = B.build(spec)
    batch = fp32.chunk_batch(feats, ctx)
    tag = Path(spec).name
    onnx_fp32, onnx_int8 = work / f"{tag}.fp32.onnx", work / f"{tag}.int8.onnx"
    export(fp32, batch, onnx_fp32)
    ops = quantize(onnx_fp32, onnx_int8, a.weight_type, a.per_channel)
    int8 = quantize_int8(copy.deepcopy(fp32))
    audio_s = sum(f.size(0) for f in feats) / C.FRAMES_PER_SECOND
    out: dict = {"model": desc, "audio_s": round(audio_s, 1), "utterances": len(feats), "chunks": batch.xs.size(0),
                 "context": str(batch.context), "onnx_int8_ops": ops, "by_threads": {}}
    print(f"[{spec}] {desc}; {len(feats)} utterances, {audio_s:.1f} s, {batch.xs.size(0)} chunks at context "
          f"{batch.context}; int8 ONNX ops {ops}", flush=True)
    for n in [int(t) for t in a.threads.split(",")]:
        torch.set_num_threads(n)
        models = {"torch fp32": fp32, "torch int8": int8,
                  "ORT fp32": OrtModel(onnx_fp32, fp32, batch.context, n),
                  "ORT int8": OrtModel(onnx_int8, fp32, batch.context, n)}
        runs: dict[str, Run] = {k: (lambda m=m: m.ctc_log_probs(feats, ctx)) for k, m in models.items()}
        if "agreement" not in out:
            out["agreement"] = _agreement(runs)
        t = C.alternate(runs, a.reps, warmup=1)
        base = t.median("torch fp32")
        out["by_threads"][n] = {"timing": t.summary(), **{
            k: {"audio_s_per_s": round(audio_s / t.median(k), 2), "vs_torch_fp32": round(base / t.median(k), 3)}
            for k in runs}}
        print(f"[{spec}] {n} thread(s): " + ", ".join(
            f"{k} {v['audio_s_per_s']} audio-s/s ({v['vs_torch_fp32']}x)" for k, v in out["by_threads"][n].items()
            if k != "timing"), flush=True)
    return out


def table(results: list[dict]) -> str:
    """Markdown: audio-s/s and ratio to torch fp32 per model, thread count and variant."""
    names = ["torch fp32", "torch int8", "ORT fp32", "ORT int8"]
    lines = ["| model | threads | " + " | ".join(names) + " | ORT int8 / torch int8 |",
             "|---|---|" + "---|" * (len(names) + 1)]
    for r in results:
        for n, row in r["by_threads"].items():
            cells = [f"{row[k]['audio_s_per_s']:.1f} ({row[k]['vs_torch_fp32']:.2f}x)" for k in names]
            ratio = row["ORT int8"]["audio_s_per_s"] / row["torch int8"]["audio_s_per_s"]
            lines.append(f"| {r['model'].split(' (')[0]} | {n} | " + " | ".join(cells) + f" | **{ratio:.2f}** |")
    lines += ["", "| model | variant vs torch fp32 | max \\|Δ\\| | mean \\|Δ\\| | same argmax % | same greedy |",
              "|---|---|---|---|---|---|"]
    for r in results:
        for k, g in r["agreement"].items():
            lines.append(f"| {r['model'].split(' (')[0]} | {k} | {g['max_abs_diff']:.3g} | {g['mean_abs_diff']:.3g} "
                         f"| {g['argmax_agree_pct']:.2f} | {g['greedy_identical_utts']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    B.add_speed_args(ap, "all four variants")
    ap.add_argument("--weight-type", choices=["qint8", "quint8"], default="qint8", help="int8 ONNX weights")
    ap.add_argument("--per-channel", action=argparse.BooleanOptionalAction, default=True,
                    help="int8 ONNX weight scales per output channel (default) or per tensor")
    ap.add_argument("--work", type=Path, help="where the .onnx files go (default: a temporary directory)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    a = ap.parse_args()
    ort = import_ort()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" from the exporter
    ctx = Context.parse(a.context)
    C.setup_torch(int(a.threads.split(",")[0]))
    feats, what = B.batch_features(a)
    result: dict = {"benchmark": "onnx_int8", "vnni": has_vnni(), "context": str(ctx), "reps": a.reps,
                    "batch": what, "weight_type": a.weight_type, "per_channel": a.per_channel,
                    "onnxruntime": ort.__version__}
    with tempfile.TemporaryDirectory(prefix="onnx_int8_") as tmp:
        work = a.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        result["speed"] = [bench_model(m, feats, a, ctx, work) for m in a.models.split(",") if m and m != "none"]
    result["engine"] = torch.backends.quantized.engine  # set by quantize_int8
    result["machine"] = C.machine()
    print(table(result["speed"]))
    if a.json:
        C.write_json(a.json, result)


if __name__ == "__main__":
    main()
