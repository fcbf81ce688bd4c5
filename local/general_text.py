"""General Vietnamese text for pretraining the demo checkpoint: real prose from Debian packages, split by document,
plus generated vocabulary-coverage material (training split only).

Sources (downloaded with ``apt-get download`` and unpacked with ``dpkg-deb -x``; nothing is installed):
- ``libreoffice-help-vi``: ~2 600 HTML help pages (one page = one document);
- ``manpages-vi``: ~140 man pages (one page = one document);
- gettext catalogs (``*.mo``) of CATALOG_PACKAGES (one catalog = one document).
``maint-guide-vi`` is never used: it is kept aside for independent checks.

A sentence is kept when, after the project's normaliser (``chunkformer.text.TextNormalizer``: NFC, numbers,
dates, times, amounts in words, lower case, punctuation removed, the vocab's tone-mark spelling), it has 4-25
syllables and every syllable is in the vocab. Documents go to train/val/test by a stable hash of their id;
val/test sentences are taken only from sentences that no training document contains, and are removed from train.

Library for ``local/make_general_corpus.py``; the tests (``tests/unit/local/test_general_text.py``) use it directly.
"""

from __future__ import annotations

import gettext
import gzip
import hashlib
import html
import random
import re
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from daily_text import daily_material

from chunkformer.text import TextNormalizer, TextNormConfig, digits_to_words, normalize_text, number_to_words

# Bump when extraction, normalisation or generation changes: it keys the corpus's .done marker.
COVERAGE_ORIGIN = "generated:coverage"  # origin of the random syllable sequences (kept apart in the mix)
DAILY_ORIGIN = "generated:daily"  # origin of the daily-life sentences (daily_text; phase 4's own share)
TEXT_VERSION = "general-4"  # 4: audio dithered (local/tts.dither)
HELP_PACKAGE = "libreoffice-help-vi"
MAN_PACKAGE = "manpages-vi"
# catalogs with Vietnamese translations; a fixed list (not "whatever is installed") so every machine extracts
# the same documents
CATALOG_PACKAGES = ("libreoffice-l10n-vi", "libc-l10n", "coreutils", "bash", "tar", "grep", "sed", "findutils",
                    "diffutils", "wget", "gettext", "dpkg", "apt", "make", "psmisc", "procps", "man-db", "adduser",
                    "libglib2.0-data", "libgtk2.0-common")
FORBIDDEN_PACKAGES = ("maint-guide-vi",)
MIN_SYLLABLES, MAX_SYLLABLES = 4, 25
SPLIT_SHARES = (("train", 90), ("val", 5), ("test", 5))  # percent of documents, by hash


@dataclass
class Document:
    """One help page / man page / catalog: ``doc_id`` is ``<source>:<path>``; ``blocks`` are paragraphs."""

    doc_id: str
    source: str  # help | man | catalog
    blocks: list[str]


