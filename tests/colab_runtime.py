"""What Google Colab's runtime ships: a dated table for tests/test_packaging.py and tests/test_colab_install.py.

Update it as Colab moves on (docs/colab.md says how). Source: github.com/googlecolab/backend-info, pip-freeze.gpu.txt
and os-info-gpu.txt. LISTING names the listing each version comes from:
- "2026-08": the August 2026 listing (Python 3.13), as quoted in issue 20; read 2026-12-04.
- "4647a1df": the newest listing readable from here, commit 4647a1df5425c1f7b244eb7378c55348fd0dd100 (Python 3.12.12,
  torch 2.10.0+cu128, early 2026), for packages the August figures do not name. Re-check them against the current
  listing: a Python 3.13 runtime may well ship newer ones.
- "stand-in": that listing's version has no wheel for Python 3.13 (numpy 2.0.2, pandas 2.2.2), so Colab's 3.13 runtime
  ships something newer that we could not read; the oldest release with a Python 3.13 wheel stands in. It is the strict
  choice: a dependency that needs anything newer shows in the resolution test.
A runtime dependency that Colab's version does not satisfy makes the setup cell upgrade a package that the runtime may
have imported already, and then nothing works right until the runtime is restarted.
"""

PYTHON = "3.13"  # Colab's Python (the listing gives no patch release we could read)
# Our runtime dependencies that Colab already has, at Colab's version (torch: +cpu or +cu128 builds).
PREINSTALLED = {
    "ipywidgets": "7.7.1",  # 2026-08; the same in every listing since 2023
    "torch": "2.11.0",  # 2026-08
    "torchvision": "0.26.0",  # 2026-08
    "timm": "1.0.28",  # 2026-08
    "pillow": "11.3.0",  # 2026-08
    "openai": "2.54.0",  # 2026-08
    "numpy": "2.1.0",  # stand-in (4647a1df: 2.0.2)
    "pandas": "2.2.3",  # stand-in (4647a1df: 2.2.2)
    "scikit-learn": "1.6.1",  # 4647a1df
    "matplotlib": "3.10.0",  # 4647a1df
    "python-dotenv": "1.2.1",  # 4647a1df
    "tqdm": "4.67.3",  # 4647a1df
    "packaging": "26.0",  # 4647a1df
}
# Packages our dependencies pull in that Colab also has (4647a1df): the setup cell must not change them either.
# protobuf 5.29 is why onnx stays below 1.23 (pyproject.toml).
ALSO_PREINSTALLED = {
    "protobuf": "5.29.6",
    "grpcio": "1.78.1",
    "pyarrow": "18.1.0",
    "ml-dtypes": "0.5.4",
    "huggingface-hub": "1.4.1",
    "safetensors": "0.7.0",
    "pydantic": "2.12.3",
    "httpx": "0.28.1",
    "requests": "2.32.4",
    "cachetools": "6.2.6",
    "orjson": "3.11.7",
    "regex": "2025.11.3",
    "sympy": "1.14.0",
    "scipy": "1.16.3",
    "flatbuffers": "25.12.19",
    "pyyaml": "6.0.3",
    "typing-extensions": "4.15.0",
    "setuptools": "75.2.0",
}
# Recorded as installed (metadata without code) rather than installed, for the resolution test: torch and torchvision
# weigh several GB with their CUDA libraries, and ipywidgets 7.7.1 brings the classic notebook server (some 80
# packages, half the test's time). Our requirements on them are lower bounds that Colab's versions meet.
RECORDED_ONLY = ("torch", "torchvision", "ipywidgets")
