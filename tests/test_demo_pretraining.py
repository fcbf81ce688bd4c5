"""local/train_demo_checkpoint.py on a tiny corpus and model: a stopped run resumes to the very weights of an
uninterrupted one, and a run under torchrun (2 ranks) writes a loadable official folder that a 1-process run
can resume (the step and the plan position do not depend on the number of processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from chunkformer.checkpoint import load_model, safe_load

ROOT = Path(__file__).parents[1]
TINY = ["--d-model", "32", "--heads", "2", "--ffn", "64", "--blocks", "1", "--max-frames", "1000", "--warmup", "2",
        "--threads", "1", "--save-every-min", "100"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pretrain_corpus")
    subprocess.run([sys.executable, str(ROOT / "local/make_demo_corpus.py"), "--out-dir", str(out), "--num-train",
                    "reading=12", "--num-val", "reading=2", "--num-test", "0", "--seed", "3", "--jobs", "1"],
                   check=True, capture_output=True)
    return out


def pretrain(corpus: Path, work: Path, steps: int, nproc: int = 1) -> subprocess.CompletedProcess:
    launcher = [sys.executable]
    if nproc > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    cmd = launcher + [str(ROOT / "local/train_demo_checkpoint.py"), "--corpus-dir", str(corpus), "--vocab",
                      str(ROOT / "egs/callbot/demo/vocab.txt"), "--work-dir", str(work), "--out-dir",
                      str(work / "folder"), "--max-steps", str(steps), *TINY]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def test_a_stopped_run_resumes_to_the_weights_of_an_uninterrupted_one(corpus: Path, tmp_path: Path) -> None:
    pretrain(corpus, tmp_path / "straight", 4)
    pretrain(corpus, tmp_path / "stopped", 2)
    res = pretrain(corpus, tmp_path / "stopped", 4)
    assert "resumed from" in res.stderr and "step 2" in res.stderr
    a, b = safe_load(tmp_path / "straight/state.pt"), safe_load(tmp_path / "stopped/state.pt")
    assert a["step"] == b["step"] == 4
    for name, t in a["model"].items():
        torch.testing.assert_close(b["model"][name], t, rtol=0, atol=1e-6, msg=name)


def test_torchrun_two_ranks_writes_an_official_folder_that_one_process_resumes(corpus: Path, tmp_path: Path) -> None:
    work = tmp_path / "ddp"
    pretrain(corpus, work, 2, nproc=2)
    st = safe_load(work / "state.pt")
    assert st["step"] == 2 and st["history"][-1]["world_size"] == 2
    assert st["batch_in_epoch"] == 4  # two steps of two ranks took the first four batches of the plan
    loaded = load_model(work / "folder")
    assert loaded.config["demo_pretraining"]["steps"] == 2
    res = pretrain(corpus, work, 3)  # one process picks up at the next batch of the same plan
    assert "step 2" in res.stderr
    st = safe_load(work / "state.pt")
    assert st["step"] == 3 and st["history"][-1]["world_size"] == 1