@dataclass
class DropReport:
    """What normalisation dropped, per reason, with a few examples each."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    oov: Counter = field(default_factory=Counter)

    def drop(self, reason: str, text: str) -> None:
        """Counts a dropped sentence; the 1st, 10th, 100th... of a reason is kept as an example (spread over the
        sources, not five from the first page)."""
        self.counts[reason] += 1
        n = self.counts[reason]
        if str(n).rstrip("0") == "1":  # 1, 10, 100, 1000, ...
            self.examples.setdefault(reason, []).append(text[:120])

    def as_dict(self) -> dict:
        return {"counts": dict(self.counts.most_common()), "examples": self.examples,
                "top_oov_syllables": dict(self.oov.most_common(30))}


# ---------------------------------------------------------------------------------------------- packages

def fetch_package(name: str, cache: Path) -> tuple[Path, str]:
    """Downloads (once) and unpacks a Debian package into ``cache/<name>/``; returns (root, version)."""
    if name in FORBIDDEN_PACKAGES:
        raise ValueError(f"{name} is kept aside for independent checks and must not be used")
    root = cache / name
    stamp = root / ".version"
    if stamp.is_file():
        return root, stamp.read_text().strip()
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{name}_*.deb"))
    if not found:
        r = subprocess.run(["apt-get", "download", name], cwd=debs, capture_output=True, text=True)
        found = sorted(debs.glob(f"{name}_*.deb"))
        if not found:
            raise RuntimeError(f"apt-get download {name} failed (run apt-get update?): {r.stderr.strip()[-300:]}")
    deb = found[-1]
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    stamp.write_text(version + "\n")
    return root, version


# ---------------------------------------------------------------------------------------------- markup

_BLOCK_TAG = re.compile(r"</?(?:p|h[1-6]|li|ul|ol|td|th|tr|table|div|br|title|dt|dd|pre|section|header|footer)"
                        r"\b[^>]*>", re.I)
_DROP_ELEMENT = re.compile(r"<(script|style|noscript|head)\b.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")


def html_blocks(page: str) -> list[str]:
    """Text paragraphs of an HTML help page: scripts/head dropped, block tags (and source line breaks, one
    paragraph per line in these pages) as paragraph breaks, other tags removed, entities decoded."""
    start = page.find('id="DisplayArea"')
    if start >= 0:  # skip LibreOffice's navigation chrome (module menu, search box)
        page = page[page.find(">", start) + 1:]
    page = _DROP_ELEMENT.sub(" ", page)
    page = _BLOCK_TAG.sub("\n", page)
    page = html.unescape(_TAG.sub("", page))
    return [b for b in (ln.strip() for ln in page.splitlines()) if b]


_ROFF_ESCAPES = [
    (re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)"), ""),         # font changes \fB \fI \fP \f(CW \f[B]
    (re.compile(r"\\\*(?:\[[^\]]*\]|\(..|.)"), ""),        # strings \*(lq \*[name]
    (re.compile(r"\\s[+-]?\d"), ""),                        # size changes
    (re.compile(r"\\\((?:em|en|hy)"), " - "),
    (re.compile(r"\\\((?:lq|rq|dq|Lq|Rq)"), '"'),
    (re.compile(r"\\\((?:aq|oq|cq)"), "'"),
    (re.compile(r"\\\(.."), ""),                            # other special characters
    (re.compile(r"\\-"), "-"),
    (re.compile(r"\\[ ~0]"), " "),
    (re.compile(r"\\e"), "\\\\"),
    (re.compile(r"\\[,/&:%c|^)]"), ""),                     # italic corrections, zero-width, no-break marks
]
_FONT_MACROS = {"B", "I", "BR", "IR", "RB", "RI", "BI", "IB", "SM", "SB"}
_HEADING_MACROS = {"SH", "SS"}


def roff_inline(text: str) -> str:
    """Inline roff escapes removed (fonts, special characters, zero-width marks)."""
    for pat, rep in _ROFF_ESCAPES:
        text = pat.sub(rep, text)
    return text


def _macro_args(rest: str) -> list[str]:
    return [a.strip('"') for a in re.findall(r'"[^"]*"|\S+', rest)]


def man_blocks(roff: str) -> list[str]:
    """Text paragraphs of a man page source (``man(7)`` macros): continuation lines joined (a sentence may span
    source lines), headings and ``.TP`` tags as their own paragraphs, comments and other requests dropped."""
    blocks: list[str] = []
    cur: list[str] = []
    tag_next = nofill = False

    def flush() -> None:
        if cur:
            blocks.append(" ".join(cur))
            cur.clear()

    for line in roff.splitlines():
        if line.startswith((".\\\"", "'\\\"", '.\\"')) or line.strip() in (".", "'"):
            continue
        if line.startswith((".", "'")):
            name, _, rest = line[1:].strip().partition(" ")
            if name in _FONT_MACROS:  # alternating-font macros: arguments joined without spaces (``ls (1)``)
                joiner = "" if len(name) == 2 and name not in ("SM", "SB") else " "
                cur.append(roff_inline(joiner.join(_macro_args(rest))))
                continue
            flush()
            if name in _HEADING_MACROS or name == "IP":
                args = _macro_args(rest)
                if args:
                    blocks.append(roff_inline(" ".join(args[:1] if name == "IP" else args)))
            nofill = {"nf": True, "EX": True, "fi": False, "EE": False}.get(name, nofill)
            tag_next = name == "TP"
            continue
        text = roff_inline(line).strip()
        if not text:
            flush()
            continue
        cur.append(text)
        if tag_next or nofill:  # a .TP tag line (option names) or a no-fill line stands alone
            flush()
            tag_next = False
    flush()
    return [b for b in (re.sub(r"\s+", " ", b).strip() for b in blocks) if b]


_MNEMONIC = re.compile(r"[~&]|(?<![\w])_(?=\w)")


def catalog_blocks(path: Path) -> list[str]:
    """Translated strings of a gettext ``.mo`` catalog (header and untranslated entries skipped), with UI
    accelerator marks (``~Tệp``, ``&Mở``, ``_Lưu``) removed."""
    with path.open("rb") as f:
        cat = gettext.GNUTranslations(f)._catalog  # the parsed msgid -> msgstr table
    out = []
    for key, value in sorted(cat.items(), key=lambda kv: str(kv[0])):
        msgid = key[0] if isinstance(key, tuple) else key
        if not msgid or not value or value == msgid:
            continue
        out += [_MNEMONIC.sub("", ln).strip() for ln in value.splitlines() if ln.strip()]
    return out


# ---------------------------------------------------------------------------------------------- documents

def help_documents(root: Path) -> Iterator[Document]:
    """One document per HTML page of ``usr/share/libreoffice/help/vi`` under ``root``."""
    base = root / "usr/share/libreoffice/help/vi"
    for p in sorted(base.rglob("*.html")):
        yield Document(f"help:{p.relative_to(base)}", "help", html_blocks(p.read_text(encoding="utf-8",
                                                                                         errors="replace")))


def man_documents(root: Path) -> Iterator[Document]:
    """One document per man page of ``usr/share/man/vi`` under ``root`` (gzip or plain; ``.so`` links skipped)."""
    base = root / "usr/share/man/vi"
    for p in sorted(base.rglob("*")):
        if not p.is_file() or p.is_symlink():
            continue
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        text = raw.decode("utf-8", errors="replace")
        if text.lstrip().startswith(".so "):
            continue
        name = str(p.relative_to(base)).removesuffix(".gz")
        yield Document(f"man:{name}", "man", man_blocks(text))


def catalog_documents(root: Path, package: str) -> Iterator[Document]:
    """One document per Vietnamese ``.mo`` catalog found anywhere under ``root``."""
    for p in sorted(root.rglob("*.mo")):
        if "/vi/" in str(p) and p.is_file():
            yield Document(f"catalog:{package}/{p.name}", "catalog", catalog_blocks(p))


def all_documents(cache: Path, catalog_packages: Iterable[str] = CATALOG_PACKAGES) -> tuple[list[Document], dict]:
    """Every document of the sources (downloaded into ``cache`` when missing); also {package: version}."""
    versions: dict[str, str] = {}
    docs: list[Document] = []
    root, versions[HELP_PACKAGE] = fetch_package(HELP_PACKAGE, cache)
    docs += help_documents(root)
    root, versions[MAN_PACKAGE] = fetch_package(MAN_PACKAGE, cache)
    docs += man_documents(root)
    for pkg in catalog_packages:
        root, versions[pkg] = fetch_package(pkg, cache)
        docs += catalog_documents(root, pkg)
    return docs, versions


# ---------------------------------------------------------------------------------------------- sentences

_SENTENCE_END = re.compile(r"(?<=[.!?…;:])\s+|[•·]")


def split_sentences(block: str) -> list[str]:
    """A paragraph split at sentence punctuation (. ! ? … ; : followed by a space) and bullets."""
    return [s.strip() for s in _SENTENCE_END.split(block) if s and s.strip()]


def load_vocab(path: Path) -> set[str]:
    """Syllables of a ``▁syllable id`` vocab file (special tokens skipped)."""
    out = set()
    for ln in path.read_text(encoding="utf-8").splitlines():
        tok = ln.split()[0] if ln.strip() else ""
        if tok.startswith("▁"):
            out.add(tok[1:])
    return out


_SYMBOLS = re.compile(r"[%$@{}<\\=#|*^`]|https?:|www\.|\.[^\W\d_]{2,4}\b(?=\s|$)|\[|\]", re.I)
_HAS_DIGIT = re.compile(r"\d")
# number tokens the normaliser reads correctly; anything else with a digit (utf8, x86_64, 1.5 as a version,
# 1.2.3 as a section number) would be read wrongly, so its sentence is dropped
# (ASCII digits only: the number speller rejects others, e.g. Arabic-Indic digits in a catalog)
_SAFE_NUMBER = re.compile("|".join((
    r"[0-9]+", r"[0-9]{1,3}(?:\.[0-9]{3})+", r"[0-9]+,[0-9]+",                # 42, 500.000, 1,5
    r"[0-9]{1,2}/[0-9]{1,2}(?:/[0-9]{4})?", r"[0-9]{1,2}([.-])[0-9]{1,2}\1[0-9]{4}",  # 20/11, 20-11-2024
    r"[0-9]{1,2}[hH](?:[0-9]{2})?", r"[0-9]{1,2}:[0-9]{2}",                   # 9h30, 14:05
    r"[0-9.,]+(?:%|k|tr|đ|vnđ|vnd)")), re.I)                                  # 15%, 50k, 500.000đ
_TOKEN_EDGES = ".,;:!?()[]\"'“”‘’«»"


def readable_numbers(text: str) -> bool:
    """True when every token holding a digit is a number form the normaliser reads as a speaker would."""
    return all(_SAFE_NUMBER.fullmatch(tok.strip(_TOKEN_EDGES)) for tok in text.split() if _HAS_DIGIT.search(tok))


_NORMALIZERS: dict[int, TextNormalizer] = {}


def _normalizer(vocab: set[str]) -> TextNormalizer:
    """The project's normaliser for this vocab (Latin words kept: the vocab check below reports them)."""
    key = id(vocab)
    if key not in _NORMALIZERS:
        _NORMALIZERS[key] = TextNormalizer(TextNormConfig(unknown_latin="keep"), vocab)
    return _NORMALIZERS[key]


