"""From CTC posteriors to scored text: :mod:`~chunkformer.decoding.ctc_search` (greedy and prefix beam search)
and :mod:`~chunkformer.decoding.scoring` (WER/CER, icefall-shaped result files)."""
