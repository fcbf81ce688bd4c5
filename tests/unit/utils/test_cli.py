"""chunkformer.utils.cli: an error re-raised from a DataLoader worker is reported by its own one-line reason."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from chunkformer.data.pipeline import CutAudioError
from chunkformer.utils.cli import error, one_line

REASON = "cut a: cannot load /data/a.wav (file not found); the corpus changed after stage 0: rerun stage 0"


class Vanished(Dataset):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> torch.Tensor:
        raise CutAudioError(REASON)


def test_a_dataloader_worker_error_is_one_line(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(CutAudioError) as e:
        next(iter(DataLoader(Vanished(), num_workers=1)))
    assert "\n" in str(e.value) and "DataLoader worker process 0" in str(e.value)  # what torch re-raises
    assert one_line(e.value) == REASON
    assert error(e.value) == 2 and capsys.readouterr().err == f"error: {REASON}\n"


def test_other_errors_are_kept_as_they_are() -> None:
    assert one_line(ValueError("bad: value")) == "bad: value"
