"""Choosing fusion values on val: the LM grid and the hotword score rule (best recall within the WER limit)."""

from __future__ import annotations

import pytest

from chunkformer.decoding.tuning import (
    best_within_limit,
    choose_hotword_score,
    parse_grid,
    parse_scores,
    tune_fusion,
)


def test_tune_fusion_takes_the_lowest_error_and_the_smaller_point_on_ties() -> None:
    assert tune_fusion(parse_grid("0.2,0.5:0,1"), lambda w, b: abs(w - 0.5) + abs(b - 1)).point == (0.5, 1.0)
    assert tune_fusion(parse_grid("0.2,0.5:0,1"), lambda w, b: 1.0).point == (0.2, 0.0)


def test_hotword_score_best_recall_within_the_limit() -> None:
    table = {0.5: (20.0, 0.0), 1.0: (40.0, 0.1), 2.0: (60.0, 0.3), 3.0: (80.0, 0.31)}
    choice = choose_hotword_score(list(table), table.__getitem__)
    assert choice.score == 2.0  # 0.3 is within the limit, 0.31 is not
    assert choice.grid == table and choice.to_dict()["grid"]["2"] == [60.0, 0.3]
    assert choose_hotword_score(list(table), table.__getitem__, max_change=0.05).score == 0.5


def test_hotword_score_ties_and_no_phrase_go_to_the_smaller_score() -> None:
    assert choose_hotword_score([1.0, 2.0, 3.0], lambda s: (50.0, 0.0)).score == 1.0
    assert choose_hotword_score([1.0, 2.0], lambda s: (None, 0.0)).score == 1.0  # no listed phrase in val


def test_hotword_score_without_any_within_the_limit_takes_the_least_change() -> None:
    table = {1.0: (30.0, 0.9), 2.0: (50.0, 0.5), 3.0: (70.0, 2.0)}
    assert choose_hotword_score(list(table), table.__getitem__).score == 2.0


def test_parse_scores() -> None:
    assert parse_scores("2, 0.5,2,1") == [0.5, 1.0, 2.0]
    for bad in ("", "0,1", "-1", "a,b"):
        with pytest.raises(ValueError, match="hotword grid"):
            parse_scores(bad)
    with pytest.raises(ValueError, match="empty hotword tuning grid"):
        choose_hotword_score([], lambda s: (0.0, 0.0))


def test_best_within_limit_breaks_recall_ties_by_change_then_key() -> None:
    rows = {(2.0, 10): (50.0, 0.2), (1.0, 50): (50.0, 0.1), (1.0, 10): (50.0, 0.1), (3.0, 10): (70.0, 0.4)}
    assert best_within_limit(rows, 0.3) == (1.0, 10)  # equal recall: the smaller change, then the smaller key
    assert best_within_limit({1.0: (30.0, 0.5), 2.0: (50.0, 0.5)}, 0.3) == 2.0  # none within: equal change, more recall
