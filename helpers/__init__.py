"""Companion package of the reverse-image-search-to-comics tutorial.

One module per concept, in notebook order, each depending only on the ones before it:
settings (`config`), safe files (`files`), photos (`data`, and your own: `photo_info`, `library`,
`demo_library`), the search result (`hits`), vectors (`clip`, `models`, `onnx_export`, `cache`, `embeddings`,
and words from them: `tags`), the database (`database`, `filters`, `store`, `indexing`, and the command line
for big folders: `index_folder`), measuring (`metrics`), your own photos found (`duplicates`, `album`),
pictures (`plots`, `explorer`, `picker`), the comic (`openai_models`, `openai_api`, `comics`, `comic_chat`),
and the workshop kit (`checks`, `reset`).
Import the one you need, for example `from helpers import data, embeddings`; importing does nothing else.
"""

__all__ = ["config", "files", "data", "photo_info", "library", "demo_library", "hits", "clip", "models",
           "onnx_export", "cache", "embeddings", "tags", "database", "filters", "store", "indexing", "index_folder",
           "metrics", "duplicates", "album", "plots", "explorer", "picker", "openai_models", "openai_api", "comics",
           "comic_chat", "checks", "reset"]
