"""Kernel start-up file of `tools/time_notebooks.py --model resnet50-random`: ResNet-50 with random weights.

Timing ResNet-50 does not need its real weights (same architecture, same speed), and a machine without network
cannot download them. time_notebooks.py runs this file at the start of each timing kernel (IPython's exec_files),
so the swap lives in that kernel only; the tutorial itself never offers random weights. After the issue-9 split
the registry lives in helpers.models: change the import if `embeddings.MODELS` is gone.
"""

from helpers import embeddings

embeddings.MODELS["resnet50"] = embeddings.ModelSpec("resnet50", "random")
