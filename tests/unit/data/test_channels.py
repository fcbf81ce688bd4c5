"""Channels of multi-channel (call) audio, issue 14 item 2: a data.yaml source names its channel (0-based, as
lhotse counts), splits channels into items, or mixes them explicitly; a stereo file with no channel given is
rejected by stage 0; the chosen channel alone reaches manifests, stage-1 features, training audio and
``transcribe --channel``.

Every stereo file holds different synthetic speech on each channel, and each channel is also written as a mono
file: a test tells the channel used by comparing samples or features with those of the mono file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from chunkformer.audio import resample
from chunkformer.data.config import ConfigError, load_data_config
from chunkformer.data.manifests import cuts_path
from chunkformer.data.pipeline import load_mono, process_cut
from chunkformer.data.sources import read_source
from chunkformer.frontend import fbank, load_features
from chunkformer.text import normalize_text

from helpers import VOCAB, load_script, rejected, sentence, speech

RATE = 8000


def stereo_call(d: Path, name: str, seconds: float = 4.0, seed: int = 0) -> tuple[Path, list[Path]]:
    """``<name>.wav`` (stereo 8 kHz, other speech per channel) and its channels as ``<name>-mono<k>.wav``."""
    d.mkdir(parents=True, exist_ok=True)
    chans = [speech(seed + 100, seconds, RATE), speech(seed + 200, seconds, RATE) * 0.7]
    path = d / f"{name}.wav"
    sf.write(path, np.stack(chans, axis=1), RATE, subtype="FLOAT")
    monos = []
    for k, x in enumerate(chans):
        monos.append(d / f"{name}-mono{k}.wav")
        sf.write(monos[-1], x, RATE, subtype="FLOAT")
    return path, monos


def kaldi_dir(d: Path, calls: list[Path], rec_suffix: str = "") -> Path:
    """A Kaldi dir: two segments per call (0-1.8 s, 2-3.8 s), ``rec_suffix`` appended to segments' recordings."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "wav.scp").write_text("".join(f"{c.stem} {c}\n" for c in calls), encoding="utf-8")
    segs, text = [], []
    for i, c in enumerate(calls):
        for j, (s, e) in enumerate([(0.0, 1.8), (2.0, 3.8)]):
            segs.append(f"{c.stem}-{j} {c.stem}{rec_suffix} {s} {e}")
            text.append(f"{c.stem}-{j} {sentence(10 * i + j)}")
    (d / "segments").write_text("\n".join(segs) + "\n", encoding="utf-8")
    (d / "text").write_text("\n".join(text) + "\n", encoding="utf-8")
    return d


def run_stage0(root: Path, sources: str, extra: str = "") -> Path:
    yaml = root / "data.yaml"
    yaml.write_text(f"train:\n{sources}{extra}", encoding="utf-8")
    mdir = root / "manifests"
    args = ["--data-config", str(yaml), "--vocab", str(VOCAB), "--out-dir", str(mdir), "--num-jobs", "1"]
    assert load_script("prepare_manifests").main(args) == 0
    return mdir


def cuts_of(mdir: Path, domain: str) -> dict:
    from lhotse import load_manifest

    return {c.id: c for c in load_manifest(cuts_path(mdir, domain, "train"))}


def segment(mono: Path, start: float, dur: float) -> np.ndarray:
    x, _ = sf.read(mono, dtype="float32")
    return x[int(round(start * RATE)): int(round(start * RATE)) + int(round(dur * RATE))]


def test_data_yaml_channel_keys(tmp_path: Path) -> None:
    def parse(src: str):
        (tmp_path / "d.yaml").write_text(f"train:\n  - path: x\n    domain: a\n{src}", encoding="utf-8")
        return load_data_config(tmp_path / "d.yaml").splits["train"][0].channel

    assert parse("    channel: 1\n") == 1 and parse("    channel: mix\n") == "mix"
    assert parse("    channels: split\n") == "split" and parse("") is None
    for bad, msg in [("    channel: -1\n", "0-based"), ("    channel: left\n", "0-based"),
                     ("    channels: 2\n", "only 'split'"), ("    channel: 1\n    channels: split\n", "not both")]:
        with pytest.raises(ConfigError, match=msg):
            parse(bad)


def test_stereo_without_channel_is_rejected_with_its_reason(tmp_path: Path) -> None:
    call, _ = stereo_call(tmp_path / "audio", "call1")
    kaldi_dir(tmp_path / "kaldi", [call])
    mdir = run_stage0(tmp_path, f"  - path: {tmp_path / 'kaldi'}\n    domain: tel\n")
    assert rejected(mdir, "train") == {"call1-0": "multi-channel audio without a channel",
                                       "call1-1": "multi-channel audio without a channel"}
    reason = (mdir / "rejected-train.tsv").read_text(encoding="utf-8")
    assert "2 channels and none chosen" in reason and "channel: <0-based index>" in reason


