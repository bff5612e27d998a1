"""Run by tests/test_library.py in a fresh interpreter: HEIF support is registered on the first open, not on import.

Usage: python tests/heif_on_first_open.py PHOTO.heic   (prints "ok WIDTHxHEIGHT" or fails an assert)
"""

from __future__ import annotations

import sys

from PIL import Image

from helpers import config  # noqa: F401  (every module the data layer holds)
from helpers.photos import data, files, hits  # noqa: F401  (every module the data layer holds)

Image.init()
assert "pillow_heif" not in sys.modules, "importing the helpers imported pillow_heif"
assert "HEIF" not in Image.OPEN, "importing the helpers registered the HEIF opener"
image = data.load_image(sys.argv[1])
assert "HEIF" in Image.OPEN, "opening a HEIC did not register the HEIF opener"
print(f"ok {image.width}x{image.height}")