def normalize_sentence(raw: str, vocab: set[str], report: DropReport | None = None) -> str | None:
    """The training transcript of one sentence, or None (the reason recorded in ``report``)."""
    report = report if report is not None else DropReport()
    # placeholders (%s, $(ARG1), {0}), URLs, file names, code: not speakable as written (a menu path
    # "Tập tin > Mở" is: ">" is punctuation)
    if _SYMBOLS.search(raw):
        report.drop("symbols", raw)
        return None
    if not readable_numbers(raw):
        report.drop("digits", raw)
        return None
    words = _normalizer(vocab)(raw).text.split()
    if len(words) < MIN_SYLLABLES:
        report.drop("too_short", raw)
        return None
    if len(words) > MAX_SYLLABLES:
        report.drop("too_long", raw)
        return None
    oov = [w for w in words if w not in vocab]
    if oov:
        report.oov.update(oov)
        report.drop("oov", raw)
        return None
    return " ".join(words)


def document_sentences(doc: Document, vocab: set[str], report: DropReport) -> list[str]:
    """Distinct kept sentences of a document, in order of first occurrence."""
    seen: dict[str, None] = {}
    for block in doc.blocks:
        for raw in split_sentences(block):
            s = normalize_sentence(raw, vocab, report)
            if s is not None:
                seen.setdefault(s, None)
    return list(seen)


