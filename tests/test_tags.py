"""Tests for vectors/tags.py: the classifier head applied to the pipeline's features gives the model's own labels.

The model checks use the offline model and a ResNet-50 with random weights (registered for the test only).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from support import OFFLINE_MODEL

from helpers import config
from helpers.vectors import embeddings, models, tags


@pytest.fixture
def random_resnet50(monkeypatch: pytest.MonkeyPatch) -> str:
    """ResNet-50 with random weights (no download): the classifier arithmetic does not need trained weights."""
    monkeypatch.setitem(models.MODELS, "resnet50", models.ModelSpec("resnet50", "random"))
    return "resnet50"


# resnet50 (random weights) takes 10-15 s to build: `make unit` keeps the offline model
@pytest.mark.parametrize("model_name", [OFFLINE_MODEL, pytest.param("resnet50", marks=pytest.mark.slow)])
def test_the_classifier_of_the_pooled_features_is_the_full_models_logits(model_name: str, random_resnet50: str) -> None:
    images = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    full, features = models.load_model(model_name, classifier=True), models.load_model(model_name)
    with torch.inference_mode():
        logits, pooled = full(images), features(images)
        assert torch.allclose(full.get_classifier()(pooled), logits, atol=1e-4)
    weight, bias = tags.classifier_weights(model_name)  # the same head in numpy, as the ONNX backend needs
    assert np.allclose(pooled.numpy() @ weight.T + bias, logits.numpy(), atol=1e-3)
    probabilities = tags.class_probabilities(pooled.numpy(), model_name)
    assert np.allclose(probabilities.sum(axis=1), 1) and (probabilities.argmax(1) == logits.argmax(1).numpy()).all()
    tags.classifier_weights.cache_clear()


def test_the_coarse_groups_are_the_documented_imagenet_classes() -> None:
    sizes = {word: sum(len(r) for r in ranges) for word, ranges in tags.COARSE_GROUPS.items()}
    assert sizes == {"dog": 118, "cat": 5, "bird": 59}
    names = tags.class_names()
    assert len(names) == 1000 and names[151][0] == "chihuahua" and names[268][0] == "mexican hairless"
    assert names[269][0] == "timber wolf"  # the first class after the dogs is not a dog
    assert tags.coarse_word(tags.class_index("n02088094")) == "dog"  # Afghan hound, the tutorial's dog
    assert tags.coarse_word(tags.class_index("n02123159")) == "cat"  # tiger cat
    assert tags.coarse_word(tags.class_index("n01530575")) == "bird"  # brambling
    assert tags.coarse_word(tags.class_index("n02129165")) is None  # lion: a big cat, not in "cat"
    with pytest.raises(ValueError, match="WordNet"):
        tags.class_index("n00000000")


def _probabilities(*pairs: tuple[int, float]) -> np.ndarray:
    """1,000 class probabilities: the given (index, probability) pairs, the rest spread evenly."""
    probabilities = np.full(1000, (1 - sum(p for _, p in pairs)) / (1000 - len(pairs)))
    for index, probability in pairs:
        probabilities[index] = probability
    return probabilities


@pytest.mark.parametrize(("pairs", "expected"), [
    ([(160, 0.9)], ["dog", "afghan hound", "afghan"]),  # sure of the breed
    ([(160, 0.32), (176, 0.3)], ["dog", "afghan hound", "afghan", "saluki", "gazelle hound"]),  # unsure, still a dog
    ([(160, 0.2), (291, 0.25)], ["lion", "king of beasts", "panthera leo", "afghan hound", "afghan"]),  # not a dog
    ([(950, 0.6), (951, 0.05)], ["orange"]),  # a second class below LABEL_THRESHOLD does not name it
])
def test_tags_are_coarse_words_then_class_names(pairs: list[tuple[int, float]], expected: list[str]) -> None:
    assert tags.tags_from_probabilities(_probabilities(*pairs)) == expected


def test_tag_quality_is_precision_and_recall() -> None:
    photo_tags = [["dog", "beagle"], ["dog"], ["cat"], [], ["dog"]]
    assert tags.tag_quality(photo_tags, [True, True, False, True, False], "dog") == pytest.approx((2 / 3, 2 / 3))
    assert tags.tag_quality(photo_tags, [False] * 5, "bird") == (0.0, 0.0)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_embed_images_keeps_the_features_for_tags_in_the_same_pass(backend: str, photos: list[Path], onnx_ready,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBED_BACKEND", backend)
    computed: list[int] = []
    real_embed_uncached = embeddings._embed_uncached

    def counting(image_paths, *args):
        computed.append(len(image_paths))
        return real_embed_uncached(image_paths, *args)

    monkeypatch.setattr(embeddings, "_embed_uncached", counting)
    plain = embeddings.embed_images(photos[:4], progress=False)
    assert plain.features is None and computed == [4]
    result = embeddings.embed_images(photos[:4], progress=False, keep_features=True)
    assert computed == [4, 4]  # cached vectors have lost their length: computed again, in one pass
    assert result.features.shape == result.embeddings.shape
    assert np.allclose(embeddings.normalize(result.features), result.embeddings, atol=1e-6)
    assert np.allclose(result.embeddings, plain.embeddings, atol=1e-5)
    photo_tags = tags.photo_tags(result.features)
    assert len(photo_tags) == 4 and all(words for words in photo_tags)


@pytest.mark.slow
def test_the_tag_dog_finds_the_dogs_of_the_sample_photos(real_dataset, settings: config.Settings,
                                                         make_image: Callable[..., Path]) -> None:
    """Offline model, the 10 dog classes among 100: the measure notebook 06 prints (precision 0.97, recall 1.0)."""
    paths = real_dataset.train.image_paths[::5] + real_dataset.test.image_paths
    result = embeddings.embed_images(paths, OFFLINE_MODEL, progress=False, keep_features=True)
    is_dog = [tags.coarse_word(tags.class_index(p.name.split("_")[0])) == "dog" for p in result.image_paths]
    precision, recall = tags.tag_quality(tags.photo_tags(result.features, OFFLINE_MODEL), is_dog, "dog")
    assert precision >= 0.9 and recall >= 0.9