def test_channel_1_reaches_manifests_features_and_training_audio(tmp_path: Path) -> None:
    call, monos = stereo_call(tmp_path / "audio", "call1")
    kaldi_dir(tmp_path / "kaldi", [call])
    mdir = run_stage0(tmp_path, f"  - path: {tmp_path / 'kaldi'}\n    domain: tel\n    channel: 1\n")
    cuts = cuts_of(mdir, "tel")
    assert set(cuts) == {"call1-0", "call1-1"}
    cut = cuts["call1-1"]
    assert cut.channel == 1 and cut.supervisions[0].channel == 1 and cut.recording.num_channels == 2
    x, rate = load_mono(cut)  # the training path (DataLoader workers)
    assert rate == RATE and np.array_equal(x, segment(monos[1], 2.0, 1.8))
    assert not np.allclose(x, segment(monos[0], 2.0, 1.8), atol=1e-3)
    feats, _, _ = process_cut(cut, None, None)
    assert torch.equal(feats, fbank(resample(segment(monos[1], 2.0, 1.8), RATE, 16000)))
    stage1 = load_script("compute_fbank")  # stage-1 features (a train domain without waveform ops): channel 1
    fb = tmp_path / "fbank"
    assert stage1.main(["--manifest-dir", str(mdir), "--out-dir", str(fb), "--num-jobs", "1"]) == 0
    from lhotse import load_manifest

    stored = {c.id: c for c in load_manifest(cuts_path(fb, "tel", "train"))}
    assert np.array_equal(stored["call1-1"].load_features(), feats.numpy())


def test_channels_split_gives_one_item_per_channel(tmp_path: Path) -> None:
    call, monos = stereo_call(tmp_path / "files", "call1")
    for p in monos:
        p.unlink()  # only the stereo file in the glob
    (tmp_path / "files" / "call1_ch0.txt").write_text(sentence(1), encoding="utf-8")
    (tmp_path / "files" / "call1_ch1.txt").write_text(sentence(2), encoding="utf-8")
    call2, _ = stereo_call(tmp_path / "audio", "call2", seed=5)
    kaldi_dir(tmp_path / "kaldi", [call2], rec_suffix="_ch1")  # segments name recording call2_ch1: channel 1
    src = (f"  - path: {tmp_path / 'files'}/*.wav\n    domain: files\n    channels: split\n"
           f"  - path: {tmp_path / 'kaldi'}\n    domain: kaldi\n    channels: split\n")
    mdir = run_stage0(tmp_path, src)
    files = cuts_of(mdir, "files")
    assert {k: (c.channel, c.supervisions[0].text) for k, c in files.items()} == {
        "call1_ch0": (0, normalize_text(sentence(1))), "call1_ch1": (1, normalize_text(sentence(2)))}
    assert files["call1_ch0"].recording.id == "call1"  # one recording, two channels
    kaldi = cuts_of(mdir, "kaldi")
    assert {c.channel for c in kaldi.values()} == {1}
    _, monos2 = stereo_call(tmp_path / "check", "call2", seed=5)
    assert np.array_equal(load_mono(kaldi["call2-0"])[0], segment(monos2[1], 0.0, 1.8))


def test_channels_split_on_a_tsv_is_a_source_error(tmp_path: Path) -> None:
    from chunkformer.data.sources import SourceError

    (tmp_path / "list.tsv").write_text("wav\ttxt\na.wav\txin chào\n", encoding="utf-8")
    with pytest.raises(SourceError, match="needs a transcript per channel"):
        read_source(str(tmp_path / "list.tsv"), "split")


def test_channel_mix_is_an_explicit_average(tmp_path: Path) -> None:
    call, monos = stereo_call(tmp_path / "audio", "call1")
    kaldi_dir(tmp_path / "kaldi", [call])
    mdir = run_stage0(tmp_path, f"  - path: {tmp_path / 'kaldi'}\n    domain: tel\n    channel: mix\n")
    cut = cuts_of(mdir, "tel")["call1-0"]
    assert cut.custom["channel"] == "mix" and cut.channel == [0, 1]
    want = (segment(monos[0], 0.0, 1.8) + segment(monos[1], 0.0, 1.8)) / 2
    np.testing.assert_allclose(load_mono(cut)[0], want, atol=1e-7)


def test_unmarked_multichannel_cut_is_never_averaged(tmp_path: Path) -> None:
    from lhotse import MultiCut, Recording

    call, _ = stereo_call(tmp_path, "call1")
    rec = Recording.from_file(call)
    cut = MultiCut(id="c", start=0.0, duration=1.0, channel=[0, 1], recording=rec, custom={"domain": "x"})
    with pytest.raises(ValueError, match="2 channels and none chosen"):
        load_mono(cut)


