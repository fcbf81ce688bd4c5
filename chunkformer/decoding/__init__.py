"""From CTC posteriors to scored text.

* :mod:`~chunkformer.decoding.decoder`: the API: :class:`CTCDecoder` + :class:`DecodeOptions` → :class:`Hypothesis`
  (text, words with start/end/confidence, utterance confidence); see docs/DECODING.md.
* :mod:`~chunkformer.decoding.ctc_search`: greedy and prefix beam search (:class:`FrameTopK` inputs).
* :mod:`~chunkformer.decoding.context_graph`, :mod:`~chunkformer.decoding.hotwords`: hotword biasing.
* :mod:`~chunkformer.decoding.lm`, :mod:`~chunkformer.decoding.fusion`: n-gram LM (KenLM, or a pure-Python ARPA
  scorer) shallow fusion; :mod:`~chunkformer.decoding.lm_build`: estimating it with KenLM's lmplz;
  :mod:`~chunkformer.decoding.tuning`: choosing the LM weight and word bonus on val.
* :mod:`~chunkformer.decoding.alignment`: CTC best-path alignment (word times).
* :mod:`~chunkformer.decoding.scoring`: WER/CER, icefall-shaped result files.
"""

from chunkformer.decoding.context_graph import ContextGraph
from chunkformer.decoding.ctc_search import FrameTopK
from chunkformer.decoding.decoder import CTCDecoder, DecodeOptions, Hypothesis, Word
from chunkformer.decoding.fusion import LMFusion
from chunkformer.decoding.hotwords import HotwordList, build_hotwords, read_hotwords_file
from chunkformer.decoding.lm import ArpaLM, KenLM, LMError, NgramLM, load_lm

__all__ = ["ArpaLM", "CTCDecoder", "ContextGraph", "DecodeOptions", "FrameTopK", "HotwordList", "Hypothesis",
           "KenLM", "LMError", "LMFusion", "NgramLM", "Word", "build_hotwords", "load_lm", "read_hotwords_file"]
