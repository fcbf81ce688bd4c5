"""Loading and saving ChunkFormer checkpoints in every form a user has.

Accepted by :func:`load_model`:
- an official model folder: ``config.yaml``, ``pytorch_model.bin`` (or ``.pt``/``.ckpt``), ``vocab.txt``,
  optional ``global_cmvn`` (JSON stats);
- a bare WeNet-style state-dict file (``paper_final_checkpoint.pt``): the architecture is inferred from tensor
  shapes; ``vocab.txt``/``global_cmvn``/``config.yaml`` are looked for beside it or given explicitly;
- our own checkpoints (training ``epoch-N.pt``/``checkpoint-STEP.pt``, averaged or exported model files),
  which carry their config and vocabulary.

Every file is read with ``torch.load(weights_only=True)``: a checkpoint can never run code. Keys outside the
CTC model (the attention decoder) are kept in ``LoadedModel.extra_state`` and written back on export.

>>> # loaded = load_model("chunkformer-large-vie")           # official folder
>>> # loaded = load_model("paper_final.pt", vocab="vocab.txt")
"""

from __future__ import annotations

import argparse
import copy
import json
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from chunkformer.frontend import NUM_MEL_BINS
from chunkformer.model.asr_model import ChunkFormerModel, ModelConfig
from chunkformer.model.cmvn import cmvn_json, read_cmvn_json
from chunkformer.model.encoder import EncoderConfig
from chunkformer.model.masked_batch import Context
from chunkformer.model.quantize import BACKENDS
from chunkformer.model.subsampling import conv_out_len
from chunkformer.tokenizer import Tokenizer
from chunkformer.utils.cli import first_line
from chunkformer.utils.io import atomic_write, atomic_write_text

