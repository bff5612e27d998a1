"""Pictures: grids of photos and results, the embedding map, the search explorer and the photo picker.

Every notebook draws with it. It depends only on paths, labels and scores, never on the database.
"""

from helpers._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "plots": [
        "image_grid", "project_2d", "save_figure", "show_comic", "show_embedding_map",
        "show_images", "show_metrics_at_k", "show_result_rows", "show_results",
        "show_side_by_side",
    ],
    "explorer": ["SearchExplorer", "upload_button"],
    "picker": ["PhotoPicker"],
})
