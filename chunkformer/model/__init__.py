"""ChunkFormer model components, one file each (WeNet-style split); see each module for tensor shapes.

:mod:`~chunkformer.model.masked_batch` holds the chunk geometry shared by training and inference.
"""

from chunkformer.model.asr_model import ChunkFormerModel, ModelConfig, official_segment_frames
from chunkformer.model.encoder import EncoderConfig
from chunkformer.model.masked_batch import Context

__all__ = ["ChunkFormerModel", "Context", "EncoderConfig", "ModelConfig", "official_segment_frames"]