FORMAT_TRAIN = "chunkformer-callbot/train"
FORMAT_MODEL = "chunkformer-callbot/model"
WEIGHT_NAMES = ("pytorch_model.bin", "pytorch_model.pt", "pytorch_model.ckpt", "model.pt", "final.pt")
_OURS = re.compile(r"^(encoder|ctc)\.")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and says what to do."""


@dataclass
class LoadedModel:
    model: ChunkFormerModel
    tokenizer: Tokenizer
    config: dict  # official-style config.yaml content (input_dim, output_dim, encoder_conf, decoder…)
    extra_state: dict[str, torch.Tensor] = field(default_factory=dict)
    source: str = ""
    kind: str = ""  # official-folder | state-dict | train | model
    checkpoint: dict[str, Any] | None = None  # the full training checkpoint when kind == "train"


def safe_load(path: str | Path, mmap: bool = False) -> Any:
    """``torch.load(weights_only=True)`` with one-line errors for missing, pickled-code and truncated files;
    ``mmap`` maps tensors instead of reading them (cheap when only a few fields are needed)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        text = str(e).lower()
        if ("weights only" in text or "weights_only" in text) and "unsupported operand" not in text:
            raise CheckpointError(
                f"{path}: refused: the file holds pickled Python objects that could run code when loaded; "
                "re-save it as a plain state dict (torch.save(model.state_dict(), ...))"
            ) from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (corrupt, truncated or another kind of file)"
                              ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as e:  # EOFError of an empty file has no message
        reason = "empty file" if path.stat().st_size == 0 else first_line(e)
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({reason})") from None
    except Exception:  # the unpickler raises KeyError, IndexError, ... on the bytes of another kind of file
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (corrupt, truncated or another kind of file)"
                              ) from None


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` that a crash never leaves half-written (:func:`chunkformer.utils.io.atomic_write`)."""
    atomic_write(path, lambda f: torch.save(obj, f))


def _state_dict_of(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state_dict"):
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
        if obj and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
            return obj
    raise CheckpointError(f"{path}: unknown checkpoint format (expected a state dict of tensors, an official "
                          "model folder, or a chunkformer training checkpoint)")


def infer_config(sd: dict[str, torch.Tensor], input_dim: int = NUM_MEL_BINS, path: str = "") -> dict:
    """An official-style config from tensor shapes of a bare encoder + CTC state dict."""
    def need(key: str) -> torch.Tensor:
        if key not in sd:
            raise CheckpointError(f"{path}: missing key {key}; not a ChunkFormer encoder+CTC state dict")
        return sd[key]

    d = need("encoder.embed.out.weight").shape[0]
    f_out = need("encoder.embed.out.weight").shape[1] // need("encoder.embed.conv.0.weight").shape[0]
    if conv_out_len(input_dim) != f_out:
        raise CheckpointError(f"{path}: subsampling output has {f_out} frequency bins, which does not fit "
                              f"input_dim={input_dim}; pass the right --input-dim")
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"encoder\.encoders\.(\d+)\.", k))}
    if not blocks:
        raise CheckpointError(f"{path}: no encoder blocks (encoder.encoders.N.*) in the state dict")
    enc = EncoderConfig(
        input_dim=input_dim,
        output_size=d,
        attention_heads=need("encoder.encoders.0.self_attn.pos_bias_u").shape[0],
        linear_units=need("encoder.encoders.0.feed_forward.w_1.weight").shape[0],
        num_blocks=max(blocks) + 1,
        cnn_module_kernel=need("encoder.encoders.0.conv_module.depthwise_conv.weight").shape[2],
    )
    cfg: dict[str, Any] = {"input_dim": input_dim, "output_dim": need("ctc.ctc_lo.weight").shape[0],
                           "model": "asr_model", "encoder": "chunkformer", "encoder_conf": enc.to_official(),
                           "ctc_conf": {"ctc_blank_id": 0}, "is_json_cmvn": True}
    cfg.update(_infer_decoder(sd, enc))
    return cfg


def _infer_decoder(sd: dict[str, torch.Tensor], enc: EncoderConfig) -> dict:
    """decoder/decoder_conf for carried-along attention-decoder weights, so the official code loads them."""
    def count(prefix: str) -> int:
        return len({m.group(1) for k in sd if (m := re.match(rf"{re.escape(prefix)}\.decoders\.(\d+)\.", k))})

    if count("decoder.left_decoder"):
        w1 = next(v for k, v in sd.items() if k.startswith("decoder.left_decoder.") and k.endswith("w_1.weight"))
        return {"decoder": "bitransformer", "decoder_conf": {
            "attention_heads": enc.attention_heads, "linear_units": w1.shape[0],
            "num_blocks": count("decoder.left_decoder"), "r_num_blocks": count("decoder.right_decoder")}}
    if count("decoder"):
        w1 = next(v for k, v in sd.items() if k.startswith("decoder.decoders.") and k.endswith("w_1.weight"))
        return {"decoder": "transformer", "decoder_conf": {
            "attention_heads": enc.attention_heads, "linear_units": w1.shape[0], "num_blocks": count("decoder")}}
    return {}


def model_config(cfg: dict, use_cmvn: bool) -> ModelConfig:
    if cfg.get("encoder", "chunkformer") != "chunkformer" or cfg.get("model", "asr_model") != "asr_model":
        raise CheckpointError(f"unsupported model {cfg.get('model')}/{cfg.get('encoder')}: only ChunkFormer CTC "
                              "(model: asr_model, encoder: chunkformer) is supported")
    try:
        enc = EncoderConfig.from_official(cfg.get("encoder_conf") or {}, int(cfg.get("input_dim", NUM_MEL_BINS)))
        return ModelConfig(vocab_size=int(cfg["output_dim"]), encoder=enc, use_cmvn=use_cmvn)
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"bad model config: {e}") from None


def build_model(cfg: dict, sd: dict[str, torch.Tensor], cmvn: tuple[torch.Tensor, torch.Tensor] | None,
                path: str) -> tuple[ChunkFormerModel, dict[str, torch.Tensor]]:
    """Builds the model and loads ``sd`` strictly; returns it and the keys that are not ours."""
    ours = {k: v for k, v in sd.items() if _OURS.match(k)}
    extra = {k: v for k, v in sd.items() if not _OURS.match(k)}
    has_cmvn = "encoder.global_cmvn.mean" in ours
    model = ChunkFormerModel(model_config(cfg, use_cmvn=has_cmvn or cmvn is not None))
    if not has_cmvn and cmvn is not None:
        ours["encoder.global_cmvn.mean"], ours["encoder.global_cmvn.istd"] = cmvn
    want = model.state_dict()
    for k, v in ours.items():
        if k in want and tuple(want[k].shape) != tuple(v.shape):
            raise CheckpointError(f"{path}: shape mismatch for {k}: checkpoint {tuple(v.shape)} vs model "
                                  f"{tuple(want[k].shape)} (config and weights disagree)")
    missing = sorted(set(want) - set(ours))
    unexpected = sorted(set(ours) - set(want))
    if missing or unexpected:
        raise CheckpointError(f"{path}: state dict does not match the model: missing {missing[:5]}"
                              f"{'…' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                              f"{'…' if len(unexpected) > 5 else ''}")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ours.items()}, strict=True)
    return model, extra


def _read_config(path: Path) -> dict:
    """A ``config.yaml`` as a dict; CheckpointError naming the file when it is not YAML, not a mapping, or its
    ``output_dim`` is not a number."""
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: invalid YAML ({e})") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path}: not a model config (a YAML mapping), but a {type(cfg).__name__}")
    try:
        int(cfg.get("output_dim", 0))
    except (TypeError, ValueError):
        raise CheckpointError(f"{path}: output_dim must be the number of CTC outputs, got {cfg['output_dim']!r}"
                              ) from None
    return cfg


def _check_vocab(tok: Tokenizer, cfg: dict, vocab_path: str) -> None:
    if len(tok) != int(cfg["output_dim"]):
        raise CheckpointError(f"{vocab_path}: vocabulary has {len(tok)} tokens but the CTC layer outputs "
                              f"{cfg['output_dim']}; pass the vocab.txt that belongs to this checkpoint")


def _beside(path: Path, name: str, given: str | Path | None) -> Path | None:
    if given is not None:
        p = Path(given)
        if not p.is_file():
            raise CheckpointError(f"{p}: file not found")
        return p
    p = path.parent / name if path.is_file() else path / name
    return p if p.is_file() else None


def folder_weights(folder: Path) -> Path | None:
    """The weights file of a model folder (first of WEIGHT_NAMES present), or None."""
    return next((folder / n for n in WEIGHT_NAMES if (folder / n).is_file()), None)


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The model options of every inference entry point (transcribe, serve): ``--model``, ``--vocab``, ``--cmvn``
    (for :func:`load_model`), ``--context`` (``Context.parse``), ``--int8``, ``--int8-backend`` and ``--threads``."""
    p.add_argument("--model", required=True, help="official model folder, bare state-dict .pt, or our checkpoint")
    p.add_argument("--vocab", help="vocab.txt (default: beside the model)")
    p.add_argument("--cmvn", help="global_cmvn JSON (default: beside the model or inside the checkpoint)")
    p.add_argument("--context", default=str(Context.DEFAULT), help="left,chunk,right in 80 ms frames")
    p.add_argument("--int8", action="store_true", help="int8 matrix products (chunkformer.model.quantize, CPU)")
    p.add_argument("--int8-backend", choices=("auto", *BACKENDS), default="auto",
                   help="int8 kernels: auto = onednn on CPUs with AMX-INT8 (faster for batches of many turns), else "
                        "fbgemm; fbgemm is faster one short turn at a time there (docs/BENCHMARKS.md)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads for the model (0: torch default)")


def int8_backend_arg(a: argparse.Namespace) -> str | None:
    """The ``backend`` for :func:`chunkformer.model.quantize.quantize_int8` from ``--int8-backend`` (None: auto);
    ValueError when it is given without ``--int8`` (it would silently do nothing)."""
    if a.int8_backend != "auto" and not a.int8:
        raise ValueError("--int8-backend needs --int8")
    return None if a.int8_backend == "auto" else a.int8_backend


def load_model(path: str | Path, vocab: str | Path | None = None, cmvn: str | Path | None = None,
               config: str | Path | None = None, input_dim: int = NUM_MEL_BINS) -> LoadedModel:
    """Loads any supported checkpoint form (see module docstring) into a :class:`LoadedModel` on CPU."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file or model folder")
    if path.is_dir():
        weights = folder_weights(path)
        if weights is None:
            raise CheckpointError(f"{path}: model folder has none of {', '.join(WEIGHT_NAMES)}")
        cfg_path = _beside(path, "config.yaml", config)
        if cfg_path is None:
            raise CheckpointError(f"{path}: model folder has no config.yaml")
        obj, kind = safe_load(weights), "official-folder"
    else:
        weights, obj = path, safe_load(path)
        fmt = obj.get("format") if isinstance(obj, dict) else None
        if fmt in (FORMAT_TRAIN, FORMAT_MODEL):
            return _load_ours(obj, path, fmt)
        cfg_path, kind = _beside(path, "config.yaml", config), "state-dict"
    sd = _state_dict_of(obj, weights)
    cfg = _read_config(cfg_path) if cfg_path is not None else infer_config(sd, input_dim, str(path))
    cfg.setdefault("output_dim", sd["ctc.ctc_lo.weight"].shape[0] if "ctc.ctc_lo.weight" in sd else None)
    cmvn_path = _beside(path, "global_cmvn", cmvn)
    cmvn_stats = read_cmvn_json(cmvn_path) if cmvn_path is not None else None
    vocab_path = _beside(path, "vocab.txt", vocab)
    if vocab_path is None:
        raise CheckpointError(f"{path}: no vocab.txt beside the checkpoint; pass --vocab PATH")
    tok = Tokenizer.from_file(vocab_path)
    _check_vocab(tok, cfg, str(vocab_path))
    model, extra = build_model(cfg, sd, cmvn_stats, str(weights))
    return LoadedModel(model.eval(), tok, cfg, extra, str(path), kind)


def _load_ours(obj: dict, path: Path, fmt: str) -> LoadedModel:
    try:
        cfg, tokens, sd = obj["config"], obj["vocab"], obj["model"]
    except KeyError as e:
        raise CheckpointError(f"{path}: chunkformer checkpoint lacks {e}; the file is damaged") from None
    tok = Tokenizer(tokens)
    _check_vocab(tok, cfg, str(path))
    model, _ = build_model(cfg, sd, None, str(path))
    kind = "train" if fmt == FORMAT_TRAIN else "model"
    return LoadedModel(model.eval(), tok, cfg, dict(obj.get("extra_state", {})), str(path), kind,
                       obj if kind == "train" else None)


def model_payload(loaded: LoadedModel, model: ChunkFormerModel | None = None, **meta: Any) -> dict[str, Any]:
    """A model-only checkpoint (what averaging and fine-tuning write) that :func:`load_model` reads back."""
    m = model if model is not None else loaded.model
    return {"format": FORMAT_MODEL, "model": {k: v.detach().cpu() for k, v in m.state_dict().items()},
            "config": copy.deepcopy(loaded.config), "vocab": list(loaded.tokenizer.tokens),
            "extra_state": dict(loaded.extra_state), **meta}


def save_official_folder(loaded: LoadedModel, out_dir: str | Path) -> Path:
    """Writes ``config.yaml``, ``pytorch_model.bin`` (our weights + carried decoder weights), ``vocab.txt`` and
    ``global_cmvn`` so that the official package loads the folder with ``ChunkFormerModel.from_pretrained``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = loaded.model
    sd = {k: v.detach().cpu().contiguous() for k, v in m.state_dict().items()}
    sd.update(loaded.extra_state)
    cfg = copy.deepcopy(loaded.config)
    enc_conf = dict(cfg.get("encoder_conf") or {})
    enc_conf.update(m.cfg.encoder.to_official())
    cfg.update({"input_dim": m.cfg.encoder.input_dim, "output_dim": m.cfg.vocab_size, "model": "asr_model",
                "encoder": "chunkformer", "encoder_conf": enc_conf, "is_json_cmvn": True})
    cfg.setdefault("ctc_conf", {"ctc_blank_id": 0})
    if "decoder_conf" not in cfg:
        cfg.update(_infer_decoder(sd, m.cfg.encoder))
    cfg.pop("cmvn_file", None)  # the official loader finds global_cmvn beside config.yaml
    atomic_save(sd, out / "pytorch_model.bin")
    if m.encoder.global_cmvn is not None:
        stats = cmvn_json(m.encoder.global_cmvn.mean, m.encoder.global_cmvn.istd)
        atomic_write_text(out / "global_cmvn", json.dumps(stats))
    atomic_write_text(out / "vocab.txt", "".join(f"{t} {i}\n" for i, t in enumerate(loaded.tokenizer.tokens)))
    atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    return out
