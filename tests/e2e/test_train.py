"""Stage 3 (``python -m chunkformer.train``) on a tiny model and a few seconds of real stage 0-2 data:
the user's command line, kill -9 / resume determinism, truncated checkpoints, bad batches, 2-process DDP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from chunkformer.checkpoint import FORMAT_TRAIN, safe_load
from chunkformer.training import state as ckpt_state
from chunkformer.training.config import TrainConfig

from helpers import REPO, VOCAB, load_script, make_corpus

pytestmark = pytest.mark.slow  # end-to-end: deselect with -m 'not slow'

MODEL = VOCAB.parent  # the official-format tiny model (d=64, 2 blocks, dropout 0.1, with a decoder)
EXTRA = """mixing:
  epoch_hours: 0.008
generated:
  noises_per_kind: 1
  noise_seconds: 3.0
  num_rirs: 4
"""
MODEL_YAML = """model:
  context: [16, 8, 16]
optim:
  warmup_steps: 3
  decay: cosine
trainer:
  epochs: 10
  patience: 5
  save_every_n: 2
  keep_last_k: 2
  num_workers: 0
  max_duration: 5
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train_stage")
    data_yaml, _, _ = make_corpus(root, extra_yaml=EXTRA)
    mdir = root / "manifests"
    assert load_script("prepare_manifests").main(["--data-config", str(data_yaml), "--vocab", str(VOCAB),
                                                  "--out-dir", str(mdir), "--num-jobs", "1"]) == 0
    assert load_script("build_train_cuts").main(["--data-config", str(data_yaml), "--manifest-dir", str(mdir),
                                                 "--seed", "3"]) == 0
    model_yaml = root / "model.yaml"
    model_yaml.write_text(MODEL_YAML, encoding="utf-8")
    return {"root": root, "data_yaml": data_yaml, "mdir": mdir, "model_yaml": model_yaml}


def command(data: dict[str, Path], save_dir: Path, *extra: str) -> list[str]:
    """The user's command line (issue 4), paths adjusted, tiny sizes."""
    return ["--data-config", str(data["data_yaml"]), "--model-config", str(data["model_yaml"]),
            "--resume", str(MODEL), "--epochs", "2", "--lr", "1e-3", "--warmup", "3", "--batch-size", "4",
            "--save-dir", str(save_dir), "--manifest-dir", str(data["mdir"]), "--seed", "7", *extra]


