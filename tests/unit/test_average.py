"""average_checkpoints: exact mean, selection by validation WER or recency, duplicates and mismatches refused."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from chunkformer.average import average, average_state_dicts, main
from chunkformer.checkpoint import FORMAT_TRAIN, atomic_save, load_model


def train_ckpt(loaded, seed: int, epoch: int, step: int, wer: float | None) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {k: (v + torch.randn(v.shape, generator=g) if v.is_floating_point() else v)
          for k, v in loaded.model.state_dict().items()}
    return {"format": FORMAT_TRAIN, "model": sd, "config": loaded.config, "vocab": loaded.tokenizer.tokens,
            "extra_state": loaded.extra_state, "epoch": epoch, "step": step, "valid_wer": wer}


@pytest.fixture(scope="module")
def loaded(official_model_dir):
    return load_model(official_model_dir)


def test_two_checkpoints_give_their_exact_mean(tmp_path, loaded):
    a, b = train_ckpt(loaded, 1, 1, 10, 30.0), train_ckpt(loaded, 2, 2, 20, 20.0)
    atomic_save(a, tmp_path / "epoch-1.pt")
    atomic_save(b, tmp_path / "epoch-2.pt")
    out = tmp_path / "avg2.pt"
    res = subprocess.run([sys.executable, "-m", "chunkformer.average", "--inputs", str(tmp_path / "epoch-1.pt"),
                          str(tmp_path / "epoch-2.pt"), "--num-ckpts", "2", "--output", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "epoch-1.pt" in res.stdout and "validation WER 30.00%" in res.stdout
    avg = load_model(out)
    for k, v in avg.model.state_dict().items():
        want = ((a["model"][k].double() + b["model"][k].double()) / 2).float()
        assert torch.equal(v, want), k
    assert avg.extra_state.keys() == loaded.extra_state.keys()


def test_best_and_last_modes_and_duplicates(tmp_path, loaded):
    files = []
    for i, wer in enumerate([40.0, 10.0, 30.0, 20.0]):
        atomic_save(train_ckpt(loaded, i, i + 1, (i + 1) * 10, wer), tmp_path / f"epoch-{i + 1}.pt")
        files.append(tmp_path / f"epoch-{i + 1}.pt")
    atomic_save(train_ckpt(loaded, 1, 2, 20, 10.0), tmp_path / "best.pt")  # same state as epoch-2
    msgs: list[str] = []
    best = average(files + [tmp_path / "best.pt"], 2, "best", log=msgs.append)
    assert [p.split("/")[-1] for p in best["averaged_from"]] == ["epoch-2.pt", "epoch-4.pt"]
    assert any("best.pt: same training state" in m for m in msgs)
    last = average(files, 2, "last", log=msgs.append)
    assert [p.split("/")[-1] for p in last["averaged_from"]] == ["epoch-3.pt", "epoch-4.pt"]


def test_refuses_mismatched_architectures():
    with pytest.raises(ValueError, match="has shape .* architectures differ"):
        average_state_dicts([{"w": torch.zeros(2, 3)}, {"w": torch.zeros(3, 3)}], ["a.pt", "b.pt"])
    with pytest.raises(ValueError, match="different parameters"):
        average_state_dicts([{"w": torch.zeros(2)}, {"v": torch.zeros(2)}], ["a.pt", "b.pt"])


def test_integer_buffers_come_from_newest():
    older = {"n": torch.tensor([1]), "w": torch.ones(1)}
    newer = {"n": torch.tensor([5]), "w": torch.zeros(1)}
    out = average_state_dicts([older, newer], ["a", "b"])
    assert out["n"].item() == 5 and out["w"].item() == 0.5


def test_not_enough_checkpoints_is_a_clear_error(tmp_path, loaded, capsys):
    atomic_save(train_ckpt(loaded, 1, 1, 10, None), tmp_path / "checkpoint-10.pt")
    assert main(["--inputs", str(tmp_path / "checkpoint-10.pt"), "--num-ckpts", "1", "--output",
                 str(tmp_path / "o.pt")]) == 2
    assert "needs 1 checkpoints with a validation WER" in capsys.readouterr().err


def test_a_step_checkpoint_and_the_epoch_checkpoint_of_the_same_step_count_once(tmp_path, loaded):
    """checkpoint-S.pt written at an epoch's last step (epoch counter not yet advanced, no WER) and epoch-N.pt
    (after validation) hold the same weights: averaging them both would weight that state double."""
    atomic_save(train_ckpt(loaded, 0, 1, 10, 30.0), tmp_path / "epoch-1.pt")
    atomic_save(train_ckpt(loaded, 1, 1, 20, None), tmp_path / "checkpoint-20.pt")
    atomic_save(train_ckpt(loaded, 1, 2, 20, 20.0), tmp_path / "epoch-2.pt")
    msgs: list[str] = []
    files = [tmp_path / n for n in ("epoch-1.pt", "checkpoint-20.pt", "epoch-2.pt")]
    last = average(files, 2, "last", log=msgs.append)
    assert [p.split("/")[-1] for p in last["averaged_from"]] == ["epoch-1.pt", "epoch-2.pt"]
    assert any("checkpoint-20.pt: same training state (step 20)" in m for m in msgs)


def test_init_weight_mixes_in_the_initial_model(tmp_path, loaded, official_model_dir, capsys):
    """WiSE-FT: (1 - w)·average + w·initial, exactly; w = 0 is the plain average; bad weights refused."""
    a, b = train_ckpt(loaded, 1, 1, 10, 30.0), train_ckpt(loaded, 2, 2, 20, 20.0)
    for n, ck in ((1, a), (2, b)):
        atomic_save(ck, tmp_path / f"epoch-{n}.pt")
    inputs = ["--inputs", str(tmp_path / "epoch-1.pt"), str(tmp_path / "epoch-2.pt"), "--num-ckpts", "2"]
    out = tmp_path / "mixed.pt"
    assert main([*inputs, "--output", str(out), "--init-model", str(official_model_dir), "--init-weight", "0.25"]) == 0
    mixed = load_model(out).model.state_dict()
    init = loaded.model.state_dict()
    for k, v in mixed.items():
        if v.is_floating_point():
            avg = ((a["model"][k].double() + b["model"][k].double()) / 2).float()  # the average as stored
            assert torch.equal(v, (0.75 * avg.double() + 0.25 * init[k].double()).float()), k
    assert main([*inputs, "--output", str(out), "--init-model", str(official_model_dir), "--init-weight", "1.5"]) == 2
    assert "must be in [0, 1]" in capsys.readouterr().err
    # without --init-model: the initial model the run recorded, or nothing for a run from random weights
    recorded = tmp_path / "recorded.pt"
    assert main([*inputs, "--output", str(recorded), "--init-weight", "0.25"]) == 0
    assert "not written: the run started from random weights" in capsys.readouterr().out and not recorded.exists()
    for n, ck in ((1, a), (2, b)):
        ck["train_config"] = {"model": {"init": "checkpoint"},
                              "trainer": {"resume_checkpoint": str(official_model_dir)}}
        atomic_save(ck, tmp_path / f"epoch-{n}.pt")
    assert main([*inputs, "--output", str(recorded), "--init-weight", "0.25"]) == 0
    assert all(torch.equal(v, mixed[k]) for k, v in load_model(recorded).model.state_dict().items())


def test_init_weight_0_does_not_need_the_recorded_initial_model(tmp_path, loaded, capsys):
    """The default --init-weight 0 mixes nothing in: the plain average is written even when the initial model
    the run recorded is not reachable from here (another working directory, a moved folder)."""
    files = []
    for n in (1, 2):
        ck = train_ckpt(loaded, n, n, 10 * n, 20.0 + n)
        ck["train_config"] = {"model": {"init": "checkpoint"}, "trainer": {"resume_checkpoint": "moved/pretrained"}}
        atomic_save(ck, tmp_path / f"epoch-{n}.pt")
        files.append(str(tmp_path / f"epoch-{n}.pt"))
    out = tmp_path / "avg2.pt"
    assert main(["--inputs", *files, "--num-ckpts", "2", "--output", str(out)]) == 0, capsys.readouterr().err
    assert "of moved/pretrained" not in capsys.readouterr().out  # nothing mixed in, nothing claimed
    assert not {"init_model", "init_weight"} & set(torch.load(out, weights_only=True))
    want = average([tmp_path / "epoch-1.pt", tmp_path / "epoch-2.pt"], 2, log=lambda _m: None)["model"]
    assert all(torch.equal(v, want[k]) for k, v in torch.load(out, weights_only=True)["model"].items())


def test_output_that_cannot_be_written_is_one_line_error(tmp_path, loaded, capsys):
    atomic_save(train_ckpt(loaded, 1, 1, 10, 20.0), tmp_path / "epoch-1.pt")
    (tmp_path / "taken").write_text("a file, not a folder")
    (tmp_path / "avg1.pt").mkdir()
    for out in (tmp_path / "taken" / "avg1.pt", tmp_path / "avg1.pt"):
        assert main(["--inputs", str(tmp_path / "epoch-1.pt"), "--num-ckpts", "1", "--output", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith(f"error: {out}: cannot write the average there ("), err


def test_bad_count_or_unwritable_output_is_a_one_line_error(tmp_path, loaded, capsys):
    """--num-ckpts 0 crashed (IndexError) and -1 silently averaged fewer checkpoints; an output that cannot be
    written (a folder, a read-only place, a full disk) crashed with a traceback after all the work."""
    for n in (1, 2):
        atomic_save(train_ckpt(loaded, n, n, 10 * n, 30.0 - n), tmp_path / f"epoch-{n}.pt")
    inputs = ["--inputs", str(tmp_path / "epoch-1.pt"), str(tmp_path / "epoch-2.pt")]
    for num in ("0", "-1"):
        assert main([*inputs, "--num-ckpts", num, "--output", str(tmp_path / "o.pt")]) == 2
        assert f"--num-ckpts must be at least 1, got {num}" in capsys.readouterr().err
    assert not (tmp_path / "o.pt").exists()
    (tmp_path / "taken.pt").mkdir()
    assert main([*inputs, "--num-ckpts", "2", "--output", str(tmp_path / "taken.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "taken.pt: cannot write the average there" in err
    assert not list(tmp_path.glob(".*.tmp"))


def test_checkpoints_with_another_vocabulary_of_the_same_size_are_refused(tmp_path, loaded, capsys):
    """Same architecture and vocab size but other tokens (another run's vocab.txt): averaging would mix the
    weights of different tokens and label the result with the newest vocabulary, silently."""
    other = train_ckpt(loaded, 2, 2, 20, 20.0)
    other["vocab"] = list(reversed(other["vocab"]))
    atomic_save(train_ckpt(loaded, 1, 1, 10, 30.0), tmp_path / "epoch-1.pt")
    atomic_save(other, tmp_path / "epoch-2.pt")
    assert main(["--inputs", str(tmp_path / "epoch-1.pt"), str(tmp_path / "epoch-2.pt"), "--num-ckpts", "2",
                 "--output", str(tmp_path / "o.pt")]) == 2
    assert "epoch-1.pt: vocabulary differs from" in capsys.readouterr().err and not (tmp_path / "o.pt").exists()
