"""Companion package of the reverse-image-search-to-comics tutorial.

One module per concept, in notebook order, each depending only on the ones before it:
settings (`config`), safe files (`files`), photos (`data`), the search result (`hits`), vectors
(`clip`, `models`, `onnx_export`, `cache`, `embeddings`), the database (`store`, `indexing`), measuring
(`metrics`), pictures (`plots`, `explorer`), the comic (`openai_models`, `openai_api`, `comics`, `comic_chat`), and the
workshop kit (`checks`, `reset`).
Import the one you need, for example `from helpers import data, embeddings`; importing does nothing else.
"""

__all__ = ["config", "files", "data", "hits", "clip", "models", "onnx_export", "cache", "embeddings", "store",
           "indexing", "metrics", "plots", "explorer", "openai_models", "openai_api", "comics",
           "comic_chat", "checks", "reset"]
