"""Checkpoint loading in every supported form, and every error message of chunkformer.checkpoint."""

from __future__ import annotations

import shutil

import pytest
import torch

from chunkformer.checkpoint import (
    CheckpointError,
    atomic_save,
    load_model,
    model_payload,
    safe_load,
    save_official_folder,
)
from chunkformer.frontend import load_features
from chunkformer.model.masked_batch import Context

from conftest import OFFICIAL

CTX = Context(128, 64, 128)


@pytest.fixture(scope="module")
def ref(official_model_dir):
    loaded = load_model(official_model_dir)
    feats = [load_features(OFFICIAL / f"{n}.wav") for n in "AB"]
    return loaded, feats, loaded.model.ctc_log_probs(feats, CTX)


def same_outputs(loaded, ref) -> None:
    _, feats, want = ref
    for a, b in zip(loaded.model.ctc_log_probs(feats, CTX), want):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_bare_state_dict_infers_architecture(tmp_path, ref, official_model_dir):
    shutil.copy(official_model_dir / "pytorch_model.bin", tmp_path / "paper_final_checkpoint.pt")
    shutil.copy(official_model_dir / "vocab.txt", tmp_path / "vocab.txt")
    loaded = load_model(tmp_path / "paper_final_checkpoint.pt")  # vocab found beside it, CMVN inside it
    assert loaded.kind == "state-dict"
    enc = loaded.model.cfg.encoder
    assert (enc.output_size, enc.attention_heads, enc.linear_units, enc.num_blocks, enc.cnn_module_kernel) == (
        64, 4, 128, 2, 15)
    assert loaded.config["decoder"] == "bitransformer"
    same_outputs(loaded, ref)


def test_bare_state_dict_vocab_by_flag(tmp_path, ref, official_model_dir):
    shutil.copy(official_model_dir / "pytorch_model.bin", tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="no vocab.txt beside the checkpoint; pass --vocab"):
        load_model(tmp_path / "model.pt")
    same_outputs(load_model(tmp_path / "model.pt", vocab=official_model_dir / "vocab.txt"), ref)


def test_our_checkpoint_and_export_round_trip(tmp_path, ref):
    loaded = ref[0]
    atomic_save(model_payload(loaded), tmp_path / "avg.pt")
    again = load_model(tmp_path / "avg.pt")
    assert again.kind == "model" and again.extra_state.keys() == loaded.extra_state.keys()
    same_outputs(again, ref)
    out = save_official_folder(again, tmp_path / "export")
    exported = load_model(out)
    same_outputs(exported, ref)
    sd = torch.load(out / "pytorch_model.bin", weights_only=True)
    for k, v in loaded.extra_state.items():  # attention decoder carried along untouched
        assert torch.equal(sd[k], v)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file or model folder"):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="checkpoint file not found"):
        safe_load(tmp_path / "missing.pt")


def test_folder_without_weights(tmp_path):
    with pytest.raises(CheckpointError, match="model folder has none of pytorch_model.bin"):
        load_model(tmp_path)


def test_unknown_format(tmp_path):
    torch.save({"weights": [1, 2, 3]}, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="unknown checkpoint format"):
        load_model(tmp_path / "odd.pt")


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this would have run",))

    torch.save({"model": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused: the file holds pickled Python objects that could run code"):
        load_model(tmp_path / "evil.pt")


def test_truncated_checkpoint(tmp_path, official_model_dir):
    data = (official_model_dir / "pytorch_model.bin").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt: corrupt or truncated checkpoint"):
        load_model(tmp_path / "cut.pt", vocab=official_model_dir / "vocab.txt")


def test_empty_checkpoint_file_is_named(tmp_path, official_model_dir):
    """A 0-byte weights file (a copy that failed, a full disk): torch raises an EOFError without a message."""
    folder = tmp_path / "m"
    shutil.copytree(official_model_dir, folder)
    (folder / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"m/pytorch_model\.bin: corrupt or truncated checkpoint \(empty file\)$"):
        load_model(folder)


@pytest.mark.parametrize(("text", "reason"), [
    ("- a\n- b\n", r"not a model config \(a YAML mapping\), but a list$"),
    ("output_dim: abc\n", r"output_dim must be the number of CTC outputs, got 'abc'$"),
    ("a: [\n", r"invalid YAML"),
])
def test_damaged_config_yaml_is_named(tmp_path, official_model_dir, text, reason):
    folder = tmp_path / "m"
    shutil.copytree(official_model_dir, folder)
    (folder / "config.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"m/config\.yaml: " + reason):
        load_model(folder)


def test_shape_mismatch_names_key_and_shapes(tmp_path, official_model_dir):
    folder = tmp_path / "m"
    shutil.copytree(official_model_dir, folder)
    sd = torch.load(folder / "pytorch_model.bin", weights_only=True)
    sd["encoder.encoders.1.feed_forward.w_1.weight"] = torch.zeros(100, 64)
    torch.save(sd, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError,
                       match=r"shape mismatch for encoder.encoders.1.feed_forward.w_1.weight: checkpoint \(100, 64\) "
                             r"vs model \(128, 64\)"):
        load_model(folder)


def test_missing_and_unexpected_keys(tmp_path, official_model_dir):
    folder = tmp_path / "m"
    shutil.copytree(official_model_dir, folder)
    sd = torch.load(folder / "pytorch_model.bin", weights_only=True)
    del sd["encoder.after_norm.weight"]
    torch.save(sd, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"missing \['encoder.after_norm.weight'\]"):
        load_model(folder)


def test_vocab_size_differs_from_ctc_output(tmp_path, official_model_dir):
    folder = tmp_path / "m"
    shutil.copytree(official_model_dir, folder)
    lines = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (folder / "vocab.txt").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match="vocabulary has 61 tokens but the CTC layer outputs 62"):
        load_model(folder)


def test_unsupported_encoder_setting(tmp_path, official_model_dir):
    folder = tmp_path / "m"
    shutil.copytree(official_model_dir, folder)
    cfg = (folder / "config.yaml").read_text(encoding="utf-8").replace("dynamic_conv: true", "dynamic_conv: false")
    (folder / "config.yaml").write_text(cfg, encoding="utf-8")
    with pytest.raises(CheckpointError, match="unsupported encoder_conf.dynamic_conv=False"):
        load_model(folder)


def test_atomic_save_leaves_no_partial_file(tmp_path):
    class Boom:
        def __reduce__(self):
            raise RuntimeError("disk full")

    atomic_save({"a": torch.ones(2)}, tmp_path / "c.pt")
    with pytest.raises(RuntimeError):
        atomic_save({"a": Boom()}, tmp_path / "c.pt")
    assert torch.equal(safe_load(tmp_path / "c.pt")["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


@pytest.mark.parametrize("content", [b"", b"hello\n", b'{"a": 1}\n', bytes(range(256)) * 20],
                         ids=["empty", "text", "json", "binary"])
def test_a_file_that_is_not_a_checkpoint_is_a_one_line_error(tmp_path, content):
    """An empty file, a text, JSON or binary file of another kind: CheckpointError naming the file (the unpickler
    raised IndexError, KeyError or a misleading "pickled code" refusal before)."""
    (tmp_path / "junk.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match=r"junk.pt: (not a PyTorch checkpoint|corrupt or truncated)") as e:
        safe_load(tmp_path / "junk.pt")
    assert "\n" not in str(e.value) and "could run code" not in str(e.value)
