"""ChunkFormer model components, one file each (WeNet-style split); see each module for tensor shapes."""

from chunkformer.model.asr_model import ChunkFormerModel, ModelConfig, official_segment_frames
from chunkformer.model.encoder import EncoderConfig

__all__ = ["ChunkFormerModel", "ModelConfig", "EncoderConfig", "official_segment_frames"]