def test_lhotse_supervisions_keep_their_channel(tmp_path: Path) -> None:
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    call, monos = stereo_call(tmp_path / "audio", "call1")
    rec = Recording.from_file(call, recording_id="call1")
    sups = [SupervisionSegment("agent", "call1", 0.0, 1.8, channel=0, text=sentence(1)),
            SupervisionSegment("customer", "call1", 2.0, 1.8, channel=1, text=sentence(2))]
    (tmp_path / "m").mkdir()
    RecordingSet.from_recordings([rec]).to_file(tmp_path / "m" / "x_recordings_train.jsonl.gz")
    SupervisionSet.from_segments(sups).to_file(tmp_path / "m" / "x_supervisions_train.jsonl.gz")
    mdir = run_stage0(tmp_path, f"  - path: {tmp_path / 'm'}\n    domain: tel\n")
    cuts = cuts_of(mdir, "tel")
    assert (cuts["agent"].channel, cuts["customer"].channel) == (0, 1)
    assert np.array_equal(load_mono(cuts["customer"])[0], segment(monos[1], 2.0, 1.8))


def test_a_channel_the_file_lacks_is_rejected(tmp_path: Path) -> None:
    call, _ = stereo_call(tmp_path / "audio", "call1")
    kaldi_dir(tmp_path / "kaldi", [call])
    mdir = run_stage0(tmp_path, f"  - path: {tmp_path / 'kaldi'}\n    domain: tel\n    channel: 2\n")
    assert set(rejected(mdir, "train").values()) == {"no such channel"}


def test_one_channel_of_a_long_call_is_read_by_seeking_not_whole(tmp_path: Path, monkeypatch) -> None:
    """Training reads a segment of a file source with lhotse's seek + read of that span (no whole decode,
    unlike a 'sox ... remix N |' command in wav.scp, which stage 0 warns about)."""
    call, monos = stereo_call(tmp_path / "audio", "call1", seconds=60.0)
    kaldi_dir(tmp_path / "kaldi", [call])
    mdir = run_stage0(tmp_path, f"  - path: {tmp_path / 'kaldi'}\n    domain: tel\n    channel: 1\n")
    cut = cuts_of(mdir, "tel")["call1-1"]
    want = segment(monos[1], 2.0, 1.8)
    frames: list[int] = []
    real_read = sf.SoundFile.read

    def read(self, frames_=-1, *args, **kwargs):
        n = kwargs.pop("frames", frames_)
        frames.append(n)
        return real_read(self, n, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", read)
    x, _ = load_mono(cut)
    assert np.array_equal(x, want)
    assert frames and max(frames) <= int(1.8 * RATE) + 1  # 1.8 s read of a 60 s call


def test_kaldi_remix_command_with_segments_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    call, _ = stereo_call(tmp_path / "audio", "call1")
    d = kaldi_dir(tmp_path / "kaldi", [call])
    (d / "wav.scp").write_text(f"call1 sox -D {call} -t wav - remix 2 |\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="chunkformer.data"):
        items = read_source(str(d))
    assert all(it.command for it in items)
    assert "every segment decodes the whole call" in caplog.text and "channel: <0-based index>" in caplog.text


def test_transcribe_channel_and_one_downmix_warning(tmp_path: Path, official_model_dir: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    from chunkformer.checkpoint import load_model
    from chunkformer.transcribe import Transcriber

    calls = [stereo_call(tmp_path, f"call{i}", seconds=2.0, seed=i)[0] for i in range(2)]
    monos = sorted(tmp_path.glob("call0-mono*.wav"))
    for k in (0, 1):
        assert torch.equal(load_features(calls[0], channel=k), load_features(monos[k]))
    loaded = load_model(str(official_model_dir))
    by_channel = Transcriber(loaded.model, loaded.tokenizer, channel=1)
    mono = Transcriber(loaded.model, loaded.tokenizer)
    assert [t.text for t in by_channel.transcribe([str(calls[0])], progress=False)] == \
        [t.text for t in mono.transcribe([str(monos[1])], progress=False)]
    with caplog.at_level(logging.WARNING, logger="chunkformer.transcribe"):
        out = list(Transcriber(loaded.model, loaded.tokenizer).transcribe([str(c) for c in calls], progress=False))
    assert len(out) == 2 and all(t.error is None for t in out)
    warnings = [r for r in caplog.records if "channels: averaged" in r.getMessage()]
    assert len(warnings) == 1 and "--channel" in warnings[0].getMessage()
    bad = list(by_channel.transcribe([str(monos[0])], progress=False))  # mono file: no channel 1
    assert bad[0].error and "no channel 1" in bad[0].error
