"""The merged training config: flags over YAML, what wins between batch definitions, rerun differences."""

from __future__ import annotations

from chunkformer.training.config import TrainConfig
from chunkformer.training.guard import differences


def test_batch_size_flag_replaces_a_yaml_max_duration_and_says_so() -> None:
    cfg = TrainConfig.from_sources({"trainer": {"max_duration": 50}}, {"batch_size": 32})
    assert cfg.trainer.max_duration is None and cfg.trainer.batch_size == 32
    assert cfg.notes == ["--batch-size 32 replaces the model config's max_duration 50 (batches of 32 utterances)"]
    both = TrainConfig.from_sources({"trainer": {"max_duration": 50}}, {"batch_size": 32, "max_duration": 20.0})
    assert both.trainer.max_duration == 20.0 and not both.notes  # both given: the duration decides (documented)
    plain = TrainConfig.from_sources({"trainer": {"max_duration": 50}}, {})
    assert plain.trainer.max_duration == 50 and not plain.notes


def test_differences_ignore_runtime_settings_and_name_the_rest() -> None:
    a = TrainConfig.from_sources({}, {}).to_dict()
    b = TrainConfig.from_sources({}, {"num_workers": 7, "threads": 3, "save_dir": "elsewhere"}).to_dict()
    assert differences(a, b) == []
    c = TrainConfig.from_sources({}, {"seed": 5, "context": [64, 32, 64]}).to_dict()
    assert differences(a, c) == [("model.context", [128, 64, 128], [64, 32, 64]), ("trainer.seed", 42, 5)]


def test_the_same_files_written_another_way_are_the_same_run(tmp_path, monkeypatch) -> None:
    """A continuation that names the checkpoint, vocab, data config or manifests relative where the first
    command gave them absolute (or with "./") is the same run; another place is not."""
    monkeypatch.chdir(tmp_path)
    rel = {"resume": "egs/demo/pretrained", "vocab": "egs/demo/pretrained/vocab.txt",
           "data_config": "egs/conf/data.yaml", "manifest_dir": "data/manifests"}
    a = TrainConfig.from_sources({}, rel).to_dict()
    absolute = TrainConfig.from_sources({}, {k: str(tmp_path / v) for k, v in rel.items()}).to_dict()
    dotted = TrainConfig.from_sources({}, {k: f"./{v}" for k, v in rel.items()}).to_dict()
    assert differences(a, absolute) == [] and differences(a, dotted) == []
    other = TrainConfig.from_sources({}, {**rel, "manifest_dir": "data/manifests_old"}).to_dict()
    assert differences(a, other) == [("trainer.manifest_dir", "data/manifests", "data/manifests_old")]
