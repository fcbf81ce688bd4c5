"""Shared helpers for the side-by-side benchmarks (ours vs the official chunkformer 1.2.2).

Why one process: both implementations then run on the same weights, the same features, the same threads and
the same (noisy, shared) CPU, alternating, so machine noise hits both alike and the ratio is meaningful.

Both packages are called ``chunkformer``. :func:`import_both` imports the official one first (from the
official venv's site-packages), moves its modules to ``official_chunkformer.*`` in ``sys.modules`` (module
objects keep their own references, so the official code keeps working), then imports ours from this
repository. The benchmarks therefore must run with the official venv's python (which also has torch, numpy,
scipy, soundfile and PyYAML for our package). ``../shared/tools/official/setup.sh`` run from the repository root
builds that venv in ``.venv-official/`` (git-ignored; ``$OFFICIAL_VENV`` overrides the place) and prints its
python, so from the repository root::

    PY=$(../shared/tools/official/setup.sh)      # = .venv-official/bin/python
    nice -n 5 $PY bench/bench_inference.py --size small

Weights: the official ``init_speech_model`` builds a seeded random model (CTC head only, no attention
decoder); its ``encoder.*``/``ctc.*`` state dict is written in the official folder format and loaded into
ours with :func:`chunkformer.checkpoint.load_model`, so both hold bit-identical weights.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OFFICIAL_PYTHON = str(Path(os.environ.get("OFFICIAL_VENV", REPO / ".venv-official")) / "bin" / "python")

# (d_model, heads, ffn units, blocks): the released large model, and the small LibriSpeech recipe (v1.yaml)
SIZES: dict[str, tuple[int, int, int, int]] = {
    "large": (512, 8, 2048, 17),
    "small": (256, 4, 2048, 12),
    "tiny": (64, 2, 256, 2),
}
VOCAB = 6992  # the Vietnamese release's vocabulary size (the CTC head's cost depends on it)
FRAMES_PER_SECOND = 100  # fbank frame shift 10 ms

_official: SimpleNamespace | None = None


def import_both() -> SimpleNamespace:
    """Imports the official package (renamed ``official_chunkformer``) and then ours; returns the official API.

    Attributes: ``init_speech_model``, ``ChunkFormerModel`` (the HF-style wrapper), ``module(name)``.
    """
    global _official
    if _official is not None:
        return _official
    if "chunkformer" in sys.modules and not hasattr(sys.modules["chunkformer"], "ChunkFormerModel"):
        raise RuntimeError("bench/_common.py: our chunkformer was imported before the official one; "
                           "call import_both() first")
    import warnings

    warnings.filterwarnings("ignore")
    try:
        off_root = importlib.import_module("chunkformer")
        init_model = importlib.import_module("chunkformer.utils.init_model")
        hf = importlib.import_module("chunkformer.chunkformer_model")
    except ImportError as e:
        raise SystemExit(f"bench: the official chunkformer does not import ({e}); run with {OFFICIAL_PYTHON}") from e
    # the official venv may live inside the repository (.venv-official/): compare with our package directory
    if Path(off_root.__file__).resolve().parent == REPO / "chunkformer":
        raise SystemExit(f"bench: imported our own package as the official one; run with {OFFICIAL_PYTHON} "
                         "and without the repository root on PYTHONPATH")
    moved: dict[str, ModuleType] = {}
    for name in [n for n in sys.modules if n == "chunkformer" or n.startswith("chunkformer.")]:
        moved["official_" + name] = sys.modules.pop(name)
    sys.modules.update(moved)
    sys.path.insert(0, str(REPO))
    ours = importlib.import_module("chunkformer")
    if Path(ours.__file__).resolve().parent != REPO / "chunkformer":
        raise SystemExit(f"bench: could not import our chunkformer from {REPO}")
    _official = SimpleNamespace(
        init_speech_model=init_model.init_speech_model,
        ChunkFormerModel=hf.ChunkFormerModel,
        module=lambda name: sys.modules["official_chunkformer." + name],
    )
    return _official


def official_config(size: str, vocab: int = VOCAB) -> dict:
    """An official ``config.yaml`` dict for one of :data:`SIZES` (CTC-only: ``ctc_weight`` 1)."""
    d, h, u, n = SIZES[size]
    return {
        "input_dim": 80, "output_dim": vocab, "model": "asr_model", "encoder": "chunkformer",
        "encoder_conf": dict(output_size=d, attention_heads=h, linear_units=u, num_blocks=n, dropout_rate=0.1,
                             positional_dropout_rate=0.1, attention_dropout_rate=0.1, input_layer="dw_striding",
                             normalize_before=True, cnn_module_kernel=15, use_cnn_module=True,
                             activation_type="swish", pos_enc_layer_type="chunk_rel_pos",
                             selfattention_layer_type="chunk_rel_seflattn", cnn_module_norm="layer_norm",
                             dynamic_conv=True),
        # the official builder always makes an attention decoder; keep it minimal (it is dropped after building)
        "decoder": "transformer",
        "decoder_conf": dict(attention_heads=h, linear_units=u, num_blocks=1),
        "ctc_conf": {"ctc_blank_id": 0},
        "model_conf": dict(ctc_weight=1.0, lsm_weight=0.1),
        "is_json_cmvn": True,
    }


def make_model_folder(out_dir: str | Path, size: str, seed: int = 7, vocab: int = VOCAB) -> Path:
    """Writes an official-format folder (config.yaml, global_cmvn, pytorch_model.bin, vocab.txt) whose
    weights come from the official ``init_speech_model`` with ``torch.manual_seed(seed)``."""
    import torch
    import yaml

    off = import_both()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    # roughly the statistics of int16-scale 80-bin log-mel fbank of speech
    mean = torch.linspace(11.0, 8.0, 80, dtype=torch.float64) + 0.5 * torch.rand(80, generator=g, dtype=torch.float64)
    std = 2.0 + 0.5 * torch.rand(80, generator=g, dtype=torch.float64)
    frames = 100000
    (out / "global_cmvn").write_text(json.dumps(
        {"mean_stat": (mean * frames).tolist(), "var_stat": ((std**2 + mean**2) * frames).tolist(),
         "frame_num": frames}))
    cfg = official_config(size, vocab)
    build = dict(cfg, cmvn="global_cmvn", cmvn_conf={"cmvn_file": str(out / "global_cmvn"), "is_json_cmvn": True})
    torch.manual_seed(seed)
    model, _ = off.init_speech_model(None, build)
    with torch.no_grad():
        for name, prm in model.named_parameters():
            if prm.dim() == 1 and "norm" in name:  # make LayerNorms non-trivial
                prm.add_(0.05 * torch.randn(prm.shape, generator=g))
        model.ctc.ctc_lo.weight.mul_(4.0)  # sharper CTC posteriors: greedy outputs with some margin
    sd = {k: v for k, v in model.state_dict().items() if k.startswith(("encoder.", "ctc."))}
    torch.save(sd, out / "pytorch_model.bin")
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (out / "vocab.txt").write_text("<blank> 0\n<unk> 1\n" + "".join(f"▁t{i} {i}\n" for i in range(2, vocab)))
    return out


def load_official(folder: str | Path) -> Any:
    """The official inner ``ASRModel`` built from ``folder`` by ``init_speech_model`` (decoder dropped), eval."""
    import torch
    import yaml

    off = import_both()
    folder = Path(folder)
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    build = dict(cfg, cmvn="global_cmvn",
                 cmvn_conf={"cmvn_file": str(folder / "global_cmvn"), "is_json_cmvn": True})
    model, _ = off.init_speech_model(None, build)
    model.decoder = None  # CTC-only comparison: our model has no attention decoder either
    missing, unexpected = model.load_state_dict(torch.load(folder / "pytorch_model.bin", map_location="cpu"),
                                                strict=False)
    bad = [k for k in missing if k.startswith(("encoder.", "ctc."))] + list(unexpected)
    if bad:
        raise RuntimeError(f"{folder}: official model did not load cleanly: {bad[:5]}")
    return model.eval()


def load_ours(folder: str | Path) -> Any:
    import_both()
    from chunkformer.checkpoint import load_model

    return load_model(folder).model.eval()


def random_feats(seconds: float, seed: int) -> Any:
    """(T, 80) float32 features for ``seconds`` of 16 kHz audio (Kaldi frame count), ~N(0,1) after CMVN.

    Random features keep the benchmark independent of audio I/O and cheap to make for hours of input; the
    models are random too, so speech-like features would not make the outputs more meaningful.
    """
    import torch

    samples = int(round(seconds * 16000))
    t = 1 + (samples - 400) // 160
    g = torch.Generator().manual_seed(seed)
    mean = torch.linspace(11.0, 8.0, 80)
    return torch.randn(t, 80, generator=g) * 2.2 + mean


def official_ctc_log_probs(model: Any, feats: list[Any], left: int, chunk: int, right: int) -> list[Any]:
    """The official masked batch (what ``batch_decode`` runs): ``forward_parallel_chunk`` + CTC log-softmax."""
    import torch

    with torch.no_grad():
        lens = torch.tensor([f.size(0) for f in feats])
        xs, xs_lens, n_chunks, _, _, _ = model.encoder.forward_parallel_chunk(
            xs=feats, xs_origin_lens=lens, chunk_size=chunk, left_context_size=left, right_context_size=right)
        y = model.ctc.log_softmax(xs)
        return [p.reshape(-1, p.size(-1))[: int(n)] for p, n in zip(y.split(n_chunks, 0), xs_lens)]


def compare(ours: list[Any], official: list[Any]) -> dict[str, float]:
    """max |Δ| of log-probs and the fraction of frames with the same argmax (greedy CTC output)."""

    if [o.shape for o in ours] != [o.shape for o in official]:
        raise AssertionError(f"output shapes differ: {[tuple(o.shape) for o in ours]} vs "
                             f"{[tuple(o.shape) for o in official]}")
    diff = max(float((a - b).abs().max()) for a, b in zip(ours, official))
    same = sum(int((a.argmax(-1) == b.argmax(-1)).sum()) for a, b in zip(ours, official))
    total = sum(a.size(0) for a in ours)
    return {"max_abs_diff": diff, "argmax_agree": same / total}


@dataclass
class Timing:
    times: dict[str, list[float]]

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def summary(self) -> dict[str, Any]:
        return {k: {"median_s": round(self.median(k), 4), "runs_s": [round(t, 4) for t in v]}
                for k, v in self.times.items()}


def alternate(fns: dict[str, Callable[[], Any]], reps: int, warmup: int = 1, log: Callable[[str], None] = print
              ) -> Timing:
    """Runs each function ``warmup`` times untimed, then ``reps`` rounds of all functions in turn (the order
    flips every round so neither side always runs right after the other); wall time per call."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(reps):
        for name in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            fns[name]()
            dt = time.perf_counter() - t0
            times[name].append(dt)
            log(f"  rep {r + 1}/{reps} {name}: {dt:.3f} s")
    return Timing(times)


def write_json(path: str | Path, obj: Any) -> Path:
    """Writes ``obj`` as indented JSON to ``path`` (a benchmark's ``--json`` file), creating its folder first:
    the documented commands write into ``exp/...``, which a fresh clone does not have, and a long run must not
    end in FileNotFoundError after measuring. Returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(obj, indent=1) + "\n")
    return out


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (VmHWM), MiB."""
    return _status_kb("VmHWM") / 1024


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


def reset_peak_rss() -> None:
    """Resets VmHWM to the current RSS (Linux ``clear_refs`` 5), so a later peak measures one phase only."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {key}")


def setup_torch(threads: int = 2) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


def machine() -> dict[str, Any]:
    import platform

    import torch

    return {"cpu": _cpu_name(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version()}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"
