"""Import `helpers`, then every module in it, and print what that did, as JSON (tests/test_packaging.py).

Nothing should happen on import: no torch for `import helpers`, no model built, no Milvus Lite database opened.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys

import helpers

torch_after_package = "torch" in sys.modules
names = sorted(m.name for m in pkgutil.iter_modules(helpers.__path__) if not m.name.startswith("_"))
for name in names:
    importlib.import_module(f"helpers.{name}")

from milvus_lite.server_manager import server_manager_instance  # noqa: E402

from helpers import models  # noqa: E402

print(json.dumps({"modules": names, "torch_after_import_helpers": torch_after_package,
                  "milvus_lite_servers": len(server_manager_instance._servers),
                  "models_built": models._build_model.cache_info().currsize}))
