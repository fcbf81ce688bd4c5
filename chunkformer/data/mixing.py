"""Domain mixing: each epoch holds ``weight_d * E`` seconds of audio from domain d (E = epoch duration).

Every domain is an endless stream: pass 0, 1, 2, ... are seeded permutations of the domain's cuts laid end
to end. Epoch e takes the cuts whose stream start time falls in ``[e * T_d, (e + 1) * T_d)`` with
``T_d = weight_d * E``. Hence the realized share is exact up to one cut's duration per domain, a domain
smaller than its share is repeated (fresh order every pass) and a larger one is subsampled, and over
successive epochs every cut is used equally often. Only durations are touched (no audio), so the plan of
any epoch is computed in milliseconds, by any process, identically.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def stable_hash(*parts: object) -> int:
    """A 63-bit hash of ``parts`` that is identical across processes and runs (unlike ``hash``)."""
    return int.from_bytes(hashlib.sha1("\x1f".join(map(str, parts)).encode()).digest()[:8], "little") >> 1


@dataclass(frozen=True)
class Pick:
    """One cut of an epoch: index into its domain's pool, the pass it came from and its occurrence number
    within the epoch (0 = first; >0 for repeats of an upsampled domain)."""

    domain: str
    index: int
    pass_no: int
    repeat: int


def normalized_weights(durations: dict[str, Sequence[float]], weights: dict[str, float] | None) -> dict[str, float]:
    """Weights summing to 1 over the domains that have cuts; None → natural proportions (by duration)."""
    totals = {d: float(np.sum(v)) for d, v in durations.items() if len(v)}
    if weights is None:
        s = sum(totals.values())
        return {d: t / s for d, t in totals.items()}
    missing = [d for d in weights if d not in totals]
    if missing:
        raise ValueError(f"domain(s) {missing} have a weight but no training cuts (all rejected in stage 0?)")
    s = sum(weights[d] for d in totals)
    return {d: weights[d] / s for d in totals}


def _window(durs: np.ndarray, seed: int, domain: str, start: float, length: float) -> list[tuple[int, int]]:
    """(index, pass) of the cuts whose stream start lies in [start, start + length)."""
    total = float(durs.sum())
    out: list[tuple[int, int]] = []
    for p in range(int(start // total), int((start + length) // total) + 1):
        perm = np.random.default_rng([seed % 2**63, stable_hash(domain), p]).permutation(len(durs))
        starts = p * total + np.concatenate(([0.0], np.cumsum(durs[perm])[:-1]))
        sel = perm[(starts >= start) & (starts < start + length)]
        out.extend((int(i), p) for i in sel)
    return out


def epoch_picks(durations: dict[str, Sequence[float]], weights: dict[str, float], epoch_duration: float,
                seed: int, epoch: int) -> list[Pick]:
    """The cuts of ``epoch`` (shuffled across domains, seeded by ``(seed, epoch)``)."""
    picks: list[Pick] = []
    for dom, w in weights.items():
        durs = np.asarray(durations[dom], dtype=np.float64)
        length = w * epoch_duration
        seen: dict[int, int] = {}
        for idx, p in _window(durs, seed, dom, epoch * length, length):
            seen[idx] = seen.get(idx, -1) + 1
            picks.append(Pick(dom, idx, p, seen[idx]))
    order = np.random.default_rng([seed % 2**63, epoch % 2**63, 0x5EED]).permutation(len(picks))
    return [picks[i] for i in order]


def shares(picks: Sequence[Pick], durations: dict[str, Sequence[float]]) -> dict[str, float]:
    """Share of audio duration per domain among ``picks``."""
    tot: dict[str, float] = {}
    for p in picks:
        tot[p.domain] = tot.get(p.domain, 0.0) + float(durations[p.domain][p.index])
    s = sum(tot.values()) or 1.0
    return {d: v / s for d, v in sorted(tot.items())}
