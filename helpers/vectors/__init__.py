"""Vectors: a model turns each photo (and, with CLIP, words) into a vector.

Notebook 02 introduces it; 06 adds the model's own words (tags) for each photo.
"""

from helpers._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "models": [
        "FeatureExtractor", "MODELS", "ModelLoadError", "ModelSpec", "decode_side",
        "embedding_dim", "load_model", "load_transform", "pick_device", "resolve_backend",
        "resolve_model_name", "thumbnail_side",
    ],
    "onnx_export": ["export_onnx", "model_path", "quantize_onnx"],
    "cache": ["cache_path"],
    "embeddings": ["can_embed_text", "embed_image", "embed_images", "embed_text", "mix_queries"],
    "tags": [
        "LABEL_THRESHOLD", "class_index", "coarse_word", "has_classifier", "photo_tags",
        "tag_quality",
    ],
})
