"""Training checkpoints (chunkformer.training.state): a write that fails is one error naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from chunkformer.checkpoint import CheckpointError
from chunkformer.training import state as ckpt_state


def test_a_checkpoint_that_cannot_be_written_is_a_checkpoint_error_naming_it(tmp_path: Path) -> None:
    """A full disk or an unwritable save dir mid-run raised a bare OSError (a traceback from the trainer, which
    reports CheckpointError in one line); the previous checkpoints stay and remain the resume point."""
    ckpt_state.save({"format": "x", "step": 2, "epoch": 0, "w": torch.ones(1)}, tmp_path, "checkpoint-2.pt", 2)
    (tmp_path / "checkpoint-4.pt").mkdir()  # the rename onto it fails like a write to a read-only dir
    with pytest.raises(CheckpointError, match=r"checkpoint-4.pt: cannot write the checkpoint .*rerun the same "
                                              r"command") as e:
        ckpt_state.save({"step": 4, "epoch": 0, "w": torch.ones(1)}, tmp_path, "checkpoint-4.pt", 2)
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2.pt", "checkpoint-4.pt"]  # no temp file
    found = ckpt_state.newest_valid(tmp_path)
    assert found is not None and found[0].name == "checkpoint-2.pt"
