"""Demo corpus: Vietnamese number words; 150+ structurally distinct training patterns, every one reachable;
held-out slot values never in train; test/val patterns independent of training; every word spellable by the demo
vocabulary; disjoint splits (a tiny generated corpus: tests/e2e/test_demo_corpus_generation.py)."""

from __future__ import annotations

import collections
import itertools
import random
import sys

import pytest

from helpers import REPO

ROOT = REPO
sys.path.insert(0, str(ROOT / "local"))
from make_demo_corpus import (  # noqa: E402
    DEFAULT_COUNTS,
    DOMAINS,
    SPLITS,
    draw_texts,
    parse_counts,
    patterns_missing_from_train,
    speaker_variants,
)
from vi_callbot_heldout import TEST_PATTERNS, VAL_PATTERNS  # noqa: E402
from vi_callbot_text import (  # noqa: E402
    HELD_OUT,
    HELD_SHARE,
    INTENTS,
    PARTICLES,
    SLOTS,
    TRAIN_PATTERNS,
    all_generator_words,
    derived,
    fill,
    is_held_out,
    number_to_words,
    skeleton,
    slot_names,
)

from chunkformer.text.normalize import TextNormalizer  # noqa: E402
from chunkformer.tokenizer import Tokenizer  # noqa: E402

NUMERIC = {"amount", "date", "time", "house", "count", "percent", "year"}  # enumerated numbers, not words


@pytest.fixture(scope="module")
def lists():
    return draw_texts({split: parse_counts(spec) for split, spec in DEFAULT_COUNTS.items()}, seed=42)


@pytest.mark.parametrize("n,words", [(0, "không"), (5, "năm"), (10, "mười"), (15, "mười lăm"), (21, "hai mươi mốt"),
                                     (24, "hai mươi tư"), (55, "năm mươi lăm"), (105, "một trăm linh năm"),
                                     (110, "một trăm mười"), (1005, "một nghìn không trăm linh năm"),
                                     (2_500_000, "hai triệu năm trăm nghìn")])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_at_least_150_structurally_distinct_training_patterns():
    """No training skeleton is another one reordered, or with words (beyond particles) added or dropped."""
    assert len(TRAIN_PATTERNS) >= 150 and len(INTENTS) >= 20
    assert len({skeleton(p.text) for p in TRAIN_PATTERNS}) == len(TRAIN_PATTERNS)
    same = [(a.id, b.id) for a, b in itertools.combinations(TRAIN_PATTERNS, 2) if derived(a.text, b.text)]
    assert not same
    assert derived("{me} muốn chuyển {amount} nhé", "dạ {me} chuyển {amount2} ạ")  # the check itself bites


def test_every_training_pattern_is_reachable_with_train_and_with_held_out_values(lists):
    """Each pattern has an open slot, many fillings from the training values (so the held-out splits, drawn first,
    cannot use it up) and some from the held-out values (for test_seen); the default corpus hears all of them."""
    for p in TRAIN_PATTERNS:
        assert any(SLOTS[s].open for s in slot_names(p.text)), p
        r = random.Random(0)
        train = {fill(p.text, r, "train")[0] for _ in range(200)}
        held = {fill(p.text, r, "heldout")[0] for _ in range(200)}
        assert len(train) >= 40 and len(held) >= 8, (p, len(train), len(held))
    assert set(patterns_missing_from_train(lists)) <= {"conversation"}  # 110 sentences < patterns: a subset
    ids = {p.id for p in TRAIN_PATTERNS}
    for domain in DOMAINS:
        per_pattern = collections.Counter(s.pattern for s in lists[(domain, "test")])
        assert set(per_pattern) == {p.id for p in TEST_PATTERNS}  # drawn in rounds: every test pattern
        assert max(per_pattern.values()) - min(per_pattern.values()) <= 1
        assert {s.pattern for s in lists[(domain, "test_seen")]} <= ids
        assert {s.pattern for s in lists[(domain, "val")]} == {p.id for p in VAL_PATTERNS}


