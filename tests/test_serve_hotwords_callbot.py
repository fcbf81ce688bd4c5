"""Per-request hotwords in the server with the shipped fine-tuned model (``egs/callbot/demo/finetuned``) on call
turns it has never heard: held-out sentence patterns (``local/vi_callbot_heldout.py``) filled with held-out
slot values (names, streets, shops, products, amounts, dates: never in any training sentence), spoken by
held-out espeak-ng voices over the simulated phone line of the telephony domain.

Each turn is posted twice in one batch: once with the call-bot's list for that turn (its own multi-syllable
slot values, what a bot knows at that point of the call, plus 10 other held-out values as distractors) and
once without. The biased answers find phrases greedy misses; the unbiased answers are byte for byte those of
a batch where no request had a list. Figures (phrases found, WER) are printed: ``-s`` shows them.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import httpx
import numpy as np
import pytest

from chunkformer.checkpoint import LoadedModel, load_model
from chunkformer.decoding.hotwords import phrase_normalizer
from chunkformer.decoding.scoring import compute_wer

from helpers import REPO, encode, post_in_order, serve

pytestmark = pytest.mark.slow  # the shipped models end to end on synthesised speech: deselect with -m 'not slow'

sys.path.insert(0, str(REPO / "local"))
from make_demo_corpus import phone_line  # noqa: E402
from tts import speak_heldout  # noqa: E402
from vi_callbot_heldout import TEST_PATTERNS  # noqa: E402
from vi_callbot_text import HELD_VALUES, distinct_sentences  # noqa: E402

MODEL = REPO / "egs/callbot/demo/finetuned"
TURNS, SEED, DISTRACTORS = 16, 101, 10


def contains(text: str, phrase: str) -> bool:
    return f" {phrase} " in f" {text} "


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    return load_model(MODEL)


@pytest.fixture(scope="module")
def turns(loaded: LoadedModel) -> list[tuple[str, bytes, list[str], str]]:
    """(reference, 8 kHz WAV bytes, the turn's phrases, its comma-separated hotword list) per turn."""
    norm = phrase_normalizer(loaded.tokenizer)
    held = sorted({norm(v).text for values in HELD_VALUES.values() for v in values if len(v.split()) >= 2})
    rng = random.Random(SEED)
    out = []
    for i, s in enumerate(distinct_sentences(TURNS, seed=SEED, patterns=TEST_PATTERNS, part="heldout")):
        phrases = [p for p in dict.fromkeys(norm(v).text for _, v in s.slots) if len(p.split()) >= 2]
        if not phrases:
            continue
        x, _ = speak_heldout(i, s.text)
        y, rate8 = phone_line(x, 16000, np.random.default_rng([7, i]))
        listed = phrases + rng.sample([v for v in held if v not in phrases], DISTRACTORS)
        out.append((norm(s.text).text, encode(y, rate8, subtype="PCM_16"), phrases, ",".join(listed)))
    assert len(out) >= 12
    return out


def test_per_request_lists_find_held_out_values_and_leave_the_rest_of_the_batch_alone(loaded, turns):
    """Measured with today's shipped model (AMD EPYC, 2 threads): greedy finds 10 of the 23 phrases, the
    per-request lists 14; WER 42.5 % -> 40.9 %. Asserted with a margin for another model or CPU: at least 2
    more phrases found, WER not more than 1 point worse."""

    async def calls(client: httpx.AsyncClient, state: Any) -> tuple[list[httpx.Response], list[httpx.Response]]:
        mixed = [r for _, data, _, hot in turns for r in (dict(content=data, params={"hotwords": hot}),
                                                          dict(content=data))]
        plain = [dict(content=data) for _, data, _, _ in turns for _ in range(2)]
        return await post_in_order(client, state, mixed), await post_in_order(client, state, plain)

    mixed, plain = serve(loaded, calls, window=5.0, max_batch=64)
    assert [r.status_code for r in mixed + plain] == [200] * (4 * len(turns)), [r.text for r in mixed + plain]
    assert {r.json()["stats"]["batch_size"] for r in mixed + plain} == {2 * len(turns)}  # one batch each
    biased, greedy = [r.json() for r in mixed[0::2]], [r.json() for r in mixed[1::2]]
    for g, p in zip(greedy, plain[1::2]):
        assert {**g, "stats": None} == {**p.json(), "stats": None}  # byte for byte, but for the timings
    found = {"greedy": 0, "biased": 0}
    for (_, _, phrases, _), g, b in zip(turns, greedy, biased):
        found["greedy"] += sum(contains(g["text"], p) for p in phrases)
        found["biased"] += sum(contains(b["text"], p) for p in phrases)
        assert b["hotwords"]["rejected"] == [] and set(phrases) <= set(b["hotwords"]["phrases"])
    wer = {name: compute_wer([(str(i), t[0], a["text"]) for i, (t, a) in enumerate(zip(turns, answers))]).wer
           for name, answers in (("greedy", greedy), ("biased", biased))}
    total = sum(len(t[2]) for t in turns)
    print(f"phrases found of {total}: {found}; WER %: {wer}")
    assert found["biased"] >= found["greedy"] + 2, found
    assert wer["biased"] <= wer["greedy"] + 1.0, wer
