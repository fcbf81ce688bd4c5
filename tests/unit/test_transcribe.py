"""`python -m chunkformer.transcribe` prints the official batch_decode transcripts, for short files in one
masked batch and for a several-minute file (one shot and in cached segments)."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from chunkformer.audio import resample
from chunkformer.checkpoint import load_model
from chunkformer.decoding import DecodeOptions, LMFusion, Word, build_hotwords, load_lm
from chunkformer.decoding.ctc_search import collapse
from chunkformer.model.masked_batch import Context
from chunkformer.model.quantize import BACKENDS, quantize_int8
from chunkformer.transcribe import Transcriber, main, split_at_pauses

from conftest import OFFICIAL
from helpers import check_words, encode, write_fixture_lm

CTX = "128,64,128"
TAG = "l128_c64_r128"


def run_cli(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chunkformer.transcribe", *args], capture_output=True, text=True)


def test_short_files_match_official(golden_meta, official_model_dir):
    wavs = [str(OFFICIAL / f"{n}.wav") for n in "ABC"]
    res = run_cli(["--model", str(official_model_dir), "--context", CTX, *wavs])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().split("\n")
    assert [ln.split("\t")[0] for ln in lines] == wavs
    for n, line in zip("ABC", lines):
        assert line.split("\t")[1] == golden_meta["batch_decode"][TAG][n]


@pytest.mark.parametrize("segment_seconds", ["600", "30"])
def test_long_file_matches_official(tmp_path, golden_meta, official_model_dir, long_wave, capsys, segment_seconds):
    wav = tmp_path / "long.wav"
    sf.write(wav, long_wave, 16000, subtype="PCM_16")
    jsonl = tmp_path / "out.jsonl"
    rc = main(["--model", str(official_model_dir), "--context", CTX, "--segment-seconds", segment_seconds,
               "--jsonl", str(jsonl), str(wav)])
    assert rc == 0
    text = capsys.readouterr().out.strip().split("\t")[1]
    assert text == golden_meta["batch_decode"][TAG]["L"]
    rec = json.loads(jsonl.read_text(encoding="utf-8"))
    assert rec["text"] == text
    assert len(rec["segments"]) > 5
    starts = [s["start"] for s in rec["segments"]]
    assert starts == sorted(starts) and rec["segments"][-1]["end"] <= 200.0


def transcripts(capsys, argv: list[str]) -> dict[str, str]:
    assert main(argv) == 0
    return dict(line.split("\t") for line in capsys.readouterr().out.strip().split("\n"))


def test_8khz_and_stereo_give_the_16khz_mono_transcript(tmp_path, official_model_dir, capsys):
    """The same speech as 16 kHz mono, as an 8 kHz file and as stereo: the same text, word for word.

    An 8 kHz file has lost everything above 4 kHz, and that changes the features: the fixture model (tiny,
    untrained) then differs from the full-band transcript in nearly every word, so the 8 kHz file is compared
    with the 16 kHz mono file of the same band-limited speech (what the telephone line let through). Stereo:
    two equal channels averaged, and ``--channel 1`` of a call whose channel 0 holds other speech.
    """
    x, rate = sf.read(OFFICIAL / "B.wav", dtype="float32")  # 13.7 s, 16-bit PCM at 16 kHz
    other, _ = sf.read(OFFICIAL / "A.wav", dtype="float32")
    assert rate == 16000
    narrow = resample(x, 16000, 8000)
    files = {"mono": (x, 16000), "8k": (narrow, 8000), "8k_as_16k": (resample(narrow, 8000, 16000), 16000),
             "stereo": (np.stack([x, x], 1), 16000)}
    paths = {}
    for name, (audio, r) in files.items():
        paths[name] = str(tmp_path / f"{name}.wav")
        sf.write(paths[name], audio, r, subtype="FLOAT")  # no requantisation: the same samples
    call = np.stack([np.resize(other, len(x)), x], 1)
    paths["call"] = str(tmp_path / "call.wav")
    sf.write(paths["call"], call, 16000, subtype="FLOAT")

    got = transcripts(capsys, ["--model", str(official_model_dir), *(paths[n] for n in files)])
    mono = got[paths["mono"]]
    assert len(mono.split()) > 50  # a long transcript: a chance match is impossible
    assert got[paths["stereo"]] == mono
    assert got[paths["8k"]] == got[paths["8k_as_16k"]]
    assert got[paths["8k"]] != mono  # the band limit is real (so the comparison above is not vacuous)
    channel1 = transcripts(capsys, ["--model", str(official_model_dir), "--channel", "1", paths["call"]])
    assert channel1[paths["call"]] == mono
    mixed = transcripts(capsys, ["--model", str(official_model_dir), paths["call"]])
    assert mixed[paths["call"]] != mono  # without --channel the other speaker is averaged in


def test_audio_on_standard_input_is_transcribed_like_the_file(golden_meta, official_model_dir):
    """``-`` reads the bytes from a pipe: a regular file, and espeak-ng's streamed WAV (unknown data size)."""
    wav = OFFICIAL / "A.wav"
    res = subprocess.run([sys.executable, "-m", "chunkformer.transcribe", "--model", str(official_model_dir),
                          "--context", CTX, "-"], input=wav.read_bytes(), capture_output=True, check=True)
    assert res.stdout.decode() == f"-\t{golden_meta['batch_decode'][TAG]['A']}\n"
    espeak = subprocess.run(["espeak-ng", "-v", "vi", "--stdout", "xin chào"], capture_output=True, check=True)
    res = subprocess.run([sys.executable, "-m", "chunkformer.transcribe", "--model", str(official_model_dir), "-"],
                         input=espeak.stdout, capture_output=True)
    assert res.returncode == 0 and res.stdout.decode().startswith("-\t"), res.stderr.decode()


