"""`python -m chunkformer.decode`: beam+hotwords is the beam search biased by a list, reported against the plain
beam; beam+lm fuses an n-gram LM whose weight and bonus are tuned on the val sets."""

from __future__ import annotations

import json

import pytest
from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

from chunkformer.checkpoint import load_model
from chunkformer.data.datamodule import eval_sets
from chunkformer.decode import decode_set, lm_notes, main
from chunkformer.decoding import LMFusion, load_lm
from chunkformer.decoding.hotwords import load_hotword_graph
from chunkformer.decoding.metrics import list_effect
from chunkformer.decoding.scoring import compute_wer
from chunkformer.model.masked_batch import Context

from conftest import OFFICIAL
from helpers import write_manifests


def test_hotwords_bias_only_the_beam_hotwords_method(tmp_path, official_model_dir):
    """``beam+hotwords`` is biased by the list; greedy and the plain beam beside it are not."""
    loaded = load_model(official_model_dir)
    rec = Recording.from_file(OFFICIAL / "A.wav", recording_id="A")
    sup = SupervisionSegment("A", "A", 0.0, rec.duration, text="xin chào")
    cuts = CutSet.from_manifests(recordings=RecordingSet.from_recordings([rec]),
                                 supervisions=SupervisionSet.from_segments([sup])).trim_to_supervisions()
    hot = tmp_path / "hot.txt"
    hot.write_text("trăm phố\n", encoding="utf-8")
    graph = load_hotword_graph(hot, loaded.tokenizer)
    plain = decode_set(loaded, cuts, Context.DEFAULT, ["greedy", "beam"], 10, 100.0)
    biased = decode_set(loaded, cuts, Context.DEFAULT, ["greedy", "beam", "beam+hotwords"], 10, 100.0, graph)
    assert biased["greedy"] == plain["greedy"] and biased["beam"] == plain["beam"]
    assert "trăm phố" not in plain["beam"][0][2] and "trăm phố" in biased["beam+hotwords"][0][2]


