"""Kernel start-up file of `tools/time_notebooks.py --model resnet50-random`: ResNet-50 with random weights.

Timing ResNet-50 does not need its real weights (same architecture, same speed), and a machine without network
cannot download them. time_notebooks.py runs this file at the start of each timing kernel (IPython's exec_files),
so the swap lives in that kernel only; the tutorial itself never offers random weights.
"""

from helpers.vectors import models

models.MODELS["resnet50"] = models.ModelSpec("resnet50", "random")
