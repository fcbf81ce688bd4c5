"""ChunkFormer model components, one file each (WeNet-style split); see each module for tensor shapes.

The package exports are resolved lazily (PEP 562): ``chunkformer.masked_batch`` needs
``chunkformer.model.subsampling`` and ``asr_model`` needs ``masked_batch``, so eager imports here would make
``import chunkformer.masked_batch`` fail when it is the first chunkformer import of a process.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chunkformer.model.asr_model import ChunkFormerModel, ModelConfig, official_segment_frames
    from chunkformer.model.encoder import EncoderConfig

_EXPORTS = {
    "ChunkFormerModel": "chunkformer.model.asr_model",
    "ModelConfig": "chunkformer.model.asr_model",
    "official_segment_frames": "chunkformer.model.asr_model",
    "EncoderConfig": "chunkformer.model.encoder",
}
__all__ = ["ChunkFormerModel", "ModelConfig", "EncoderConfig", "official_segment_frames"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