def test_held_out_slot_values_have_a_fixed_share_and_never_reach_train(lists):
    words_slots = {s for s, spec in SLOTS.items() if spec.open and spec.values and s not in NUMERIC}
    for a, b in itertools.combinations(sorted(words_slots), 2):
        assert not set(SLOTS[a].values) & set(SLOTS[b].values), (a, b)  # a value is held out everywhere or nowhere
    for slot, held in HELD_OUT.items():
        assert len(held) == max(1, round(len(SLOTS[slot].values) * HELD_SHARE)), slot
    r = random.Random(0)
    for slot in ("phone", "account", "otp"):  # digit strings: 1 in 4 by a stable hash
        share = sum(is_held_out(slot, SLOTS[slot].draw(r)) for _ in range(4000)) / 4000
        assert abs(share - HELD_SHARE) < 0.03, (slot, share)
    train = [s for (_, split), sents in lists.items() if split == "train" for s in sents]
    assert not [(s.text, v) for s in train for v in s.slots if is_held_out(*v)]
    held_words = [v for s in words_slots for v in HELD_OUT[s] if len(v.split()) > 1]
    text = "\n".join(f" {s.base} " for s in train)
    assert not [v for v in held_words if f" {v} " in text]  # not even inside another value or a literal
    for domain in DOMAINS:
        seen = lists[(domain, "test_seen")]
        assert seen and all(s.slots and all(is_held_out(*v) for v in s.slots) for s in seen)


def _content(text: str) -> list[str]:
    return [w for w in skeleton(text).split() if w not in PARTICLES]


def _lcs(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b):
            prev, row[j + 1] = row[j + 1], prev + 1 if x == y else max(row[j + 1], row[j])
    return row[-1]


def test_held_out_patterns_are_independent_of_training():
    """Test/val skeletons: not equal to, nor a reordered subset or superset of, any training skeleton; at most half
    of their words (particles aside) occur in order in any one training skeleton (a training pattern with one
    word changed scores ~0.9); val and test disjoint in the same sense."""
    assert len(TEST_PATTERNS) >= 40 and len(VAL_PATTERNS) >= 20
    held = TEST_PATTERNS + VAL_PATTERNS
    assert len({skeleton(p.text) for p in held}) == len(held)
    for q in held:
        assert any(SLOTS[s].open for s in slot_names(q.text)), q
        for p in TRAIN_PATTERNS:
            assert not derived(q.text, p.text), (q, p)
            overlap = _lcs(_content(q.text), _content(p.text)) / len(_content(q.text))
            assert overlap <= 0.5, (q, p, overlap)
    assert not [(t, v) for t in TEST_PATTERNS for v in VAL_PATTERNS if derived(t.text, v.text)]


def test_every_word_is_spellable_by_the_demo_vocab(lists):
    tok = Tokenizer.from_file(ROOT / "egs/callbot/demo/vocab.txt")
    words = all_generator_words()  # make_demo_vocab.py's call: training and held-out patterns
    assert words >= all_generator_words(TEST_PATTERNS)
    assert not sorted(w for w in words if tok.unspellable(w))
    texts = [s.text for sents in lists.values() for s in sents]
    assert not [t for t in texts if tok.unspellable(t) or t != t.lower() or not t.replace(" ", "").isalpha()]
    assert len(tok) > 6000  # broad syllable coverage, not only the generator's words
    norm = TextNormalizer(vocab={t[1:] for t in tok.tokens if t.startswith("▁")})
    assert not [t for t in texts if norm(t).text != t]  # stage 0's normaliser leaves the corpus as written


def test_splits_are_disjoint_and_deterministic(lists):
    by_split = {split: [s for (_, sp), sents in lists.items() if sp == split for s in sents] for split in SPLITS}
    bases = {split: {s.base for s in sents} for split, sents in by_split.items()}
    for a, b in itertools.combinations(SPLITS, 2):
        assert not bases[a] & bases[b], (a, b)
    held_bases = [s.base for split in ("test", "val", "test_seen") for s in by_split[split]]
    assert len(held_bases) == len(set(held_bases)) == 3 * (150 + 60 + 150)  # no repeat across domains either
    train_texts = {s.text for s in by_split["train"]}
    assert not {s.text for split in ("test", "val", "test_seen") for s in by_split[split]} & train_texts
    again = draw_texts({split: parse_counts(spec) for split, spec in DEFAULT_COUNTS.items()}, seed=42)
    assert again == lists
    other = draw_texts({"test": parse_counts("5")}, seed=43)
    assert [s.text for s in other[("reading", "test")]] != [s.text for s in lists[("reading", "test")][:5]]


def test_test_sets_are_spoken_by_held_out_speakers():
    assert not set(speaker_variants("test")) & set(speaker_variants("train"))
    assert speaker_variants("test_seen") == speaker_variants("test")
    assert speaker_variants("val") == speaker_variants("train")
