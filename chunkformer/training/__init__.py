"""Fine-tuning machinery behind ``python -m chunkformer.train``, split by concern."""
