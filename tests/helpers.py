"""Builders shared by the tests (imported as ``helpers``; ``tests/conftest.py`` puts this folder on sys.path).

:func:`make_corpus` writes a tiny corpus seeded with every defect stage 0 must reject, in every source layout;
:func:`write_manifests` stage-0-shaped manifests of given transcripts.
Audio is synthetic speech-like sound (``tests/fixtures/synth_audio.py``), a few seconds in total; transcripts
use the fixture vocabulary. :func:`load_script` imports a ``local/`` stage script.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import io
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from synth_audio import make_wave

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
VOCAB = FIXTURES / "official" / "model" / "vocab.txt"
WORDS = ("xin chào tôi có thể giúp gì cho anh chị không vâng dạ em muốn kiểm tra số dư tài khoản của mình "
         "đơn hàng đã được giao chưa cảm ơn").split()


def speech(seed: int, seconds: float, rate: int = 16000) -> np.ndarray:
    """Speech-like float32 audio at ``rate``."""
    from chunkformer.audio import resample

    x = make_wave(seed, seconds).astype(np.float32) / 32768.0
    return resample(x, 16000, rate) if rate != 16000 else x


def sentence(seed: int, n: int = 4) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(WORDS[i] for i in rng.choice(len(WORDS), size=n, replace=False)).capitalize() + "."


def write_wav(path: Path, x: np.ndarray, rate: int = 16000, subtype: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, rate, subtype=subtype)


def make_corpus(root: Path, n_good: int = 6, seconds: float = 1.6, max_duration: float = 6.0,
                extra_yaml: str = "") -> tuple[Path, dict[str, dict[str, str]], dict[str, set[str]]]:
    """Writes the corpus and its data.yaml under ``root``.

    Returns (yaml path, expected rejections {split: {id: reason}}, expected kept ids {split: {ids}}).
    """
    rej: dict[str, dict[str, str]] = {"train": {}, "val": {}, "test": {}}
    good: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    tel = root / "tel"
    # --- train/telephony: a glob of 8 kHz wav files with sibling .txt ---
    for i in range(n_good):
        write_wav(tel / f"tel{i}.wav", speech(10 + i, seconds, 8000), 8000)
        (tel / f"tel{i}.txt").write_text(sentence(i), encoding="utf-8")
        good["train"].add(f"tel{i}")
    (tel / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    (tel / "corrupt.txt").write_text("xin chào", encoding="utf-8")
    rej["train"]["corrupt"] = "unreadable audio"
    write_wav(tel / "empty.wav", np.zeros(0, np.float32), 8000)
    (tel / "empty.txt").write_text("xin chào", encoding="utf-8")
    rej["train"]["empty"] = "zero or near-zero duration"  # a header-only wav
    write_wav(tel / "blip.wav", speech(3, 0.02, 8000), 8000)
    (tel / "blip.txt").write_text("xin chào", encoding="utf-8")
    rej["train"]["blip"] = "zero or near-zero duration"
    write_wav(tel / "notext.wav", speech(4, 1.0, 8000), 8000)
    rej["train"]["notext"] = "missing transcript"
    write_wav(tel / "blank.wav", speech(5, 1.0, 8000), 8000)
    (tel / "blank.txt").write_text("  ...  \n", encoding="utf-8")
    rej["train"]["blank"] = "empty transcript"
    write_wav(tel / "latin1.wav", speech(6, 1.0, 8000), 8000)
    (tel / "latin1.txt").write_bytes("xin chào".encode("latin-1"))
    rej["train"]["latin1"] = "non-UTF-8 transcript"
    write_wav(tel / "oov.wav", speech(7, 1.0, 8000), 8000)
    (tel / "oov.txt").write_text("xin chào bạn", encoding="utf-8")
    rej["train"]["oov"] = "unspellable transcript"
    write_wav(tel / "nan.wav", np.where(np.arange(8000) == 100, np.nan, speech(8, 1.0, 8000)).astype(np.float32), 8000,
         "FLOAT")
    (tel / "nan.txt").write_text("xin chào", encoding="utf-8")
    rej["train"]["nan"] = "NaN/Inf samples"
    write_wav(tel / "silent.wav", np.zeros(16000, np.float32), 8000)
    (tel / "silent.txt").write_text("xin chào", encoding="utf-8")
    rej["train"]["silent"] = "digital silence"
    write_wav(tel / "dc.wav", np.full(16000, 0.25, np.float32), 8000)  # a constant offset is silence too
    (tel / "dc.txt").write_text("xin chào", encoding="utf-8")
    rej["train"]["dc"] = "digital silence"
    write_wav(tel / "tiny.wav", speech(9, 0.1, 8000), 8000)  # 8 fbank frames < 15
    (tel / "tiny.txt").write_text("xin", encoding="utf-8")
    rej["train"]["tiny"] = "shorter than receptive field"
    write_wav(tel / "long.wav", speech(11, max_duration + 1.0, 8000), 8000)
    (tel / "long.txt").write_text("xin chào", encoding="utf-8")
    rej["train"]["long"] = "too long"
    # 1.0 s: 98 fbank frames -> 11 output frames, 10 at speed 1.1 (train sources use speed perturbation)
    write_wav(tel / "fast.wav", speech(12, 1.0, 8000), 8000)
    (tel / "fast.txt").write_text(" ".join(WORDS[:11]), encoding="utf-8")
    rej["train"]["fast"] = "too short for transcript (CTC)"
    # --- train/conversation: a Kaldi dir (44.1 kHz flac + stereo wav), segments, utt2spk ---
    conv = root / "conv"
    conv.mkdir()
    rec_a = np.concatenate([speech(20, 2.0, 44100), speech(21, 2.0, 44100)])
    write_wav(conv / "recA.flac", rec_a, 44100)
    stereo = np.stack([speech(22, 1.8), speech(23, 1.8)], axis=1)
    write_wav(conv / "recB.wav", stereo)
    (conv / "wav.scp").write_text(f"recA {conv / 'recA.flac'}\nrecB {conv / 'recB.wav'}\n"
                                  f"recC sox -D {conv / 'recB.wav'} -t wav -r 8000 - |\n", encoding="utf-8")
    (conv / "segments").write_text("conv1 recA 0.0 2.0\nconv2 recA 2.0 4.0\nconv3 recB 0.0 1.8\n"
                                   "conv4 recA 3.5 9.0\nconv5 recC 0.0 1.8\ntel0 recB 0.0 1.0\n", encoding="utf-8")
    (conv / "text").write_text(f"conv1 {sentence(31)}\nconv2 {sentence(32)}\nconv3 {sentence(33)}\nconv4 xin chào\n"
                               f"conv5 {sentence(35)}\ntel0 xin chào\norphan xin chào\n", encoding="utf-8")
    (conv / "utt2spk").write_text("conv1 s1\nconv2 s1\nconv3 s2\n", encoding="utf-8")
    good["train"] |= {"conv1", "conv2", "conv3", "conv5"}
    rej["train"] |= {"conv4": "segment outside audio", "tel0": "duplicate id", "orphan": "no audio"}
    # --- val/telephony: TSV with header wav/txt, relative paths; mp3 and wav ---
    val = root / "val"
    for i in range(3):
        write_wav(val / "audio" / f"v{i}.wav", speech(40 + i, seconds, 8000), 8000)
        good["val"].add(f"v{i}")
    write_wav(val / "audio" / "v3.mp3", speech(43, seconds))
    good["val"].add("v3")
    # 1.0 s at 16 kHz: exactly 11 output frames; 11 distinct tokens fit, 10 tokens with one repeat pair do not
    write_wav(val / "audio" / "edge_ok.wav", speech(44, 1.0))
    write_wav(val / "audio" / "edge_rep.wav", speech(45, 1.0))
    good["val"].add("edge_ok")
    rej["val"] |= {"edge_rep": "too short for transcript (CTC)", "missing": "missing audio file"}
    rows = [f"audio/v{i}.wav\t{sentence(50 + i)}" for i in range(3)] + [f"audio/v3.mp3\t{sentence(53)}",
            "audio/edge_ok.wav\t" + " ".join(WORDS[:11]), "audio/edge_rep.wav\t" + " ".join(WORDS[:10] + WORDS[9:10]),
            "audio/missing.wav\txin chào"]
    (val / "list.tsv").write_text("wav\ttxt\n" + "\n".join(rows) + "\n", encoding="utf-8")
    # --- test/telephony: a folder with transcripts.tsv holding an id column and a non-UTF-8 line ---
    test = root / "test"
    write_wav(test / "t0.wav", speech(60, seconds, 8000), 8000)
    write_wav(test / "t1.wav", speech(61, seconds, 8000), 8000)
    good["test"] |= {"utt-t0"}
    rej["test"] |= {"utt-t1": "non-UTF-8 transcript"}
    (test / "transcripts.tsv").write_bytes("id\twav\ttxt\nutt-t0\tt0.wav\txin chào anh\n".encode()
                                           + b"utt-t1\tt1.wav\txin ch\xe0o\n")
    yaml = root / "data.yaml"
    yaml.write_text(f"""