def run_cli(args: list[str], **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "chunkformer.train", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, **kw)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return safe_load(path)["model"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    diff = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not diff, f"{len(diff)} tensors differ, e.g. {diff[:3]}"


@pytest.fixture(scope="module")
def reference_run(data: dict[str, Path]) -> Path:
    """One uninterrupted run of the user's command, in a process like the killed one (same thread count)."""
    save = data["root"] / "ref"
    res = run_cli(command(data, save))
    assert res.returncode == 0, res.stderr[-3000:]
    return save


def test_command_line_outputs_and_merged_config(data: dict[str, Path], reference_run: Path) -> None:
    save = reference_run
    for name in ("config.yaml", "epoch-1.pt", "epoch-2.pt", "best.pt", "valid_history.json", "train.log"):
        assert (save / name).is_file(), name
    assert list((save / "tensorboard").glob("events.out.tfevents.*"))
    assert len(list(save.glob("checkpoint-*.pt"))) <= 2  # keep_last_k
    cfg = yaml.safe_load((save / "config.yaml").read_text(encoding="utf-8"))
    # flags override YAML; YAML overrides defaults
    assert cfg["optim"]["lr"] == 1e-3 and cfg["trainer"]["epochs"] == 2 and cfg["trainer"]["batch_size"] == 4
    assert cfg["model"]["context"] == [16, 8, 16] and cfg["trainer"]["save_every_n"] == 2
    assert cfg["trainer"]["resume_checkpoint"] == str(MODEL) and cfg["trainer"]["seed"] == 7
    ck = safe_load(save / "epoch-2.pt")
    assert ck["format"] == FORMAT_TRAIN and ck["epoch"] == 2 and ck["step"] > 4
    assert {"optimizer", "scheduler", "scaler", "rng", "batch_in_epoch", "early_stop"} <= set(ck)
    assert any(k.startswith("decoder.") for k in ck["extra_state"])  # the official decoder is carried along
    history = json.loads((save / "valid_history.json").read_text(encoding="utf-8"))
    assert [h["epoch"] for h in history] == [1, 2] and all(set(h["wer"]) == {"telephony"} for h in history)
    # the run changed the model
    init = safe_load(MODEL / "pytorch_model.bin")
    assert not torch.equal(init["ctc.ctc_lo.weight"], ck["model"]["ctc.ctc_lo.weight"])


def test_rerun_of_a_finished_run_does_nothing(data: dict[str, Path], reference_run: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in reference_run.glob("*.pt")}
    assert run_cli(command(data, reference_run)).returncode == 0
    assert {p.name: p.stat().st_mtime_ns for p in reference_run.glob("*.pt")} == before
    assert "stage 3: already done" in (reference_run / "train.log").read_text(encoding="utf-8")


def test_kill_9_mid_epoch_then_resume_gives_identical_weights(data: dict[str, Path], reference_run: Path) -> None:
    save = data["root"] / "killed"
    kill_after_first_checkpoint(command(data, save), save)
    assert not (save / "epoch-2.pt").exists()
    assert run_cli(command(data, save)).returncode == 0
    log = (save / "train.log").read_text(encoding="utf-8")
    assert "continuing from" in log
    assert_same_weights(save / "epoch-2.pt", reference_run / "epoch-2.pt")


def test_truncated_newest_checkpoint_falls_back_to_the_previous(data: dict[str, Path], reference_run: Path) -> None:
    save = data["root"] / "truncated"
    shutil.copytree(reference_run, save, ignore=shutil.ignore_patterns("tensorboard", "epoch-2.pt", "best.pt"))
    steps = sorted(save.glob("checkpoint-*.pt"), key=lambda p: int(p.stem.split("-")[1]))
    newest = steps[-1]
    newest.write_bytes(newest.read_bytes()[:1000])  # a copy cut short / a disk that filled up
    os.utime(newest)  # and it is the newest file
    found = ckpt_state.newest_valid(save)
    assert found is not None and found[0] != newest
    assert run_cli(command(data, save)).returncode == 0
    assert "skipping damaged checkpoint" in (save / "train.log").read_text(encoding="utf-8")
    assert_same_weights(save / "epoch-2.pt", reference_run / "epoch-2.pt")


def test_non_finite_losses_skip_batches_then_stop_naming_the_cuts(data: dict[str, Path]) -> None:
    from chunkformer.checkpoint import load_model

    broken = data["root"] / "nan_model"
    shutil.copytree(MODEL, broken)
    sd = safe_load(broken / "pytorch_model.bin")
    sd["encoder.after_norm.weight"][0] = float("nan")
    torch.save(sd, broken / "pytorch_model.bin")
    assert torch.isnan(load_model(broken).model.encoder.after_norm.weight).any()
    save = data["root"] / "nan_run"
    args = command(data, save)
    args[args.index(str(MODEL))] = str(broken)
    res = run_cli(args + ["--max-bad-batches", "3"])
    assert res.returncode == 2
    log = (save / "train.log").read_text(encoding="utf-8")
    assert log.count("non-finite loss: batch skipped") == 4  # more than max_bad_batches = 3, then stop
    last = res.stderr.strip().splitlines()[-1]
    assert "offending cuts: " in last and " tel" in last and "max_bad_batches=3" in last


def test_config_errors_are_one_line_and_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "model.yaml"
    bad.write_text("optim:\n  learning_rate: 1e-4\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['learning_rate'\] in section 'optim'"):
        TrainConfig.load(bad, {})
    res = run_cli(["--model-config", str(bad), "--save-dir", str(tmp_path / "x")])
    assert res.returncode == 2 and "learning_rate" in res.stderr
    res = run_cli(["--model-config", str(tmp_path / "missing.yaml"), "--save-dir", str(tmp_path / "x")])
    assert res.returncode == 2 and "missing.yaml: model config not found" in res.stderr
    cfg = TrainConfig.from_sources({"trainer": {"epochs": 20}}, {"epochs": 3, "max_duration": "auto"})
    assert cfg.trainer.epochs == 3 and cfg.trainer.max_duration == "auto"


def test_ddp_two_cpu_processes_through_run_sh(data: dict[str, Path], reference_run: Path) -> None:
    """``./run.sh --stage 3 --nproc 2`` launches torchrun (DDP on gloo); a bad --nproc is a one-line error."""
    save = data["root"] / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    run = ["./run.sh", "--stage", "3", "--stop-stage", "3", "--data-config", str(data["data_yaml"]),
           "--model-config", str(data["model_yaml"]), "--resume", str(MODEL), "--save-dir", str(save),
           "--manifest-dir", str(data["mdir"]), "--seed", "7",
           "--train-args", "--epochs 1 --lr 1e-3 --warmup 3 --batch-size 4"]
    bad = subprocess.run([*run, "--nproc", "two"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "--nproc must be a positive number or auto, not 'two'" in bad.stderr
    assert not save.exists()
    res = subprocess.run([*run, "--nproc", "2"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "(2 process(es))" in res.stderr
    assert "[rank 1]" in res.stderr and "[rank 0]" in res.stderr
    ck = safe_load(save / "epoch-1.pt")
    single = safe_load(reference_run / "epoch-1.pt")
    # each rank takes its shard of the epoch: about half the optimizer steps of the single-process run
    assert 0 < ck["step"] < single["step"]
    log = (save / "train.log").read_text(encoding="utf-8")
    assert "[rank 1]" not in log  # only rank 0 writes files


def test_stages_4_and_5_after_the_fine_tune(data: dict[str, Path], reference_run: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    """average_checkpoints then decode: icefall-shaped files, RESULTS.md rows/columns, the plot, same numbers
    on a rerun."""
    from chunkformer import average, decode

    exp = data["root"] / "exp45"
    shutil.copytree(reference_run, exp, ignore=shutil.ignore_patterns("tensorboard"))
    avg = exp / "avg2.pt"
    assert average.main(["--inputs", *map(str, sorted(exp.glob("epoch-*.pt"))), "--num-ckpts", "2",
                         "--output", str(avg)]) == 0
    args = ["--exp-dir", str(exp), "--manifest-dir", str(data["mdir"]), "--model", f"pretrained={MODEL}",
            "--model", f"best={exp / 'best.pt'}", "--model", f"avg2={avg}", "--beam", "4",
            "--config", f"model={exp / 'config.yaml'}"]
    assert decode.main(args) == 0
    printed = capsys.readouterr().out
    assert "use " in printed.split("# Results")[0]  # average_checkpoints says which files it used
    results = (exp / "RESULTS.md").read_text(encoding="utf-8")
    assert "# Results" + printed.split("# Results")[1].rstrip() in results  # the table is printed
    for method in ("greedy_search", "prefix_beam_search"):
        for tag in ("pretrained", "best", "avg2"):
            for kind in ("recogs", "errs", "errs-cer", "wer-summary"):
                assert (exp / method / f"{kind}-test_telephony-{tag}.txt").is_file(), (method, tag, kind)
            assert f"| {tag} | " in results
    assert "| model | telephony |" in results and "context [16, 8, 16]" in results
    assert "![validation WER](valid_wer.png)" in results
    assert (exp / "valid_wer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert decode.main(args) == 0  # deterministic: a rerun writes the same table
    assert (exp / "RESULTS.md").read_text(encoding="utf-8") == results


SCRATCH_YAML = """model:
  context: [16, 8, 16]
  init: random
  arch: {output_size: 32, attention_heads: 2, linear_units: 64, num_blocks: 2, cnn_module_kernel: 7}
  cmvn_cuts: 50
optim:
  lr: 2.0e-3
  warmup_steps: 3
  decay: inverse_sqrt
trainer:
  epochs: 50
  max_steps: 8
  batch_size: 4
  save_every_n: 2
  keep_last_k: 2
  valid_interval: 4
  num_workers: 0
"""


def scratch_command(data: dict[str, Path], save_dir: Path) -> list[str]:
    return ["--model-config", str(data["root"] / "scratch.yaml"), "--vocab", str(VOCAB), "--save-dir", str(save_dir),
            "--manifest-dir", str(data["mdir"]), "--seed", "11"]


def signal_after_first_checkpoint(args: list[str], save: Path, sig: int) -> tuple[int, str]:
    """Starts a training run, sends ``sig`` once its first step checkpoint exists: (return code, stderr)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    err = save.parent / f"{save.name}.stderr"
    with open(err, "w") as f:  # a file, not a pipe: progress bars would fill a pipe and stall the run
        # a background job (CI under nohup ... &) inherits SIGINT ignored, and Python then never raises
        # KeyboardInterrupt: the child gets the default disposition back, as in a terminal
        proc = subprocess.Popen([sys.executable, "-m", "chunkformer.train", *args], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=f,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.time() + 300
        while not list(save.glob("checkpoint-*.pt")) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before the signal"
        proc.send_signal(sig)
        code = proc.wait(timeout=120)
    return code, err.read_text(encoding="utf-8")


def kill_after_first_checkpoint(args: list[str], save: Path) -> None:
    assert signal_after_first_checkpoint(args, save, signal.SIGKILL)[0] == -signal.SIGKILL


def test_from_scratch_with_the_same_engine_resumes_bit_identically(data: dict[str, Path], tmp_path: Path) -> None:
    """``--init random``: the demo checkpoint's pretraining runs through the fine-tune engine; a step budget ends
    it, a kill -9 and rerun end with the same weights, and the result exports to the official folder."""
    from chunkformer import export
    from chunkformer.checkpoint import load_model

    (data["root"] / "scratch.yaml").write_text(SCRATCH_YAML, encoding="utf-8")
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    res = run_cli(scratch_command(data, ref))
    assert res.returncode == 0, res.stderr[-3000:]
    log = (ref / "train.log").read_text(encoding="utf-8")
    assert "random init: " in log and "CMVN from " in log
    final = safe_load(ref / "checkpoint-8.pt")
    assert final["step"] == 8 and final["elapsed"] > 0
    steps = [h["step"] for h in final["history"]]  # every valid_interval, each epoch end, the budget's last step
    assert {4, 8} <= set(steps) and steps == sorted(set(steps)) and all("minutes" in h for h in final["history"])
    assert yaml.safe_load((ref / "config.yaml").read_text(encoding="utf-8"))["model"]["init"] == "random"
    cmvn = final["model"]["encoder.global_cmvn.mean"]
    assert cmvn.abs().sum() > 0  # estimated from the data, not the zero default
    kill_after_first_checkpoint(scratch_command(data, killed), killed)
    assert not (killed / "checkpoint-8.pt").exists()
    assert run_cli(scratch_command(data, killed)).returncode == 0
    assert_same_weights(killed / "checkpoint-8.pt", ref / "checkpoint-8.pt")
    assert "already done" in run_cli(scratch_command(data, killed)).stderr
    out = tmp_path / "official"
    assert export.main(["--checkpoint", str(ref / "checkpoint-8.pt"), "--output-dir", str(out)]) == 0
    back = load_model(out)
    assert torch.equal(back.model.state_dict()["ctc.ctc_lo.weight"], final["model"]["ctc.ctc_lo.weight"])
    assert back.config["encoder_conf"]["num_blocks"] == 2


def test_ctrl_c_is_one_line_and_the_same_command_continues(data: dict[str, Path], tmp_path: Path) -> None:
    # 300 steps, so that the signal lands mid-training (the 8-step run can end before it arrives)
    long_run = SCRATCH_YAML.replace("max_steps: 8", "max_steps: 300").replace("valid_interval: 4", "valid_interval: 0")
    (data["root"] / "scratch.yaml").write_text(long_run, encoding="utf-8")
    save = tmp_path / "ctrl_c"
    code, err = signal_after_first_checkpoint(scratch_command(data, save), save, signal.SIGINT)
    assert code == 130 and "Traceback" not in err, (signal.getsignal(signal.SIGINT), err[-2000:])
    assert "interrupted; rerun the same command to continue from the last checkpoint" in err.strip().splitlines()[-1]
    res = run_cli(scratch_command(data, save))
    assert res.returncode == 0 and "continuing from" in res.stderr and "training finished" in res.stderr


def test_init_random_without_arch_or_vocab_is_a_one_line_error(data: dict[str, Path], tmp_path: Path) -> None:
    res = run_cli(["--init", "random", "--save-dir", str(tmp_path / "a"), "--manifest-dir", str(data["mdir"])])
    assert res.returncode == 2 and "model.init: random needs model.arch" in res.stderr
    (data["root"] / "scratch.yaml").write_text(SCRATCH_YAML, encoding="utf-8")
    res = run_cli(["--model-config", str(data["root"] / "scratch.yaml"), "--save-dir", str(tmp_path / "b"),
                   "--manifest-dir", str(data["mdir"])])
    assert res.returncode == 2 and "--init random needs --vocab" in res.stderr.strip().splitlines()[-1]


def test_a_rerun_that_contradicts_the_saved_run_is_refused_then_new_run_moves_it(
        data: dict[str, Path], reference_run: Path, tmp_path: Path) -> None:
    save = tmp_path / "changed"
    shutil.copytree(reference_run, save, ignore=shutil.ignore_patterns("tensorboard"))
    before = sorted(p.name for p in save.iterdir())
    args = command(data, save)
    args[args.index("--lr") + 1] = "5e-4"
    res = run_cli(args)
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert "holds a run with optim.lr=0.001 but this command gives 0.0005" in last and "--new-run" in last
    assert sorted(p.name for p in save.iterdir()) == before  # nothing rewritten, config.yaml included
    assert yaml.safe_load((save / "config.yaml").read_text(encoding="utf-8"))["optim"]["lr"] == 1e-3
    res = run_cli([*args, "--epochs", "1", "--new-run"])
    assert res.returncode == 0, res.stderr[-2000:]
    old = next(save.glob("previous-*"))
    assert (old / "epoch-2.pt").is_file() and not (save / "epoch-2.pt").exists()
    assert yaml.safe_load((save / "config.yaml").read_text(encoding="utf-8"))["optim"]["lr"] == 5e-4


def test_resume_takes_the_highest_step_not_the_newest_file(reference_run: Path, tmp_path: Path) -> None:
    save = tmp_path / "mtimes"
    shutil.copytree(reference_run, save, ignore=shutil.ignore_patterns("tensorboard"))
    os.utime(save / "epoch-1.pt")  # a restore or copy made the older state the newest file
    path, ck = ckpt_state.newest_valid(save)
    assert path.name == "epoch-2.pt" and ck["step"] == safe_load(reference_run / "epoch-2.pt")["step"]


def test_run_sh_stage_4_averages_what_exists_and_redoes_on_a_change(reference_run: Path, tmp_path: Path) -> None:
    exp = tmp_path / "avg"
    shutil.copytree(reference_run, exp, ignore=shutil.ignore_patterns("tensorboard"))
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def stage4(*extra: str) -> str:
        res = subprocess.run(["./run.sh", "--stage", "4", "--stop-stage", "4", "--save-dir", str(exp), *extra],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        return res.stderr

    first = stage4("--num-avg", "5")
    assert "only 2 epoch checkpoint(s)" in first and (exp / "avg2.pt").is_file()
    assert "already done" in stage4("--num-avg", "5")
    again = stage4("--num-avg", "5", "--avg-mode", "last")
    assert "already done" not in again and "average 2 checkpoints (last)" in again
    # WiSE-FT (--init-weight, default 0.2): mixed with the model the run started from (its --resume), not with
    # run.sh's default --resume (the demo checkpoint, another architecture)
    mixed = safe_load(exp / "avg2-init0.2.pt")
    assert mixed["init_model"] == str(MODEL) and mixed["init_weight"] == 0.2
    bad = subprocess.run(["./run.sh", "--stage", "4", "--stop-stage", "4", "--save-dir", str(exp), "--init-weight",
                          "1.5"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--init-weight must be a number in [0, 1], not '1.5'" in bad.stderr


def test_run_sh_stage_5_decodes_once_and_again_on_a_change(data: dict[str, Path], reference_run: Path,
                                                           tmp_path: Path) -> None:
    exp = tmp_path / "dec"
    shutil.copytree(reference_run, exp, ignore=shutil.ignore_patterns("tensorboard"))
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def stage5(*extra: str) -> str:
        res = subprocess.run(["./run.sh", "--stage", "5", "--stop-stage", "5", "--save-dir", str(exp), "--resume",
                              str(MODEL), "--manifest-dir", str(data["mdir"]), "--decode-splits", "test",
                              "--decode-methods", "greedy", *extra], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        return res.stderr

    assert "stage 5: decode the test sets" in stage5()
    results = (exp / "RESULTS.md").read_text(encoding="utf-8")
    assert "| best | " in results and "already done" in stage5()
    os.utime(exp / "best.pt")  # a model changed: decoded again
    assert "already done" not in stage5()
    assert "already done" not in stage5("--decode-methods", "greedy,beam")
    assert (exp / "RESULTS.md").read_text(encoding="utf-8") != results  # now with the beam search table


@pytest.mark.parametrize("kill_at", ["checkpoint-*.pt", "epoch-1.pt"])
def test_ddp_kill_and_resume_through_run_sh_is_bit_identical(data: dict[str, Path], tmp_path: Path,
                                                             kill_at: str) -> None:
    """2 ranks (gloo) under ``run.sh --nproc 2``, killed mid-epoch or at an epoch boundary, resumed by the same
    command: the final weights equal an uninterrupted run's (every rank's RNG state is in the checkpoint)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")

    def run(save: Path) -> list[str]:
        return ["./run.sh", "--stage", "3", "--stop-stage", "3", "--data-config", str(data["data_yaml"]),
                "--model-config", str(data["model_yaml"]), "--resume", str(MODEL), "--save-dir", str(save),
                "--manifest-dir", str(data["mdir"]), "--seed", "7", "--nproc", "2",
                "--train-args", "--epochs 2 --lr 1e-3 --warmup 3 --max-duration 3 --save-every-n 1"]

    ref, killed = tmp_path / "ref", tmp_path / "killed"
    res = subprocess.run(run(ref), cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    proc = subprocess.Popen(run(killed), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while not list(killed.glob(kill_at)) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    # run.sh, torchrun and both ranks (torch elastic starts the ranks in sessions of their own)
    subprocess.run(["pkill", "-9", "-f", "--", f"save-dir {killed} "], check=False)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    assert not (killed / "epoch-2.pt").exists(), "the run ended before it could be killed"
    res = subprocess.run(run(killed), cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    log = (killed / "train.log").read_text(encoding="utf-8")
    assert "continuing from" in log and "already done" not in log
    assert_same_weights(killed / "epoch-2.pt", ref / "epoch-2.pt")


def test_continuing_a_ddp_run_with_another_process_count_is_refused(data: dict[str, Path], tmp_path: Path) -> None:
    """Each rank's batches, the steps per epoch and the lr schedule depend on the process count: a 2-rank run
    continued by 1 process would repeat or skip data, so that is refused in one line; a finished run still says
    "already done" whatever the count. (decay: constant, so that --epochs 2 continues the same run.)"""
    model_yaml = tmp_path / "constant.yaml"
    model_yaml.write_text(MODEL_YAML.replace("decay: cosine", "decay: constant"), encoding="utf-8")
    save = tmp_path / "ddp"
    args = [*command(data, save, "--model-config", str(model_yaml)), "--epochs", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "chunkformer.train", *args], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    res = run_cli(args)
    assert res.returncode == 0 and "already done" in res.stderr, res.stderr[-2000:]
    res = run_cli([*args, "--epochs", "2"])
    last = res.stderr.strip().splitlines()[-1]
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert "holds a run trained with 2 process(es) but this command starts 1" in last and "--nproc 2" in last, last
    assert not (save / "epoch-2.pt").exists()