def test_hotword_options_are_checked(tmp_path, official_model_dir, capsys):
    hot = tmp_path / "hot.txt"
    hot.write_text("xin chào\n", encoding="utf-8")
    base = ["--exp-dir", str(tmp_path / "exp"), "--manifest-dir", str(tmp_path), "--model", f"m={official_model_dir}"]
    cases = [(["--methods", "greedy,beam", "--hotwords", str(hot)], "add beam+hotwords to --methods"),
             (["--methods", "beam,beam+hotwords"], "method beam+hotwords needs --hotwords FILE"),
             (["--methods", "beam+hotwords", "--hotwords", str(hot)], "add beam to --methods"),
             (["--hotword-score", "2"], "--hotword-score needs --hotwords"),
             (["--methods", "beam,beam+hotwords", "--hotwords", str(hot), "--hotword-grid", "0,1"],
              "hotword grid '0,1': needs one or more scores, all > 0"),
             (["--methods", "beam,beam+hotwords", "--hotwords", str(hot), "--hotword-max-wer-change", "-1"],
              "--hotword-max-wer-change must be >= 0")]
    for extra, message in cases:
        assert main([*base, *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra
    hot.write_text("xyzzy\n", encoding="utf-8")
    assert main([*base, "--methods", "beam,beam+hotwords", "--hotwords", str(hot)]) == 2
    err = capsys.readouterr().err
    assert "'xyzzy' ignored: the vocabulary cannot spell xyzzy" in err and "no usable hotword" in err


def test_beam_hotwords_rows_and_the_lists_effect_in_results(tmp_path, official_model_dir):
    """Stage 5 with a list: ``m+hotwords`` rows under the plain ``m`` rows, and the recall of the listed phrases
    and the WER of the phrase-free utterances, plain beam → biased, per set."""
    loaded = load_model(official_model_dir)
    hot = tmp_path / "hot.txt"
    hot.write_text("trăm phố\nbốn đơn\n", encoding="utf-8")  # the second occurs in no reference
    graph = load_hotword_graph(hot, loaded.tokenizer)
    assert len(graph.texts) == 2
    mdir, exp = tmp_path / "manifests", tmp_path / "exp"
    write_manifests(mdir, "probe", "test", ["xin chào"], OFFICIAL / "A.wav")
    said = decode_set(loaded, eval_sets(mdir, "test")["probe"], Context.DEFAULT, ["beam+hotwords"], 10, 100.0,
                      graph)["beam+hotwords"][0][2]
    assert "trăm phố" in said
    write_manifests(mdir, "telephony", "test", [said], OFFICIAL / "A.wav")  # the phrase, found only with the list
    write_manifests(mdir, "reading", "test", ["xin chào anh"], OFFICIAL / "B.wav")  # no listed phrase
    for f in mdir.glob("probe_*"):
        f.unlink()
    argv = ["--exp-dir", str(exp), "--manifest-dir", str(mdir), "--model", f"m={official_model_dir}", "--splits",
            "test", "--methods", "greedy,beam,beam+hotwords", "--hotwords", str(hot), "--hotword-score", "2"]
    assert main(argv) == 0
    hyps = {name: decode_set(loaded, cuts, Context.DEFAULT, ["beam", "beam+hotwords"], 10, 100.0, graph)
            for name, cuts in eval_sets(mdir, "test").items()}
    results = (exp / "RESULTS.md").read_text(encoding="utf-8")
    table = results.split("## prefix_beam_search")[1].split("##")[0]
    assert table.index("| m |") < table.index("| m+hotwords |")
    assert "## Hotwords (`+hotwords` rows)" in results and "2 usable phrases" in results
    reading = [f"{compute_wer(hyps['reading'][m]).wer:.2f}" for m in ("beam", "beam+hotwords")]
    recall_row, wer_row = [line for line in results.splitlines() if line.startswith("| m | ")][-2:]
    assert recall_row == "| m | – (0) | 0.00 → 100.00 (1) |"
    assert wer_row == f"| m | {reading[0]} → {reading[1]} (1) | – (0) |"
    assert (exp / "prefix_beam_search_hotwords" / "recogs-test_telephony-m.txt").is_file()


def test_the_hotword_score_is_chosen_on_val(tmp_path, official_model_dir):
    """Without --hotword-score each model's score comes from the val sets: per score, the recall of the listed
    phrases and the WER change where none occurs (recomputed here with decode_set), the best recall within the
    limit chosen; the chosen score decodes test, and RESULTS.md says so."""
    loaded = load_model(official_model_dir)
    hot, mdir, exp = tmp_path / "hot.txt", tmp_path / "manifests", tmp_path / "exp"
    hot.write_text("trăm phố\n", encoding="utf-8")
    write_manifests(mdir, "probe", "val", ["xin chào"], OFFICIAL / "A.wav")
    said = decode_set(loaded, eval_sets(mdir, "val")["probe"], Context.DEFAULT, ["beam+hotwords"], 10, 100.0,
                      load_hotword_graph(hot, loaded.tokenizer, 4.0))["beam+hotwords"][0][2]
    for f in mdir.glob("probe_*"):
        f.unlink()
    write_manifests(mdir, "telephony", "val", [said], OFFICIAL / "A.wav")
    write_manifests(mdir, "reading", "val", ["xin chào anh"], OFFICIAL / "B.wav")
    write_manifests(mdir, "telephony", "test", [said], OFFICIAL / "C.wav")
    argv = ["--exp-dir", str(exp), "--manifest-dir", str(mdir), "--model", f"m={official_model_dir}", "--splits",
            "test", "--methods", "beam,beam+hotwords", "--hotwords", str(hot), "--hotword-grid", "0.25,4"]
    assert main(argv) == 0
    val = [r for _, cuts in sorted(eval_sets(mdir, "val").items()) for r in decode_set(
        loaded, cuts, Context.DEFAULT, ["beam"], 10, 100.0)["beam"]]
    rows = {}
    for score in (0.25, 4.0):
        graph = load_hotword_graph(hot, loaded.tokenizer, score)
        biased = [r for _, cuts in sorted(eval_sets(mdir, "val").items()) for r in decode_set(
            loaded, cuts, Context.DEFAULT, ["beam+hotwords"], 10, 100.0, graph)["beam+hotwords"]]
        e = list_effect(val, biased, graph.texts)
        rows[score] = (e.recall_biased, round(e.no_phrase_wer_biased - e.no_phrase_wer_plain, 2))
    assert rows[4.0][0] == 100.0 and rows[0.25][0] < 100.0  # the grid matters, so the choice is not arbitrary
    chosen = 4.0 if rows[4.0][1] <= 0.3 else 0.25 if rows[0.25][1] <= 0.3 else min(rows, key=lambda s: rows[s][1])
    results = (exp / "RESULTS.md").read_text(encoding="utf-8")
    assert f"m {chosen:g}: recall {rows[chosen][0]} %, {rows[chosen][1]:+.2f} points" in results
    record = json.loads((exp / "hotwords.json").read_text(encoding="utf-8"))
    assert record["tuned_on"] == "val" and record["models"]["m"] == {
        "score": chosen, "grid": {f"{s:g}": list(v) for s, v in rows.items()}}
    test = decode_set(loaded, eval_sets(mdir, "test")["telephony"], Context.DEFAULT, ["beam+hotwords"], 10, 100.0,
                      load_hotword_graph(hot, loaded.tokenizer, chosen))["beam+hotwords"]
    recogs = (exp / "prefix_beam_search_hotwords" / "recogs-test_telephony-m.txt").read_text(encoding="utf-8")
    assert f"hyp={test[0][2].split()}" in recogs


ARPA = """\\data\\
ngram 1=8
ngram 2=4

\\1-grams:
-2.0\t<unk>\t0
-99\t<s>\t-0.3
-0.8\t</s>\t0
-0.9\txin\t-0.2
-0.9\tchào\t-0.2
-1.0\tanh\t-0.2
-1.1\tcảm\t-0.2
-1.1\tơn\t-0.2

\\2-grams:
-0.1\t<s> xin
-0.1\txin chào
-0.1\tchào anh
-0.1\tcảm ơn

\\end\\
"""


def test_beam_lm_is_tuned_on_val_and_gets_lm_rows(tmp_path, official_model_dir):
    """``--methods beam,beam+lm --lm FILE``: the weight and bonus come from the val sets (the grid point of lowest
    pooled WER, recomputed here with decode_set), test is decoded with them, RESULTS.md has an ``m+LM`` row."""
    mdir, exp, arpa = tmp_path / "manifests", tmp_path / "exp", tmp_path / "lm.arpa"
    arpa.write_text(ARPA, encoding="utf-8")
    write_manifests(mdir, "telephony", "val", ["xin chào anh", "cảm ơn anh"], OFFICIAL / "A.wav")
    write_manifests(mdir, "reading", "val", ["xin chào"], OFFICIAL / "B.wav")
    write_manifests(mdir, "telephony", "test", ["xin chào anh"], OFFICIAL / "C.wav")
    argv = ["--exp-dir", str(exp), "--manifest-dir", str(mdir), "--model", f"m={official_model_dir}",
            "--splits", "test", "--methods", "beam,beam+lm", "--lm", str(arpa), "--lm-grid", "0.5,3:0,2"]
    assert main(argv) == 0
    info = json.loads((exp / "lm_fusion.json").read_text(encoding="utf-8"))
    loaded, lm = load_model(official_model_dir), load_lm(arpa)
    val = {}
    for point in [(0.5, 0.0), (0.5, 2.0), (3.0, 0.0), (3.0, 2.0)]:
        hyps = [r for name, cuts in sorted(eval_sets(mdir, "val").items()) for r in decode_set(
            loaded, cuts, Context.DEFAULT, ["beam+lm"], 10, 100.0, lm=LMFusion(lm, *point))["beam+lm"]]
        val[point] = compute_wer(hyps).wer
    assert len(set(val.values())) > 1  # the LM changes the val output, so the choice is not arbitrary
    chosen = min(val, key=lambda p: (val[p], p))
    m = info["models"]["m"]
    assert info["tuned_on"] == "val" and (m["weight"], m["bonus"]) == chosen
    assert m["search"] == "flashlight"  # the fixture's vocabulary is whole syllables, with <sos/eos>
    assert main([*argv, "--lm-search", "ours", "--exp-dir", str(tmp_path / "ours")]) == 0
    assert json.loads((tmp_path / "ours" / "lm_fusion.json").read_text(encoding="utf-8"))["models"]["m"][
        "search"] == "ours"
    assert m["grid"] == {f"{w:g},{b:g}": pytest.approx(e, abs=1e-4) for (w, b), e in val.items()}
    test = decode_set(loaded, eval_sets(mdir, "test")["telephony"], Context.DEFAULT, ["beam", "beam+lm"], 10,
                      100.0, lm=LMFusion(lm, *chosen))
    recogs = (exp / "prefix_beam_search_lm" / "recogs-test_telephony-m.txt").read_text(encoding="utf-8")
    assert f"hyp={test['beam+lm'][0][2].split()}" in recogs
    results = (exp / "RESULTS.md").read_text(encoding="utf-8")
    table = results.split("## prefix_beam_search")[1]
    assert table.index("| m |") < table.index("| m+LM |") and "## LM fusion (`+LM` rows)" in results
    assert f"| m | flashlight | {chosen[0]:g} | {chosen[1]:g} | {val[chosen]:.2f} |" in results


def test_lm_options_are_checked(tmp_path, official_model_dir, capsys):
    arpa = tmp_path / "lm.arpa"
    arpa.write_text(ARPA, encoding="utf-8")
    base = ["--exp-dir", str(tmp_path / "exp"), "--manifest-dir", str(tmp_path), "--model", f"m={official_model_dir}"]
    cases = [(["--methods", "beam+lm"], "method beam+lm needs --lm FILE"),
             (["--lm", str(arpa)], "add beam+lm to --methods"),
             (["--lm-weight", "0.5"], "--lm-weight/--lm-bonus need --lm FILE"),
             (["--methods", "beam+lm", "--lm", str(arpa), "--lm-bonus", "1"], "--lm-bonus needs --lm-weight"),
             (["--methods", "beam+lm", "--lm", str(arpa), "--lm-grid", "0:1"], "LM weights must be > 0"),
             (["--methods", "beam+lm", "--lm", str(tmp_path / "no.arpa")], "language model file not found"),
             (["--methods", "beam+lm", "--lm", str(arpa)], f"no val sets in {tmp_path} to tune the LM weight on")]
    for extra, message in cases:
        assert main([*base, *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra


def test_decoding_nothing_is_an_error_and_a_val_only_run_tabulates_val(tmp_path, official_model_dir, capsys):
    """A typo in --splits or a run before stage 0 decoded nothing, wrote no RESULTS.md and exited 0 (run.sh then
    said 'done: RESULTS.md'); ``--splits val`` alone decoded val but tabulated the absent test split."""
    mdir, exp = tmp_path / "manifests", tmp_path / "exp"
    write_manifests(mdir, "telephony", "val", ["xin chào"], OFFICIAL / "A.wav")
    base = ["--exp-dir", str(exp), "--manifest-dir", str(mdir), "--model", f"m={official_model_dir}",
            "--methods", "greedy"]
    assert main([*base, "--splits", "tset"]) == 2
    assert f"no tset cuts in {mdir}" in capsys.readouterr().err and not (exp / "RESULTS.md").exists()
    assert main([*base, "--splits", "val", "--results-split", "test"]) == 2
    assert "--results-split test is not among --splits val" in capsys.readouterr().err
    assert main([*base, "--splits", "val,test"]) == 1  # val decoded, but the tabulated split has no sets
    assert "no test sets in" in capsys.readouterr().err and not (exp / "RESULTS.md").exists()
    assert (exp / "greedy_search" / "recogs-val_telephony-m.txt").is_file()
    assert main([*base, "--splits", "val"]) == 0
    assert "WER (%) over syllables on the **val** sets" in (exp / "RESULTS.md").read_text(encoding="utf-8")


def test_results_say_what_the_lm_was_estimated_from(tmp_path):
    """RESULTS.md names the LM's sources from the lm.json beside it, above all a catalogue (test-time knowledge);
    an LM file without lm.json gets no such line."""
    lm = tmp_path / "lm" / "lm.bin"
    lm.parent.mkdir()
    info = {"tuned_on": "val", "grid": "0.5:1", "beam": 10, "lm": str(lm), "lm_digest": "abc",
            "models": {"m": {"search": "flashlight", "weight": 0.5, "bonus": 1.0, "error": 20.0}}}
    assert "estimated" not in lm_notes(info)
    (lm.parent / "lm.json").write_text(json.dumps({"train": {
        "domains": ["conversation", "telephony"], "sentences": 120, "text_files": {"more.txt": {"sentences": 30}},
        "classes": {"file": "cat.tsv", "copies": 10, "transcripts_matched": 5,
                    "classes": {"name": {"members": 3}, "street": {"members": 2}}}}}), encoding="utf-8")
    assert ("The LM was estimated (`lm.json`) from 120 sentences: the train transcripts of conversation, telephony; "
            "`more.txt` (30 sentences); the catalogue `cat.tsv` as classes (2 classes, 5 phrases: 5 transcripts "
            "holding one repeated 10 times with other members).") in lm_notes(info)
