"""ChunkFormer (masked chunking conformer + CTC) for fine-tuning on Vietnamese call-bot audio.

Checkpoint-compatible re-implementation of the official ``chunkformer`` package (arXiv 2502.14673):
same state-dict keys, same numerics, one masked-chunk path for training and inference.
"""

__version__ = "0.1.0"
