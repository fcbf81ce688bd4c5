"""Serving many callers at once: dynamic batching (:mod:`.batcher`), request audio → transcript
(:mod:`.recognizer`) and the HTTP API (:mod:`.app`); ``python -m chunkformer.serve`` runs it (docs/SERVING.md)."""
