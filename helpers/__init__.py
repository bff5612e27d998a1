"""Companion package of the reverse-image-search-to-comics tutorial.

One module per concept, in notebook order: `config`, `data`, `embeddings`, `store`,
`metrics`, `plots`, `comics`, `comic_chat`. Import the one you need, for example
`from helpers import data, embeddings`; importing does nothing else.
"""

__all__ = ["config", "data", "embeddings", "store", "metrics", "plots", "comics", "comic_chat"]