def test_bad_file_is_reported_and_others_still_decoded(tmp_path, official_model_dir, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wav")
    rc = main(["--model", str(official_model_dir), str(bad), str(OFFICIAL / "A.wav")])
    cap = capsys.readouterr()
    assert rc == 1
    assert "broken.wav" in cap.err and "cannot decode audio" in cap.err
    assert cap.out.startswith(str(OFFICIAL / "A.wav"))


def test_truncated_files_are_reported_like_the_server_does(tmp_path, official_model_dir, capsys):
    """A WAV cut short, a WAV whose header declares an hour, an MP3 cut in half: each an error naming the file
    (the server's 400), not a transcript of the part present; the good file between them is transcribed."""
    x = sf.read(OFFICIAL / "B.wav", dtype="float32")[0]
    wav, mp3 = encode(x), encode(x, fmt="MP3")
    (tmp_path / "cut.wav").write_bytes(wav[: len(wav) // 2])
    (tmp_path / "hour.wav").write_bytes(wav[:40] + struct.pack("<I", 3600 * 32000) + wav[44:])
    (tmp_path / "cut.mp3").write_bytes(mp3[: len(mp3) // 2])
    paths = [str(tmp_path / n) for n in ("cut.wav", "hour.wav", "cut.mp3")]
    rc = main(["--model", str(official_model_dir), paths[0], str(OFFICIAL / "A.wav"), *paths[1:]])
    cap = capsys.readouterr()
    assert rc == 1 and [ln.split("\t")[0] for ln in cap.out.splitlines()] == [str(OFFICIAL / "A.wav")]
    assert f"error: {paths[0]}: truncated WAV: its data chunk holds {len(wav) // 2 - 44} of the {len(wav) - 44} " \
           "bytes it declares" in cap.err
    assert f"error: {paths[1]}: truncated WAV: its data chunk holds {len(wav) - 44} of the 115200000" in cap.err
    assert re.search(rf"error: {re.escape(paths[2])}: truncated: \d+ of the {len(x)} samples", cap.err), cap.err
    assert "3 of 4 files could not be transcribed" in cap.err


@pytest.mark.parametrize("backend", BACKENDS)
def test_int8_backend_option_gives_that_backends_transcript(official_model_dir, capsys, backend):
    wav = str(OFFICIAL / "A.wav")
    assert main(["--model", str(official_model_dir), "--int8", "--int8-backend", backend, wav]) == 0
    loaded = load_model(official_model_dir)
    quantize_int8(loaded.model, backend=backend)
    tr = Transcriber(loaded.model, loaded.tokenizer, Context.DEFAULT)
    text = next(iter(tr.transcribe([wav], progress=False))).text
    assert capsys.readouterr().out == f"{wav}\t{text}\n"
    # without --int8 the option would do nothing: one line, exit 2
    assert main(["--model", str(official_model_dir), "--int8-backend", backend, wav]) == 2
    assert "--int8-backend needs --int8" in capsys.readouterr().err


def test_missing_model_is_one_line_error(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "nope"), str(OFFICIAL / "A.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope" in err


@pytest.mark.parametrize("where", ["missing/out.jsonl", "."])
def test_unwritable_jsonl_is_one_line_error(tmp_path, official_model_dir, capsys, where):
    out = tmp_path / where
    assert main(["--model", str(official_model_dir), "--jsonl", str(out), str(OFFICIAL / "A.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"error: --jsonl {out}: cannot write (")


@pytest.mark.parametrize("option", ["--batch-seconds", "--segment-seconds"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_batch_and_segment_lengths_are_checked(official_model_dir, capsys, option, value):
    assert main(["--model", str(official_model_dir), option, value, str(OFFICIAL / "A.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {option} must be a finite number of seconds, got {float(value)}"


def test_collapse_and_pauses():
    assert collapse([0, 3, 3, 0, 3, 5, 5, 0]) == [3, 3, 5]
    words = [Word("a", 0.3, 0.6, 1.0), Word("b", 0.6, 0.9, 1.0), Word("c", 1.4, 1.7, 1.0), Word("d", 1.89, 2.0, 1.0)]
    # a pause of 0.5 s (b → c) splits, one of 0.19 s (c → d) does not
    assert split_at_pauses(words, max_silence=0.5) == [{"start": 0.3, "end": 0.9, "text": "a b"},
                                                       {"start": 1.4, "end": 2.0, "text": "c d"}]
    assert split_at_pauses([], 0.5) == []


def check_record(rec: dict, seconds: float) -> None:
    """The --jsonl schema: the old fields plus the file's confidence and its words with times (s)."""
    assert set(rec) == {"path", "text", "segments", "confidence", "words"}
    assert " ".join(s["text"] for s in rec["segments"]) == rec["text"]
    check_words(rec, seconds)


def test_jsonl_has_confidence_and_word_times(tmp_path, official_model_dir, capsys):
    jsonl = tmp_path / "out.jsonl"
    wavs = [OFFICIAL / "A.wav", OFFICIAL / "C.wav"]
    assert main(["--model", str(official_model_dir), "--jsonl", str(jsonl), *map(str, wavs)]) == 0
    printed = dict(line.split("\t") for line in capsys.readouterr().out.strip().split("\n"))
    recs = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [r["path"] for r in recs] == [str(w) for w in wavs]
    for rec, wav in zip(recs, wavs):
        assert rec["text"] == printed[str(wav)] and rec["words"]
        check_record(rec, sf.info(wav).duration)


def test_hotwords_bias_the_transcript(tmp_path, official_model_dir, capsys):
    """The fixture model (untrained) hears "bốn đã" at 0.96-1.12 s, with "trăm phố" second best there;
    the hotword "trăm phố" turns the greedy transcript's words into it."""
    wav = str(OFFICIAL / "A.wav")
    greedy = transcripts(capsys, ["--model", str(official_model_dir), wav])[wav]
    assert "trăm phố" not in greedy
    hot = tmp_path / "hot.txt"
    hot.write_text("# call context\nTrăm Phố\nHồ Chí Minh\n", encoding="utf-8")  # "chí" is not in the vocab
    jsonl = tmp_path / "out.jsonl"
    assert main(["--model", str(official_model_dir), "--hotwords", str(hot), "--jsonl", str(jsonl), wav]) == 0
    cap = capsys.readouterr()
    text = cap.out.strip().split("\t")[1]
    assert "trăm phố" in text and text != greedy
    assert "'Hồ Chí Minh' ignored: the vocabulary cannot spell chí" in cap.err
    rec = json.loads(jsonl.read_text(encoding="utf-8"))
    check_record(rec, 2.0)
    assert rec["text"] == text


def test_per_call_hotwords_in_the_python_api(tmp_path, official_model_dir, capsys):
    """One Transcriber, a list for one call and none for the next: each call's records are exactly what
    ``transcribe --hotwords FILE --jsonl`` and plain ``transcribe --jsonl`` write; a Transcriber forced to
    greedy refuses a list rather than ignoring it."""
    wav = str(OFFICIAL / "A.wav")
    hot = tmp_path / "hot.txt"
    hot.write_text("Trăm Phố\n", encoding="utf-8")
    cli = {}
    for name, extra in (("biased", ["--hotwords", str(hot)]), ("greedy", [])):
        jsonl = tmp_path / f"{name}.jsonl"
        assert main(["--model", str(official_model_dir), *extra, "--jsonl", str(jsonl), wav]) == 0
        cli[name] = json.loads(jsonl.read_text(encoding="utf-8"))
    capsys.readouterr()
    loaded = load_model(official_model_dir)
    tr = Transcriber(loaded.model, loaded.tokenizer)
    graph = build_hotwords(["Trăm Phố"], loaded.tokenizer).graph
    assert [t.record() for t in tr.transcribe([wav], progress=False, hotwords=graph)] == [cli["biased"]]
    assert [t.record() for t in tr.transcribe([wav], progress=False)] == [cli["greedy"]]
    assert "trăm phố" in cli["biased"]["text"] and "trăm phố" not in cli["greedy"]["text"]
    greedy_only = Transcriber(loaded.model, loaded.tokenizer, options=DecodeOptions(method="greedy"))
    with pytest.raises(ValueError, match="hotwords need the beam search"):
        next(greedy_only.transcribe([wav], progress=False, hotwords=graph))


def test_hotword_options_are_checked(tmp_path, official_model_dir, capsys):
    wav = str(OFFICIAL / "C.wav")
    hot = tmp_path / "hot.txt"
    model = ["--model", str(official_model_dir)]
    assert main([*model, "--hotword-score", "3", wav]) == 2
    assert "--hotword-score needs --hotwords" in capsys.readouterr().err
    assert main([*model, "--hotwords", str(hot), wav]) == 2
    assert "hotword file not found" in capsys.readouterr().err
    hot.write_text("xin chào\ttwo\n", encoding="utf-8")
    assert main([*model, "--hotwords", str(hot), wav]) == 2
    assert "hot.txt:1: score 'two' is not a finite number" in capsys.readouterr().err
    hot.write_text("Hồ Chí Minh\nxyzzy\n", encoding="utf-8")
    assert main([*model, "--hotwords", str(hot), wav]) == 2
    assert "no usable hotword (2 rejected" in capsys.readouterr().err
    hot.write_text("xin chào\n", encoding="utf-8")
    assert main([*model, "--hotwords", str(hot), "--hotword-score", "-1", wav]) == 2
    assert "hotword score must be a finite number > 0" in capsys.readouterr().err


def test_lm_fusion_changes_the_transcript_as_the_python_api_does(tmp_path, official_model_dir, capsys):
    """``--lm FILE --lm-weight W --lm-bonus B``: every file is decoded by the beam search fused with the LM,
    exactly as a Transcriber with ``DecodeOptions(lm=LMFusion(...))`` decodes it; the LM puts the phrase it
    favours into A's transcript, which greedy decoding does not have; hotwords and the LM go together."""
    wav = str(OFFICIAL / "A.wav")
    arpa = write_fixture_lm(tmp_path / "lm.arpa", official_model_dir / "vocab.txt")
    model = ["--model", str(official_model_dir)]
    greedy = transcripts(capsys, [*model, wav])[wav]
    jsonl = tmp_path / "lm.jsonl"
    assert main([*model, "--lm", str(arpa), "--lm-weight", "0.5", "--lm-bonus", "2", "--jsonl", str(jsonl), wav]) == 0
    fused = capsys.readouterr().out.strip().split("\t")[1]
    assert "trăm phố" in fused and "trăm phố" not in greedy
    loaded = load_model(official_model_dir)
    tr = Transcriber(loaded.model, loaded.tokenizer, options=DecodeOptions(lm=LMFusion(load_lm(arpa), 0.5, 2.0)))
    assert [t.record() for t in tr.transcribe([wav], progress=False)] == [json.loads(jsonl.read_text("utf-8"))]
    hot = tmp_path / "hot.txt"
    hot.write_text("tài đã\n", encoding="utf-8")
    both = transcripts(capsys, [*model, "--lm", str(arpa), "--lm-weight", "0.5", "--lm-bonus", "2",
                                "--hotwords", str(hot), wav])[wav]
    graph = build_hotwords(["tài đã"], loaded.tokenizer).graph
    assert both == next(tr.transcribe([wav], progress=False, hotwords=graph)).text
    # --lm-search picks the search (auto is flashlight's here: the fixture vocabulary is whole syllables)
    for search in ("ours", "flashlight"):
        cli = transcripts(capsys, [*model, "--lm", str(arpa), "--lm-weight", "0.5", "--lm-bonus", "2",
                                   "--lm-search", search, wav])[wav]
        api = Transcriber(loaded.model, loaded.tokenizer,
                          options=DecodeOptions(lm=LMFusion(load_lm(arpa), 0.5, 2.0, search)))
        assert cli == next(api.transcribe([wav], progress=False)).text and "trăm phố" in cli
        assert (search == "flashlight") == (api.decoder.lm_search is not None)


def test_lm_options_are_checked(tmp_path, official_model_dir, capsys):
    wav = str(OFFICIAL / "C.wav")
    model = ["--model", str(official_model_dir)]
    arpa = write_fixture_lm(tmp_path / "lm.arpa", official_model_dir / "vocab.txt")
    for argv, message in (
            (["--lm", str(arpa)], f"--lm {arpa} needs --lm-weight W (and --lm-bonus B): stage 5 writes"),
            (["--lm-weight", "0.5"], "--lm-weight/--lm-bonus need --lm FILE"),
            (["--lm", str(tmp_path / "none.arpa"), "--lm-weight", "0.5"], "none.arpa: language model file not found"),
            (["--lm", str(arpa), "--lm-weight", "-1"], "LM weight must be a finite number >= 0"),
            (["--lm", str(arpa), "--lm-weight", "0.5", "--lm-bonus", "nan"], "bonus nan")):
        assert main([*model, *argv, wav]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (argv, err)
