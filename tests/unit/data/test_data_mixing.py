"""Domain mixing by share of audio duration, and data.yaml parsing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chunkformer.data.config import ConfigError, load_data_config
from chunkformer.data.mixing import epoch_picks, normalized_weights, shares


def durations() -> dict[str, list[float]]:
    rng = np.random.default_rng(0)
    return {"telephony": rng.uniform(1.0, 8.0, 400).tolist(), "conversation": rng.uniform(2.0, 15.0, 30).tolist(),
            "reading": rng.uniform(1.0, 6.0, 900).tolist()}


def test_realized_shares_match_weights_every_epoch() -> None:
    d = durations()
    w = normalized_weights(d, {"telephony": 0.8, "conversation": 0.2, "reading": 0.15})
    assert sum(w.values()) == pytest.approx(1.0)
    epoch = sum(map(sum, d.values()))
    for e in range(1, 6):
        got = shares(epoch_picks(d, w, epoch, seed=7, epoch=e), d)
        assert all(abs(got[k] - w[k]) < 0.03 for k in w), (e, got, w)


def test_upsampled_domain_is_repeated_and_every_cut_used_evenly() -> None:
    d = durations()
    w = normalized_weights(d, {"telephony": 0.5, "conversation": 0.5, "reading": 0.0001})
    epoch = sum(map(sum, d.values()))
    counts = np.zeros(len(d["conversation"]))
    for e in range(8):
        for p in epoch_picks(d, w, epoch, seed=1, epoch=e):
            if p.domain == "conversation":
                counts[p.index] += 1
    # conversation holds ~5 % of the audio but gets 50 %: ~10 passes per epoch, each cut equally often
    assert counts.min() >= 0.8 * counts.mean() and counts.max() <= 1.2 * counts.mean()


def test_epochs_differ_and_are_reproducible() -> None:
    d = durations()
    w = normalized_weights(d, None)  # natural proportions
    assert w["reading"] == pytest.approx(sum(d["reading"]) / sum(map(sum, d.values())))
    a, b = epoch_picks(d, w, 5000.0, 3, 1), epoch_picks(d, w, 5000.0, 3, 1)
    assert a == b and a != epoch_picks(d, w, 5000.0, 3, 2) and a != epoch_picks(d, w, 5000.0, 4, 1)


def test_weights_for_a_domain_without_cuts_is_an_error() -> None:
    with pytest.raises(ValueError, match="no training cuts"):
        normalized_weights({"telephony": [1.0]}, {"telephony": 0.8, "reading": 0.2})


def test_data_yaml_resolves_paths_and_rejects_bad_keys(tmp_path: Path) -> None:
    y = tmp_path / "conf" / "data.yaml"
    y.parent.mkdir()
    y.write_text("train:\n  - {path: ../tel/*.wav, domain: telephony, weight: 4, aug: [speed_perturb]}\n"
                 "  - {path: /abs/conv, domain: conversation, weight: 1, aug: all}\n"
                 "val:\n  - {path: val/list.tsv, domain: telephony, aug: none}\n", encoding="utf-8")
    cfg = load_data_config(y)
    assert cfg.splits["train"][0].path == str(tmp_path / "conf" / "../tel/*.wav")
    assert cfg.splits["val"][0].path == str(tmp_path / "conf" / "val" / "list.tsv")
    assert cfg.domain_weights() == {"telephony": 0.8, "conversation": 0.2}
    assert "add_noise" in cfg.splits["train"][1].aug and "telephony" not in cfg.splits["train"][1].aug
    for bad, msg in [("train:\n  - {path: x, domain: t, aug: [echo]}\n", "unknown augmentation"),
                     ("train:\n  - {path: x, domain: t, weight: 1}\n  - {path: y, domain: c}\n", "every train source"),
                     ("val:\n  - {path: x, domain: t, aug: [add_noise]}\n", "never augmented"),
                     ("train:\n  - {path: x}\n", "'domain'"), ("trian: []\n", "unknown top-level"),
                     # one corpus under two domains: stage 0 would keep its ids in one and empty the other
                     ("train:\n  - {path: a/l.tsv, domain: t, aug: none}\n"
                      "  - {path: b/../a/l.tsv, domain: p, aug: all}\n",
                      "names .*l.tsv twice \\(domains 't' and 'p'\\)")]:
        y.write_text(bad, encoding="utf-8")
        with pytest.raises(ConfigError, match=msg):
            load_data_config(y)