# ---------------------------------------------------------------------------------------------- splits

def stable_hash(text: str) -> int:
    """A hash that does not change between runs or machines (Python's ``hash`` is salted)."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big")


def split_of(doc_id: str, test_docs: set[str] = frozenset()) -> str:
    """train / val / test for a document: the committed test set's documents are test, others by hash."""
    if doc_id in test_docs:
        return "test"
    bucket = stable_hash(doc_id) % 100
    for name, share in SPLIT_SHARES:
        if bucket < share:
            return name
        bucket -= share
    return SPLIT_SHARES[-1][0]


@dataclass
class TextSplits:
    """Sentences per split as (doc_id, text); the test documents' unused sentences; how many train sentences
    were dropped because val/test hold them (0 when every held-out sentence comes from held-out documents
    only, as here: the count guards the rule)."""

    train: list[tuple[str, str]]
    val: list[tuple[str, str]]
    test: list[tuple[str, str]]
    test_pool: list[tuple[str, str]]  # sentences of test documents found in no other document (test candidates)
    removed_from_train: int


def split_sentences_by_document(doc_sents: dict[str, list[str]], committed_test: list[tuple[str, str]],
                                num_val: int, seed: int) -> TextSplits:
    """Documents to splits by hash; val = ``num_val`` sentences of val documents that no train document
    contains; test = the committed test set; every val/test sentence removed from train; train de-duplicated."""
    test_docs = {d for d, _ in committed_test}
    test_texts = {t for _, t in committed_test}
    by_split: dict[str, dict[str, str]] = {"train": {}, "val": {}, "test": {}}  # text -> first doc
    for doc_id in sorted(doc_sents):
        split = split_of(doc_id, test_docs)
        for s in doc_sents[doc_id]:
            by_split[split].setdefault(s, doc_id)
    train_texts = set(by_split["train"])
    val_pool = [(d, s) for s, d in by_split["val"].items() if s not in train_texts and s not in test_texts]
    val = pick_test_set(val_pool, num_val, seed)  # same source/length balance as the committed test set
    test_pool = [(d, s) for s, d in by_split["test"].items()
                 if s not in train_texts and s not in by_split["val"]]
    held_out = test_texts | {s for _, s in val}
    train = [(d, s) for s, d in by_split["train"].items() if s not in held_out]
    return TextSplits(train, val, list(committed_test), sorted(test_pool),
                      len(by_split["train"]) - len(train))


TEST_SOURCE_SHARES = {"help": 0.6, "catalog": 0.3, "man": 0.1}  # of the committed test set, pool permitting


def _round_robin(groups: dict[int, list[tuple[str, str]]], n: int, per_doc: Counter) -> list[tuple[str, str]]:
    """Up to ``n`` items taken in turn from the length groups; at most 3 per document while others remain,
    then up to 10, then any (a catalog holds thousands of strings)."""
    picked: list[tuple[str, str]] = []
    for cap in (3, 10, n):
        progress = True
        while len(picked) < n and progress:
            progress = False
            for key in sorted(groups):
                i = next((i for i, (d, _) in enumerate(groups[key]) if per_doc[d] < cap), None)
                if i is None or len(picked) >= n:
                    continue
                d, s = groups[key].pop(i)
                picked.append((d, s))
                per_doc[d] += 1
                progress = True
    return picked


