"""Companion package of the reverse-image-search-to-comics tutorial: seven names, one per stage.

    config      settings, each overridable by an environment variable     (every notebook)
    photos      the sample dataset, reading a photo, your own folder      (01, 02, 06)
    vectors     a model turns photos (and words) into vectors             (02, 06)
    collection  Milvus: connect, store, search, measure, albums           (03, 04, 06)
    pictures    grids, the embedding map, the explorer, the photo picker  (every notebook)
    comic       OpenAI image generation from the photos you found         (05)
    commands    pre-flight check, reset, indexing a big folder            (01, 06, a terminal)

Use them as `from helpers import photos, collection`, then `collection.search_similar(...)`.
Each stage is a folder of small modules, one concept each (docs/helpers.md); importing does nothing.
"""

__all__ = ["config", "photos", "vectors", "collection", "pictures", "comic", "commands"]
