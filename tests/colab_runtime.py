"""What Google Colab's runtime ships, for tests/test_packaging.py (a dated table: update it as Colab moves on).

Source: github.com/googlecolab/backend-info, pip-freeze.txt and pip-freeze.gpu.txt of runtime version 2026.01
(commit bd8aaa4580401a7fbf96a52fab5a7acf96f50b73; Ubuntu 22.04, Python 3.12.12), checked 2026-11-27.
Colab has shipped ipywidgets 7.7.1 in every listing since 2023. A runtime dependency that Colab's version does
not satisfy makes the setup cell upgrade a package that the runtime may have imported already, and then
nothing works right until the runtime is restarted.
"""

RUNTIME_VERSION = "2026.01"
PYTHON = "3.12.12"
# Our runtime dependencies that Colab already has, at Colab's version (torch: +cpu or +cu126 builds).
PREINSTALLED = {
    "ipywidgets": "7.7.1",
    "torch": "2.9.0",
    "torchvision": "0.24.0",
    "timm": "1.0.24",
    "pillow": "11.3.0",
    "numpy": "2.0.2",
    "pandas": "2.2.2",
    "scikit-learn": "1.6.1",
    "matplotlib": "3.10.0",
    "openai": "2.15.0",
    "python-dotenv": "1.2.1",
    "tqdm": "4.67.1",
}