def pick_test_set(pool: list[tuple[str, str]], n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` test sentences from the pool: ~60 % help, 30 % catalog, 10 % man pages (the rest from any source
    when one runs short), each source in turn over lengths 4-8, 9-15, 16-25 syllables."""
    rng = random.Random(seed)
    groups: dict[str, dict[int, list[tuple[str, str]]]] = {}
    for d, s in sorted(pool):
        k = len(s.split())
        groups.setdefault(d.split(":")[0], {}).setdefault(0 if k <= 8 else 1 if k <= 15 else 2, []).append((d, s))
    for g in groups.values():
        for items in g.values():
            rng.shuffle(items)
    per_doc: Counter = Counter()
    picked = []
    for source in sorted(groups):
        picked += _round_robin(groups[source], round(n * TEST_SOURCE_SHARES.get(source, 0.0)), per_doc)
    for source in sorted(groups):  # fill up from whatever is left
        picked += _round_robin(groups[source], n - len(picked), per_doc)
    return sorted(picked)


def read_test_tsv(path: Path) -> list[tuple[str, str]]:
    """(doc, txt) rows of the committed test set (``#`` comment lines and the header skipped)."""
    rows = []
    for ln in path.read_text(encoding="utf-8").splitlines():
        if not ln.strip() or ln.startswith("#") or ln == "doc\ttxt":
            continue
        doc, _, txt = ln.partition("\t")
        rows.append((doc, txt))
    return rows


# ---------------------------------------------------------------------------------------------- coverage material
# Generated text for the TRAINING split only (never val/test): help pages barely contain pronouns, particles or
# spoken numbers, and a model cannot recognise syllables it has rarely heard. Everyday, non-call-bot language:
# no greetings of a service, no accounts, balances, orders or deliveries (that domain is fine-tuned and tested
# later, on patterns it must not have seen here).

SUBJECTS = ("tôi", "em", "anh", "chị", "bạn", "mình", "chúng tôi", "chúng ta", "chúng mình", "ông", "bà", "cô",
            "chú", "bác", "cháu", "con", "mẹ", "bố", "ba", "má", "anh ấy", "chị ấy", "em ấy", "cô ấy", "ông ấy",
            "bà ấy", "họ", "nó", "bọn trẻ", "cả nhà", "mọi người", "thằng bé", "con bé", "bạn tôi", "mẹ tôi",
            "anh trai tôi", "chị gái em", "ông bà nội", "cô giáo", "bác sĩ", "hàng xóm", "tụi mình")
ASPECTS = ("", "", "đã", "đang", "sẽ", "vừa", "mới", "sắp", "cũng", "vẫn", "không", "chưa", "hay", "thường",
           "rất muốn", "định", "phải", "nên", "có thể", "không muốn")
VERB_OBJECTS = ("ăn cơm", "ăn phở", "uống trà", "uống cà phê", "uống nước", "nấu cơm", "nấu canh", "rửa bát",
                "đi chợ", "đi học", "đi làm", "đi ngủ", "đi bộ", "đi chơi", "về quê", "về nhà", "đọc sách",
                "đọc báo", "viết thư", "xem phim", "xem bóng đá", "nghe nhạc", "hát một bài", "chơi cờ",
                "chơi đàn", "đá bóng", "bơi", "chạy bộ", "tập thể dục", "học tiếng anh", "học bài",
                "làm bài tập", "dọn nhà", "quét sân", "tưới cây", "trồng rau", "nuôi gà", "câu cá", "đi câu",
                "mua rau", "mua hoa", "bán xe", "sửa xe", "rửa xe", "đón con", "thăm bà", "gặp bạn",
                "gọi cho mẹ", "nhắn tin cho bố", "chụp ảnh", "vẽ tranh", "may áo", "giặt quần áo", "phơi đồ",
                "ngủ trưa", "nghỉ ngơi", "leo núi", "đi biển", "cắm trại", "đi dạo", "kể chuyện", "hỏi đường",
                "chờ xe buýt", "lái xe", "đạp xe", "đi tàu", "đi máy bay", "đợi em", "nhớ nhà", "thương mẹ",
                "ôm con", "cho mèo ăn", "dắt chó đi dạo", "hái quả", "gói bánh chưng", "thổi nến", "cắt tóc",
                "khám răng", "uống thuốc", "đánh răng", "tắm", "thay áo", "mặc áo ấm", "đội mũ", "đeo kính",
                "mở cửa sổ", "đóng cửa", "bật đèn", "tắt quạt", "lau bàn", "pha trà", "rót nước", "bóc cam",
                "luộc trứng", "rán cá", "kho thịt", "xào rau", "nướng khoai", "hát ru", "làm vườn",
                "tưới hoa", "học đàn", "chơi với em bé", "ngắm trăng", "ngắm hoa", "tập múa", "viết nhật ký")
TIMES = ("", "", "", "hôm nay", "hôm qua", "ngày mai", "sáng nay", "tối nay", "chiều nay", "đêm qua", "sáng mai",
         "tối qua", "tuần sau", "tuần trước", "tháng sau", "năm ngoái", "năm nay", "cuối tuần", "buổi sáng",
         "buổi trưa", "buổi chiều", "buổi tối", "lúc nãy", "bây giờ", "lát nữa", "hằng ngày", "mỗi tối",
         "thỉnh thoảng", "dạo này", "hồi nhỏ", "tết này", "mùa hè", "mùa đông", "trưa mai")
PLACES = ("", "", "", "ở nhà", "ở trường", "ở quê", "ở chợ", "ngoài vườn", "ngoài sân", "trong bếp",
          "trên núi", "dưới sông", "bên hồ", "ở công viên", "ở thư viện", "ngoài phố", "trên lầu", "dưới nhà",
          "ở nhà bà", "ở bờ biển", "trong phòng", "ở sân bóng", "gần nhà", "ở làng", "trên đồi")
END_PARTICLES = ("", "", "", "nhé", "nhỉ", "à", "ạ", "đấy", "đâu", "mà", "chứ", "cơ", "nha", "đi", "thôi",
                 "đó", "kìa", "luôn", "rồi", "nữa", "hả")
OPENERS = ("", "", "", "", "à", "ừ", "vâng", "dạ", "ờ", "ừ thì", "thế thì", "thôi", "này", "ơ", "ôi", "chà",
           "thật ra", "nói chung", "có lẽ", "hình như", "chắc là", "tất nhiên", "ừ nhỉ", "vâng ạ", "dạ vâng")
VOCATIVES = ("anh ơi", "em ơi", "chị ơi", "mẹ ơi", "bố ơi", "con ơi", "bà ơi", "ông ơi", "cô ơi", "chú ơi",
             "bạn ơi", "bác ơi", "các con ơi", "cháu ơi", "mình ơi", "trời ơi")
ADJECTIVES = ("vui", "buồn", "mệt", "đói", "no", "khoẻ", "ốm", "đẹp", "xấu", "ngon", "dở", "nóng", "lạnh",
              "mát", "ấm", "cao", "thấp", "béo", "gầy", "bận", "rảnh", "giỏi", "chăm", "lười", "hiền", "dữ",
              "ngoan", "vất vả", "hạnh phúc", "lo lắng", "sợ", "vui vẻ", "buồn ngủ", "khát nước", "hồi hộp",
              "ngại", "thích", "tức", "xinh", "đông", "vắng", "yên tĩnh", "ồn ào", "sạch sẽ", "gọn gàng")
DEGREES = ("", "rất", "hơi", "khá", "quá", "lắm", "thật", "cực kỳ", "không", "chẳng", "đỡ", "càng")
QUESTION_WORDS = ("gì", "ở đâu", "lúc nào", "bao giờ", "với ai", "thế nào", "vì sao", "bao lâu", "mấy lần")
CONNECTIVES = ("nhưng", "mà", "vì", "nên", "rồi", "xong", "thì", "nếu", "tuy", "còn", "với lại", "để")


def _pick(rng: random.Random, options: tuple[str, ...]) -> str:
    return options[rng.randrange(len(options))]


def everyday_sentence(rng: random.Random) -> str:
    """One generic everyday sentence from a small grammar: subject + aspect + verb/object + time/place +
    particle, or questions, states, vocatives, clauses joined by connectives."""
    kind = rng.randrange(7)
    subj = _pick(rng, SUBJECTS)
    clause = " ".join(w for w in (subj, _pick(rng, ASPECTS), _pick(rng, VERB_OBJECTS)) if w)
    if kind == 0:  # statement with time / place / particle
        parts = [_pick(rng, OPENERS), _pick(rng, TIMES), clause, _pick(rng, PLACES), _pick(rng, END_PARTICLES)]
    elif kind == 1:  # yes/no question
        v = _pick(rng, VERB_OBJECTS)
        parts = [_pick(rng, ("", "thế", "vậy")), subj, _pick(rng, ("có", "đã", "có muốn", "có thích")), v,
                 _pick(rng, TIMES), _pick(rng, ("không", "chưa", "không nhỉ", "chưa nhỉ", "không ạ", "chưa ạ"))]
    elif kind == 2:  # wh-question
        parts = [subj, _pick(rng, ("định", "muốn", "sẽ", "đã", "hay")), _pick(rng, VERB_OBJECTS),
                 _pick(rng, QUESTION_WORDS), _pick(rng, ("thế", "vậy", "nhỉ", "hả", ""))]
    elif kind == 3:  # state
        parts = [_pick(rng, OPENERS), _pick(rng, TIMES), subj, _pick(rng, DEGREES), _pick(rng, ADJECTIVES),
                 _pick(rng, END_PARTICLES)]
    elif kind == 4:  # vocative + request / suggestion
        parts = [_pick(rng, VOCATIVES), _pick(rng, ("", "mình", "chúng ta", "mình cùng", "để em", "để anh")),
                 _pick(rng, VERB_OBJECTS), _pick(rng, TIMES), _pick(rng, ("đi", "nhé", "nha", "thôi", "với", ""))]
    elif kind == 5:  # two clauses
        other = " ".join(w for w in (_pick(rng, SUBJECTS), _pick(rng, ASPECTS), _pick(rng, VERB_OBJECTS)) if w)
        parts = [clause, _pick(rng, CONNECTIVES), other, _pick(rng, END_PARTICLES)]
    else:  # reply with a state and a reason
        parts = [_pick(rng, ("vâng", "dạ", "ừ", "không", "có", "chưa", "rồi")), subj,
                 _pick(rng, DEGREES), _pick(rng, ADJECTIVES), "vì", _pick(rng, SUBJECTS), _pick(rng, ASPECTS),
                 _pick(rng, VERB_OBJECTS), _pick(rng, END_PARTICLES)]
    return " ".join(" ".join(p for p in parts if p).split())


UNITS = ("đồng", "nghìn đồng", "người", "cái", "quyển sách", "con gà", "cây số", "mét", "ki lô gam", "lít nước",
         "phút", "giờ", "ngày", "tuần", "tháng", "năm", "tuổi", "lần", "bước", "quả cam", "học sinh", "cây bút")


def number_phrase(rng: random.Random) -> str:
    """One spoken-number phrase (amount, date, time, percentage, year, phone number, plain count) in words."""
    n = number_to_words
    kind = rng.randrange(9)
    if kind == 0:
        return f"ngày {n(rng.randint(1, 31))} tháng {n(rng.randint(1, 12))} năm {n(rng.randint(1950, 2035))}"
    if kind == 1:
        return (f"{_pick(rng, ('lúc', 'khoảng', 'đúng', 'vào lúc'))} {n(rng.randint(0, 23))} giờ "
                f"{n(rng.randint(1, 59))} phút {_pick(rng, ('', 'sáng', 'chiều', 'tối', 'đêm'))}").strip()
    if kind == 2:
        return f"{_pick(rng, ('tăng', 'giảm', 'khoảng', 'gần', 'hơn'))} {n(rng.randint(1, 100))} phần trăm"
    if kind == 3:
        unit = rng.choice([1, 1000, 10_000, 100_000, 1_000_000, 1_000_000_000])
        return f"{n(rng.randint(1, 999) * unit)} đồng"
    if kind == 4:
        return f"{_pick(rng, ('số', 'con số', 'dãy số'))} {digits_to_words('0' + str(rng.randint(10**8, 10**9 - 1)))}"
    if kind == 5:
        return f"năm {n(rng.randint(1900, 2099))}"
    if kind == 6:
        return f"{_pick(rng, SUBJECTS)} {_pick(rng, ('có', 'mua', 'cần', 'thấy', 'đếm được'))} " \
               f"{n(rng.choice([rng.randint(1, 20), rng.randint(21, 999), rng.randint(1000, 99_999)]))} " \
               f"{_pick(rng, UNITS)}"
    if kind == 7:
        return f"{_pick(rng, ('tháng', 'ngày', 'tầng', 'phòng', 'số nhà', 'xe số', 'lớp'))} {n(rng.randint(1, 999))}"
    return digits_to_words(str(rng.randint(0, 10 ** rng.randint(3, 6))))


def generated_material(vocab: set[str], seed: int, num_everyday: int, num_numbers: int,
                       exclude: set[str]) -> dict[str, list[str]]:
    """Everyday sentences and number phrases (distinct, every word in the vocab, none in ``exclude``)."""
    rng = random.Random(seed)
    out: dict[str, list[str]] = {"everyday": [], "numbers": []}
    seen = set(exclude)
    for kind, count, make in (("everyday", num_everyday, everyday_sentence), ("numbers", num_numbers, number_phrase)):
        tries = 0
        while len(out[kind]) < count and tries < count * 20:
            tries += 1
            s = normalize_text(make(rng))
            if s in seen or not all(w in vocab for w in s.split()):
                continue
            seen.add(s)
            out[kind].append(s)
    return out


def syllable_counts(texts: Iterable[str]) -> Counter:
    return Counter(w for t in texts for w in t.split())


def coverage_sequences(vocab: set[str], counts: Counter, k: int, seed: int, exclude: set[str],
                       rare_share: float = 0.85) -> list[str]:
    """Syllable sequences of 5-12 syllables that bring every vocab syllable to at least ``k`` occurrences:
    ~85 % under-heard syllables (each until it reaches ``k``) mixed with common ones drawn by frequency, so
    rare syllables are heard beside ordinary context. ``counts`` is updated in place."""
    rng = random.Random(seed)
    common = [w for w, _ in counts.most_common(500) if w in vocab] or sorted(vocab)
    weights = [counts[w] or 1 for w in common]
    need = sorted(w for w in vocab if counts[w] < k)
    rng.shuffle(need)
    queue = [w for w in need for _ in range(k - counts[w])]
    rng.shuffle(queue)
    out = []
    while queue:
        n = rng.randint(5, 12)
        n_rare = min(len(queue), max(1, round(n * rare_share)))
        words = [queue.pop() for _ in range(n_rare)]
        words += rng.choices(common, weights, k=n - n_rare)
        rng.shuffle(words)
        s = " ".join(words)
        if s in exclude:  # practically never; a held-out sentence must not be trained on
            continue
        counts.update(words)
        out.append(s)
    return out


SECONDS_PER_SYLLABLE, SECONDS_PER_UTTERANCE = 0.25, 0.91  # fit on a full corpus (3 000 utterances, all voices)


def estimated_hours(texts: Iterable[str]) -> float:
    """Audio hours ``render`` makes of these texts, before synthesis (speaking rate 125-185, 0.1-0.8 s of added
    silence)."""
    return sum(SECONDS_PER_SYLLABLE * len(t.split()) + SECONDS_PER_UTTERANCE for t in texts) / 3600


def cap_hours(rows: list[tuple[str, str]], hours: float, seed: int) -> list[tuple[str, str]]:
    """A seeded random subset of ``rows`` of about ``hours`` of audio (all of them when ``hours`` <= 0)."""
    if hours <= 0:
        return rows
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    keep, total = set(), 0.0
    for i in order:
        total += estimated_hours([rows[i][1]])
        if total > hours:
            break
        keep.add(i)
    return [r for i, r in enumerate(rows) if i in keep]


def assemble(doc_sents: dict[str, list[str]], committed: list[tuple[str, str]], vocab: set[str], *, num_val: int,
             seed: int, num_everyday: int, num_numbers: int, min_count: int, natural_hours: float = 0.0,
             num_daily: int = 0, banned_phrases: Iterable[str] = ()) -> tuple[dict, dict, list]:
    """The corpus texts from each document's kept sentences: ({split: [(origin, text)]}, report fields, test
    pool). ``natural_hours`` > 0 caps the extracted training text (by a seeded random subset). Generated
    material (origin ``generated:<kind>``) goes to train only and never repeats a held-out sentence.
    ``num_daily`` daily-life sentences (``daily_text``; none containing a ``banned_phrases`` entry) come last,
    after the coverage sequences, so every earlier row keeps its text and index (and its audio)."""
    sp = split_sentences_by_document(doc_sents, committed, num_val, seed)
    sp.train = cap_hours(sp.train, natural_hours, seed)
    held_out = {t for _, t in sp.val} | {t for _, t in sp.test} | {t for _, t in sp.test_pool}
    gen = generated_material(vocab, seed, num_everyday, num_numbers, held_out | {t for _, t in sp.train})
    train = sp.train + [(f"generated:{k}", t) for k, rows in gen.items() for t in rows]
    counts = syllable_counts(t for _, t in train)
    cover = coverage_sequences(vocab, counts, min_count, seed, held_out)
    train += [(COVERAGE_ORIGIN, t) for t in cover]
    daily = daily_material(vocab, seed, num_daily, held_out | {t for _, t in train}, banned_phrases)
    train += [(DAILY_ORIGIN, t) for t in daily]
    info = {
        "kept_distinct_per_document_sum": sum(len(v) for v in doc_sents.values()),
        "removed_from_train_as_heldout": sp.removed_from_train,
        "test_pool": len(sp.test_pool),
        "coverage": {"k": min_count, "min_count": min((counts[w] for w in vocab), default=0),
                     "syllables_below_k": sorted(w for w in vocab if counts[w] < min_count)[:50],
                     "sequences": len(cover), "vocab_size": len(vocab)},
        "daily": {"asked": num_daily, "made": len(daily),
                  "distinct_syllables": len(syllable_counts(daily))},
    }
    return {"train": train, "val": sp.val, "test": sp.test}, info, sp.test_pool
