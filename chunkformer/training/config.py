"""Training configuration: model.yaml (``model``/``optim``/``trainer``) merged with command-line flags.

Flags override YAML; the merged result is written to ``<save_dir>/config.yaml`` so later stages and reruns
need no repeated flags.

>>> cfg = TrainConfig.from_sources({"optim": {"lr": 1e-4}}, {"lr": 5e-5, "epochs": None})
>>> cfg.optim.lr, cfg.trainer.epochs
(5e-05, 10)
"""

from __future__ import annotations

from dataclasses import asdict, astuple, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from chunkformer.model.masked_batch import Context


@dataclass
class ModelSection:
    context: list[int] = field(default_factory=lambda: list(astuple(Context.DEFAULT)))  # left, chunk, right
    dynamic_context: list[list[int]] | None = None  # optional list of [l, c, r] drawn per batch (seeded)
    # where the weights come from: "checkpoint" (--resume: fine-tuning) or "random" (from scratch: pretraining,
    # with ``arch`` and --vocab; the global CMVN is estimated from the training cuts)
    init: str = "checkpoint"
    arch: dict[str, Any] | None = None  # official encoder_conf keys (output_size, attention_heads, ...) for "random"
    cmvn_cuts: int = 2000           # training cuts (first by id) whose features give a random init its CMVN


@dataclass
class OptimSection:
    lr: float = 5e-5
    warmup_steps: int = 2000
    weight_decay: float = 0.01
    decay: str = "cosine"          # cosine (to min_lr_ratio·lr at the last step) | inverse_sqrt | constant
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0


@dataclass
class TrainerSection:
    epochs: int = 10
    batch_size: int | None = 32
    max_duration: float | str | None = None  # seconds of audio per batch, "auto", or null for batch_size
    grad_accum: int = 1
    patience: int = 3
    min_delta: float = 0.0
    valid_interval: int = 0        # also validate every N optimizer steps (0: only per epoch)
    save_every_n: int = 0          # checkpoint-STEP.pt every N optimizer steps (0: only per epoch)
    keep_last_k: int = 3
    num_workers: int = 2
    threads: int | None = None     # CPU intra-op threads; None: the cores left beside the workers (min 1)
    seed: int = 42
    dtype: str = "fp32"            # fp32 | bf16 | fp16 (autocast on GPU)
    device: str = "auto"
    max_bad_batches: int = 20
    max_steps: int = 0             # stop after this many optimizer steps in total (0: only epochs limit the run)
    resume_checkpoint: str | None = None
    save_dir: str = "exp/callbot"
    vocab: str | None = None
    data_config: str | None = None
    manifest_dir: str = "data/manifests"


SECTIONS = {"model": ModelSection, "optim": OptimSection, "trainer": TrainerSection}
# flag name → (section, key)
FLAGS = {"lr": ("optim", "lr"), "warmup": ("optim", "warmup_steps"), "epochs": ("trainer", "epochs"),
         "batch_size": ("trainer", "batch_size"), "max_duration": ("trainer", "max_duration"),
         "grad_accum": ("trainer", "grad_accum"), "patience": ("trainer", "patience"),
         "min_delta": ("trainer", "min_delta"), "valid_interval": ("trainer", "valid_interval"),
         "save_every_n": ("trainer", "save_every_n"), "keep_last_k": ("trainer", "keep_last_k"),
         "num_workers": ("trainer", "num_workers"), "seed": ("trainer", "seed"), "dtype": ("trainer", "dtype"),
         "device": ("trainer", "device"), "resume": ("trainer", "resume_checkpoint"),
         "save_dir": ("trainer", "save_dir"), "vocab": ("trainer", "vocab"),
         "data_config": ("trainer", "data_config"), "manifest_dir": ("trainer", "manifest_dir"),
         "context": ("model", "context"), "max_bad_batches": ("trainer", "max_bad_batches"),
         "threads": ("trainer", "threads"), "init": ("model", "init"), "max_steps": ("trainer", "max_steps")}


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    optim: OptimSection = field(default_factory=OptimSection)
    trainer: TrainerSection = field(default_factory=TrainerSection)
    notes: list[str] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def from_sources(cls, yaml_cfg: dict[str, Any] | None, flags: dict[str, Any]) -> TrainConfig:
        """YAML sections, then every flag that is not None; unknown keys are an error naming them. What the
        merge decided beyond plain overriding is in ``notes`` (logged by the trainer)."""
        parts: dict[str, dict[str, Any]] = {}
        notes: list[str] = []
        for name, klass in SECTIONS.items():
            given = dict((yaml_cfg or {}).get(name) or {})
            known = {f.name for f in fields(klass)}
            unknown = sorted(set(given) - known)
            if unknown:
                raise ValueError(f"unknown key(s) {unknown} in section '{name}' of the model config; "
                                 f"known: {sorted(known)}")
            parts[name] = given
        extra = sorted(set(yaml_cfg or {}) - set(SECTIONS))
        if extra:
            raise ValueError(f"unknown section(s) {extra} in the model config; expected {sorted(SECTIONS)}")
        for flag, value in flags.items():
            if value is not None and flag in FLAGS:
                section, key = FLAGS[flag]
                parts[section][key] = value
        trainer = parts["trainer"]
        if flags.get("batch_size") is not None and flags.get("max_duration") is None \
                and trainer.get("max_duration") is not None:
            # flags override YAML: a --batch-size typed on the command line replaces the YAML's duration batches
            notes.append(f"--batch-size {flags['batch_size']} replaces the model config's max_duration "
                         f"{trainer['max_duration']} (batches of {flags['batch_size']} utterances)")
            trainer["max_duration"] = None
        cfg = cls(**{name: SECTIONS[name](**parts[name]) for name in SECTIONS})
        cfg.validate()
        cfg.notes = notes
        return cfg

    @classmethod
    def load(cls, path: str | Path | None, flags: dict[str, Any]) -> TrainConfig:
        data = {}
        if path is not None:
            p = Path(path)
            if not p.is_file():
                raise FileNotFoundError(f"{p}: model config not found")
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        return cls.from_sources(data, flags)

    def validate(self) -> None:
        t, o = self.trainer, self.optim
        if len(self.model.context) != 3:
            raise ValueError(f"model.context must be [left, chunk, right], got {self.model.context}")
        if t.batch_size is None and t.max_duration is None:
            raise ValueError("set trainer.batch_size or trainer.max_duration")
        if t.dtype not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"dtype must be fp32, bf16 or fp16, got {t.dtype}")
        if o.decay not in ("cosine", "inverse_sqrt", "constant"):
            raise ValueError(f"optim.decay must be cosine, inverse_sqrt or constant, got {o.decay}")
        if t.grad_accum < 1 or t.epochs < 1:
            raise ValueError("grad_accum and epochs must be >= 1")
        if t.keep_last_k < 1:
            raise ValueError(f"trainer.keep_last_k must be >= 1 (the newest step checkpoint is the resume point), "
                             f"got {t.keep_last_k}")
        if self.model.init not in ("checkpoint", "random"):
            raise ValueError(f"model.init must be checkpoint or random, got {self.model.init!r}")
        if self.model.init == "random" and not self.model.arch:
            raise ValueError("model.init: random needs model.arch (official encoder_conf keys, e.g. output_size)")

    def to_dict(self) -> dict[str, Any]:
        return {"model": asdict(self.model), "optim": asdict(self.optim), "trainer": asdict(self.trainer)}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