train:
  - path: tel/*.wav
    domain: telephony
    weight: 0.8
    aug: [specaugment, speed_perturb, add_noise, add_reverb]
  - path: conv
    domain: conversation
    weight: 0.2
    aug: [specaugment, speed_perturb, add_noise, add_reverb]
    channel: mix        # recB is stereo: averaged on purpose (without a channel it would be rejected)
val:
  - path: val/list.tsv
    domain: telephony
    aug: none
test:
  - path: test
    domain: telephony
validation:
  max_duration: {max_duration}
{extra_yaml}""", encoding="utf-8")
    return yaml, rej, good


def load_script(name: str):
    """Imports ``local/<name>.py`` as a module (the stage scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "local" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def write_manifests(mdir: Path, domain: str, split: str, texts: list[str], wav: Path) -> None:
    """Stage-0-shaped lhotse manifests (recordings, supervisions, cuts) of ``domain``/``split``: one utterance
    per text, every one the whole of ``wav``."""
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    recs = [Recording.from_file(wav, recording_id=f"{domain}-{split}-{i}") for i in range(len(texts))]
    sups = SupervisionSet.from_segments([SupervisionSegment(r.id, r.id, 0.0, r.duration, text=t)
                                         for r, t in zip(recs, texts)])
    mdir.mkdir(parents=True, exist_ok=True)
    RecordingSet.from_recordings(recs).to_file(mdir / f"{domain}_recordings_{split}.jsonl.gz")
    sups.to_file(mdir / f"{domain}_supervisions_{split}.jsonl.gz")
    CutSet.from_manifests(recordings=RecordingSet.from_recordings(recs), supervisions=sups).trim_to_supervisions(
    ).to_file(mdir / f"{domain}_cuts_{split}.jsonl.gz")


def rejected(mdir: Path, split: str) -> dict[str, str]:
    with open(mdir / f"rejected-{split}.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert all(r["reason"] for r in rows)
    return {r["id"]: r["reason"].split(":")[0] for r in rows}


WORD_KEYS = {"word", "start", "end", "conf"}


def check_words(answer: dict, seconds: float) -> None:
    """The words and confidence of a decoded utterance (``transcribe --jsonl`` record or server answer): the
    words spell the text, times in seconds increase within the audio, confidences in [0, 1], JSON floats."""
    assert isinstance(answer["confidence"], float) and 0.0 <= answer["confidence"] <= 1.0
    assert " ".join(w["word"] for w in answer["words"]) == answer["text"]
    prev_end = 0.0
    for w in answer["words"]:
        assert set(w) == WORD_KEYS and isinstance(w["word"], str)
        assert all(isinstance(w[k], float) for k in ("start", "end", "conf"))
        assert prev_end <= w["start"] < w["end"] <= seconds + 1e-6 and 0.0 <= w["conf"] <= 1.0
        prev_end = w["end"]


def encode(x: np.ndarray, rate: int = 16000, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    """Audio as the bytes of a file (what a caller posts to the server)."""
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def serve(loaded: Any, client_fn: Callable[..., Awaitable[Any]], lm: Any = None, **settings: Any) -> Any:
    """Runs ``client_fn(client, state)`` against a fresh in-process server app for ``loaded`` (a
    ``LoadedModel``; ``state``: what its endpoints share; lifespan started and, at the end, drained as uvicorn
    does), with httpx over ASGI; returns what ``client_fn`` returns. ``lm``: the recognizer's ``LMFusion``."""
    import httpx

    from chunkformer.serving.app import ServerSettings, create_app
    from chunkformer.serving.recognizer import Recognizer

    app = create_app(Recognizer(loaded.model, loaded.tokenizer, lm=lm), ServerSettings(**settings),
                     {"model": "fixture"})

    async def main() -> Any:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve", timeout=120) as client:
                return await client_fn(client, app.state.serving)

    return asyncio.run(main())


async def post_in_order(client: Any, state: Any, requests: list[dict]) -> list[Any]:
    """Posts ``/transcribe`` requests (httpx keyword arguments), each once the one before waits in the batcher,
    so that they form one batch in this order (when the window outlasts the sending) and a rerun repeats the
    batch exactly; returns the responses in order."""
    tasks = []
    for k, request in enumerate(requests, 1):
        tasks.append(asyncio.create_task(client.post("/transcribe", **request)))
        while state.batcher.queued < k and not tasks[-1].done():
            await asyncio.sleep(0.005)
    return list(await asyncio.gather(*tasks))


def write_fixture_lm(path: Path, vocab_file: Path) -> Path:
    """A bigram ARPA LM over the fixture vocabulary (``vocab_file``: tests/fixtures/official/model/vocab.txt)
    that favours "trăm phố", which the fixture model ranks second where it hears "bốn đã" in A.wav
    (0.96-1.12 s): fused at weight 0.5 and word bonus 2, the beam search puts the phrase in A's transcript,
    which greedy decoding does not."""
    from chunkformer.tokenizer import WORD_START, Tokenizer

    words = [t[len(WORD_START):] for t in Tokenizer.from_file(vocab_file).tokens if t.startswith(WORD_START)]
    uni = {w: -1.0 if w == "trăm" else -2.0 for w in words}
    lines = ["\\data\\", f"ngram 1={len(uni) + 3}", "ngram 2=1", "", "\\1-grams:", "-3.0\t<unk>\t0",
             "-99\t<s>\t0", "-1.0\t</s>\t0", *(f"{p}\t{w}\t0" for w, p in uni.items()), "", "\\2-grams:",
             "-0.1\ttrăm phố", "", "\\end\\", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# A trigram ARPA LM over "an", "ba", "anh", "h" (the LM tests' hand-checked back-off cases)
SMALL_ARPA = """\\data\\
ngram 1=7
ngram 2=6
ngram 3=2

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.30
-0.70\t</s>\t0
-0.50\tan\t-0.20
-0.60\tba\t-0.25
-0.90\tanh\t-0.10
-1.20\th

\\2-grams:
-0.20\t<s> an\t-0.05
-0.40\tan ba\t-0.15
-0.30\tba anh\t0
-0.25\tanh </s>
-0.50\t<s> ba\t-0.12
-0.35\tba </s>

\\3-grams:
-0.10\t<s> an ba
-0.05\tan ba anh

\\end\\
"""
