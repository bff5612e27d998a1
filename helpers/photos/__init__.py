"""Photos: the sample dataset, reading a photo, your own folder scanned and every file accounted for.

Notebooks 01-02 introduce it; 06 scans your own folder. A search result, `Hit`, is plain data and lives here too.
"""

from helpers._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "data": [
        "DatasetError", "ImageLoadError", "download_dataset",
        "list_images", "load_dataset", "load_image", "on_colab",
        "save_upload", "upload_with_colab", "uploaded_files",
    ],
    "hits": ["Hit"],
    "folder": ["describe_not_used", "describe_scan", "scan_folder", "write_skipped_report"],
    "demo_library": ["DEMO_BURST", "make_demo_library"],
})
