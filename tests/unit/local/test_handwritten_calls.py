"""egs/callbot/eval/handwritten_calls.txt, the hand-written sentences of bench/bench_handwritten.py: 150 distinct
sentences in spoken form, none of the 30 of tests/test_handwritten_callbot.py, every word spellable by the demo
vocabulary and left as written by the normaliser; 62 hold exactly one held-out catalogue value each (50+ distinct
values), the others no catalogue phrase at all; and no pattern of the corpus generator (training, validation or
test; each slot any of its values, fillers anywhere) can produce any of them."""

from __future__ import annotations

import ast
import collections
import sys

import pytest

from helpers import REPO

sys.path[:0] = [str(REPO / "local"), str(REPO / "bench")]
from bench_handwritten import SENTENCES, read_sentences  # noqa: E402
from callbot_catalogue import Catalogue, build_catalogue  # noqa: E402
from make_demo_corpus import DEFAULT_COUNTS, draw_texts, parse_counts  # noqa: E402
from vi_callbot_heldout import TEST_PATTERNS, VAL_PATTERNS  # noqa: E402
from vi_callbot_text import TRAIN_PATTERNS, distinct_sentences, producible, producing_pattern  # noqa: E402

from chunkformer.decoding.metrics import phrase_count, phrase_words  # noqa: E402
from chunkformer.decoding.scoring import units  # noqa: E402
from chunkformer.text.normalize import TextNormalizer  # noqa: E402
from chunkformer.tokenizer import Tokenizer  # noqa: E402

PATTERNS = TRAIN_PATTERNS + VAL_PATTERNS + TEST_PATTERNS
COUNT, WITH_HELD_OUT = 150, 62


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return read_sentences(SENTENCES)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    """The catalogue of the demo corpus run.sh builds (seed 42, default counts): its distractors depend on the
    test references, which draw_texts gives without synthesising audio (held-out splits are drawn before train,
    so train can be left out)."""
    lists = draw_texts({split: parse_counts(spec) for split, spec in DEFAULT_COUNTS.items() if split != "train"},
                       seed=42)
    return build_catalogue(s.text for (_, split), sents in lists.items() if split in ("test", "test_seen")
                           for s in sents)


def existing_thirty() -> list[str]:
    """SENTENCES of tests/test_handwritten_callbot.py, read from its source (test files never import each other,
    and that one loads the models)."""
    tree = ast.parse((REPO / "tests" / "test_handwritten_callbot.py").read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "SENTENCES")
    return ast.literal_eval(node.value)


def test_distinct_spoken_form_sentences_none_of_the_thirty(sentences) -> None:
    assert len(sentences) == COUNT and len(set(sentences)) == COUNT
    assert not [s for s in sentences if s != s.lower() or not s.replace(" ", "").isalpha() or "  " in s]
    thirty = existing_thirty()
    assert len(thirty) == 30 and not set(sentences) & set(thirty)
    lengths = [len(s.split()) for s in sentences]
    assert min(lengths) <= 8 and max(lengths) >= 18  # short and long turns


def test_every_word_is_spellable_and_the_normaliser_keeps_the_text(sentences) -> None:
    tok = Tokenizer.from_file(REPO / "egs/callbot/demo/finetuned/vocab.txt")
    assert not [(s, tok.unspellable(s)) for s in sentences if tok.unspellable(s)]
    norm = TextNormalizer(vocab={t[1:] for t in tok.tokens if t.startswith("▁")})
    assert not [s for s in sentences if norm(s).text != s]


def test_held_out_values_one_per_sentence_and_no_catalogue_phrase_elsewhere(sentences, catalogue) -> None:
    def found(words: list[str], phrases: tuple[str, ...]) -> list[str]:
        return [p for p in phrases for _ in range(phrase_count(words, phrase_words(p)))]

    scored = [units(s) for s in sentences]  # compared as WER compares text, as the bench's recall does
    held = [found(w, catalogue.held_out) for w in scored]
    assert not [s for s, w in zip(sentences, scored, strict=True) if found(w, catalogue.distractors)]
    assert collections.Counter(map(len, held)) == {1: WITH_HELD_OUT, 0: COUNT - WITH_HELD_OUT}
    assert len({v for h in held for v in h}) >= 50  # many distinct values, not a few repeated


def test_the_check_catches_generator_output() -> None:
    """Sentences the generator makes (every pattern set, both styles, either side of the slot values) are all
    recognised as producible, so the check below means something."""
    for i, (patterns, part) in enumerate(((TRAIN_PATTERNS, "train"), (TRAIN_PATTERNS, "heldout"),
                                          (VAL_PATTERNS, "any"), (TEST_PATTERNS, "any"))):
        for style in ("reading", "conversation"):
            sample = distinct_sentences(2 * len(patterns), seed=100 + i, patterns=patterns, style=style, part=part)
            assert all(producible(s.text, next(p.text for p in patterns if p.id == s.pattern)) for s in sample)
    transfer = "{me} muốn chuyển {amount} sang ngân hàng {bank}"
    assert producible("dạ tôi ờ muốn chuyển năm nghìn đồng sang ngân hàng á châu", transfer)  # fillers anywhere
    assert not producible("tôi muốn chuyển tiền sang ngân hàng á châu", transfer)  # "tiền" is no amount
    assert producible("mã xác thực của anh là một hai ba", "mã xác thực của {p} là {otp}")  # digits: any run
    assert producible("người nhận là trần thị hương", "người nhận là {fullname}")  # composites by formula
    assert not producible("tôi muốn", "{me} muốn {count}")  # every slot takes a value
    assert not producible("à", "à {me}") and producible("à à tôi", "à {me}")


def test_no_sentence_is_generator_output(sentences) -> None:
    assert not [(s, p.id) for s in sentences if (p := producing_pattern(s, PATTERNS)) is not None]


def test_none_of_the_thirty_is_generator_output() -> None:
    """The 30 sentences of tests/test_handwritten_callbot.py too (one was training pattern ``balance.1`` word for
    word until 2026-12-07)."""
    assert not [(s, p.id) for s in existing_thirty() if (p := producing_pattern(s, PATTERNS)) is not None]
