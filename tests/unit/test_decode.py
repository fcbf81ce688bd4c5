"""`python -m chunkformer.decode`: hotwords bias the beam search of an eval set, greedy results unchanged."""

from __future__ import annotations

from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

from chunkformer.checkpoint import load_model
from chunkformer.decode import decode_set, main
from chunkformer.decoding.hotwords import load_hotword_graph
from chunkformer.model.masked_batch import Context

from conftest import OFFICIAL


def test_hotwords_bias_the_beam_of_an_eval_set(tmp_path, official_model_dir):
    loaded = load_model(official_model_dir)
    rec = Recording.from_file(OFFICIAL / "A.wav", recording_id="A")
    sup = SupervisionSegment("A", "A", 0.0, rec.duration, text="xin chào")
    cuts = CutSet.from_manifests(recordings=RecordingSet.from_recordings([rec]),
                                 supervisions=SupervisionSet.from_segments([sup])).trim_to_supervisions()
    hot = tmp_path / "hot.txt"
    hot.write_text("trăm phố\n", encoding="utf-8")
    graph = load_hotword_graph(hot, loaded.tokenizer)
    plain = decode_set(loaded, cuts, Context.DEFAULT, ["greedy", "beam"], 10, 100.0)
    biased = decode_set(loaded, cuts, Context.DEFAULT, ["greedy", "beam"], 10, 100.0, graph)
    assert biased["greedy"] == plain["greedy"]
    assert "trăm phố" not in plain["beam"][0][2] and "trăm phố" in biased["beam"][0][2]


def test_hotword_options_need_the_beam(tmp_path, official_model_dir, capsys):
    hot = tmp_path / "hot.txt"
    hot.write_text("xin chào\n", encoding="utf-8")
    base = ["--exp-dir", str(tmp_path / "exp"), "--manifest-dir", str(tmp_path), "--model", f"m={official_model_dir}"]
    assert main([*base, "--methods", "greedy", "--hotwords", str(hot)]) == 2
    assert "add beam to --methods" in capsys.readouterr().err
    assert main([*base, "--hotword-score", "2"]) == 2
    assert "--hotword-score needs --hotwords" in capsys.readouterr().err
    hot.write_text("xyzzy\n", encoding="utf-8")
    assert main([*base, "--hotwords", str(hot)]) == 2
    err = capsys.readouterr().err
    assert "'xyzzy' ignored: the vocabulary cannot spell xyzzy" in err and "no usable hotword" in err
