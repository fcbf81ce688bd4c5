#!/usr/bin/env python3
"""Writes the demo's syllable vocabulary: ``<blank> 0``, ``<unk> 1``, one ``▁syllable`` token per Vietnamese
syllable, ``<sos/eos>`` last (the layout of the released Vietnamese vocab, one token per word).

Coverage is broad, not only the generator's words: every syllable of Debian's Vietnamese hunspell dictionary
(package ``hunspell-vi``, ~6.6k syllables) plus every word the call-bot sentence generator can produce.

    python local/make_demo_vocab.py --out egs/callbot/demo/vocab.txt
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from vi_callbot_text import all_generator_words  # noqa: E402

HUNSPELL = Path("/usr/share/hunspell/vi_VN.dic")
_VI_WORD = re.compile(r"^[a-zàáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]+$")


def dictionary_syllables(path: Path = HUNSPELL) -> set[str]:
    if not path.is_file():
        raise SystemExit(f"{path} not found: install the Debian package hunspell-vi (local/setup_env.sh does)")
    lines = path.read_text(encoding="utf-8").splitlines()[1:]  # first line is the entry count
    words = {unicodedata.normalize("NFC", ln.split("/")[0].strip()).lower() for ln in lines}
    return {w for w in words if _VI_WORD.match(w)}


def build_tokens() -> list[str]:
    syllables = sorted(dictionary_syllables() | all_generator_words())
    return ["<blank>", "<unk>"] + ["▁" + s for s in syllables] + ["<sos/eos>"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    tokens = build_tokens()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("".join(f"{t} {i}\n" for i, t in enumerate(tokens)), encoding="utf-8")
    print(f"wrote {a.out}: {len(tokens)} tokens", file=sys.stderr)


if __name__ == "__main__":
    main()
