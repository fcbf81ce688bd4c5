"""Data pipeline of the recipe: ``data.yaml`` → validated lhotse manifests (stage 0) → fbank for eval sets
(stage 1) → training cuts + augmentation plan (stage 2) → on-the-fly augmented batches for the trainer.

Modules: ``config`` (data.yaml), ``sources`` (glob / Kaldi / TSV / lhotse → items), ``validate`` (per-item
checks with reasons), ``manifests`` (writing/reading stage outputs), ``banks`` (noise and RIR sets),
``mixing`` (domain shares per epoch), ``pipeline`` (per-cut load → augment → fbank), ``datamodule``
(the trainer's interface), ``augment`` (waveform and feature augmentation).
"""
