"""The trainer's resumable bookkeeping: position in the data, early stopping, history, skipped batches.

Everything here goes into every training checkpoint (plain types, ``weights_only``-loadable) and comes back on
resume, so a resumed run makes the same decisions as an uninterrupted one.

>>> es = EarlyStop(patience=2, min_delta=0.0)
>>> [es.update(w, epoch=e) for e, w in enumerate([30.0, 25.0, 26.0, 27.0], 1)], es.stopped, es.best_epoch
([True, True, False, False], True, 2)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class EarlyStop:
    """Stops after ``patience`` validations without a WER improvement of more than ``min_delta``."""

    patience: int
    min_delta: float
    best_wer: float | None = None
    best_epoch: int | None = None
    bad_count: int = 0
    stopped: bool = False

    def update(self, wer: float, epoch: int) -> bool:
        """Records one validation; True when it is the best so far."""
        if self.best_wer is None or wer < self.best_wer - self.min_delta:
            self.best_wer, self.best_epoch, self.bad_count = wer, epoch, 0
            return True
        self.bad_count += 1
        self.stopped = self.bad_count >= self.patience
        return False

    def state(self) -> dict[str, Any]:
        return {"best_wer": self.best_wer, "best_epoch": self.best_epoch, "bad_count": self.bad_count,
                "stopped": self.stopped}


@dataclass
class Progress:
    """Where the run is: ``batch_in_epoch`` batches of ``epoch`` (0-based) are done, ``step`` optimizer steps in
    all, ``elapsed`` seconds of training wall time (validation excluded)."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    bad_batches: list[list[str]] = field(default_factory=list)
    last_valid_step: int = -1      # the step of the newest validation (an epoch end at that step reuses it)

    @classmethod
    def from_checkpoint(cls, ck: dict[str, Any]) -> Progress:
        return cls(step=ck["step"], epoch=ck["epoch"], batch_in_epoch=ck["batch_in_epoch"],
                   elapsed=float(ck.get("elapsed", 0.0)), history=list(ck["history"]),
                   bad_batches=list(ck.get("bad_batches", [])), last_valid_step=int(ck.get("last_valid_step", -1)))

    def state(self) -> dict[str, Any]:
        return asdict(self)
