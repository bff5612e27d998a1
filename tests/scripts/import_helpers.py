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
names = [m.name for m in pkgutil.walk_packages(helpers.__path__, "helpers.") if "._" not in m.name]
for name in names:
    importlib.import_module(name)
names = sorted(name.removeprefix("helpers.") for name in names)

from milvus_lite.server_manager import server_manager_instance  # noqa: E402

from helpers.vectors import models  # noqa: E402

print(json.dumps({"modules": names, "torch_after_import_helpers": torch_after_package,
                  "milvus_lite_servers": len(server_manager_instance._servers),
                  "models_built": models._build_model.cache_info().currsize}))
