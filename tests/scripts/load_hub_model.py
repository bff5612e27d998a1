"""Load a tiny model whose weights come from the Hugging Face hub, and print the outcome as JSON.

    python tests/scripts/load_hub_model.py

Used by tests/test_mistakes.py. timm's `test_resnet` (a few hundred kB of weights on the hub) is registered as
the model "tiny-hub"; the test's HF_ENDPOINT (a closed port: no hub) and HF_HOME (what is cached) decide the rest.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2])]

from helpers.vectors import models  # noqa: E402

models.MODELS["tiny-hub"] = models.ModelSpec("test_resnet", "hub")
try:
    model = models.load_model("tiny-hub")
except models.ModelLoadError as err:
    print(json.dumps({"loaded": False, "message": str(err)}))
else:
    print(json.dumps({"loaded": True, "dim": model.num_features}))
