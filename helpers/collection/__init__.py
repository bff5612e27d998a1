"""The Milvus collection: connect, store vectors, search them, measure and refine the results.

Notebook 03 introduces it; 04 measures search quality; 06 adds filters, albums and near-duplicates.
"""

from helpers import config
from helpers._lazy import attach

# pymilvus reads MILVUS_URI when it is imported, and a file name or a host without http:// ends in its traceback
# there: say what to write instead, before any module of this stage imports it.
config.check_milvus_uri_variable()

__getattr__, __dir__, __all__ = attach(__name__, {
    "database": ["DatabaseLockedError", "StoreError", "connect", "release_database"],
    "filters": ["album_filter", "date_filter", "label_filter", "tag_filter"],
    "store": [
        "DEFAULT_BATCH_SIZE", "NoTagsError", "SchemaMismatchError", "count_images", "create_collection",
        "flush_inserts", "get_rows", "get_vectors", "insert_embeddings", "query_photos",
        "search_similar", "update_albums",
    ],
    "indexing": ["IndexingBusyError", "index_images", "index_library"],
    "metrics": [
        "average_precision", "count_relevant", "metrics_by_k", "relevance",
        "score_queries", "summarize", "worst_queries",
    ],
    "duplicates": ["DUPLICATE_THRESHOLD", "collapse_hits", "distinct_hits", "group_near_duplicates"],
    "album": [
        "COMBINE", "add_to_album", "album_paths", "evaluate_examples", "example_scores",
        "search_with_examples",
    ],
})
