"""Search by words, offline: each photo's ImageNet labels and coarse words, from the model's own classifier (nb 06).

The feature models were trained as ImageNet classifiers. To get vectors we drop their last layer, the
classifier head, which turns the pooled features into scores for 1,000 ImageNet classes. `photo_tags` applies
that layer (its weights, in numpy) to the features `embeddings.embed_images(..., keep_features=True)` returns,
so the labels cost nothing but one small matrix product in the same pass as the vectors, for every backend
(the ONNX export outputs the same pooled features). A photo gets the names of its likely classes
("afghan hound", "afghan") and the coarse words of its group ("dog") as tags. A CLIP model has no such
classifier (`has_classifier` is False): it searches by any words itself (`embeddings.embed_text`).

Class names: the WordNet lemmas of the ImageNet-1k classes, as timm ships them (`timm.data.ImageNetInfo`).
Coarse words: groups of ImageNet classes that share a WordNet ancestor, by class index (the standard order):
dog = the 118 dog breeds, classes 151-268 (hyponyms of dog.n.01); cat = the 5 domestic cats, 281-285
(domestic_cat.n.01); bird = the 59 birds, 7-24, 80-100 and 127-146 (bird.n.01). A photo gets a coarse word
when the probabilities of the group's classes add up to at least GROUP_THRESHOLD, so a dog whose breed the
model is unsure of is still a dog.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from helpers.vectors import models

COARSE_GROUPS: dict[str, tuple[range, ...]] = {  # word: ImageNet class indices (see the module docstring)
    "dog": (range(151, 269),),
    "cat": (range(281, 286),),
    "bird": (range(7, 25), range(80, 101), range(127, 147)),
}
TOP_LABELS = 3  # at most this many classes name a photo
LABEL_THRESHOLD = 0.15  # a class below the best one names the photo only from this probability up
GROUP_THRESHOLD = 0.5  # a coarse word needs this much probability over its group's classes


@functools.lru_cache(maxsize=1)
def class_names() -> tuple[tuple[str, ...], ...]:
    """The 1,000 ImageNet classes as lower-case names, each with its synonyms: ("afghan hound", "afghan")."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return tuple(tuple(" ".join(word.lower().split()) for word in info.index_to_description(i).split(","))
                 for i in range(info.num_classes()))


def class_index(synset: str) -> int:
    """The ImageNet class index of a WordNet id such as "n02088094" (an ImageNet file name starts with it)."""
    if synset not in _synset_indices():
        raise ValueError(f"{synset!r} is not one of the 1,000 ImageNet classes (WordNet ids like 'n02088094').")
    return _synset_indices()[synset]


@functools.lru_cache(maxsize=1)
def _synset_indices() -> dict[str, int]:
    """{WordNet id: ImageNet class index}, from timm's class list."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return {info.index_to_label_name(i): i for i in range(info.num_classes())}


def has_classifier(model_name: str | None = None) -> bool:
    """True when the model has an ImageNet classifier to tag photos with (timm models; CLIP has none) (nb 06)."""
    return models.MODELS[models.resolve_model_name(model_name)].library == "timm"


@functools.lru_cache(maxsize=4)
def classifier_weights(model_name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The model's classifier head as numpy arrays: weights (1000, dim) and bias (1000,) (notebook 06)."""
    head = models.load_model(model_name, classifier=True).get_classifier()
    weight = head.weight.detach().numpy().astype(np.float32)
    bias = head.bias.detach().numpy().astype(np.float32) if head.bias is not None else np.zeros(len(weight))
    return weight, bias.astype(np.float32)


def class_probabilities(features: np.ndarray, model_name: str | None = None) -> np.ndarray:
    """ImageNet class probabilities (n, 1000) from pooled features (n, dim), before normalisation (notebook 06)."""
    weight, bias = classifier_weights(models.resolve_model_name(model_name))
    logits = np.atleast_2d(np.asarray(features, np.float32)) @ weight.T + bias
    logits -= logits.max(axis=1, keepdims=True)  # softmax, without overflow
    probabilities = np.exp(logits)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def photo_tags(features: np.ndarray, model_name: str | None = None) -> list[list[str]]:
    """Each photo's tags: its coarse words ("dog"), then the names of its likely classes (notebook 06)."""
    return [tags_from_probabilities(row) for row in class_probabilities(features, model_name)]


def tags_from_probabilities(probabilities: np.ndarray) -> list[str]:
    """Coarse words whose group reaches GROUP_THRESHOLD, then the best class and up to TOP_LABELS-1 more."""
    words = [word for word, indices in _group_indices().items()
             if probabilities[indices].sum() >= GROUP_THRESHOLD]
    best = np.argpartition(-probabilities, TOP_LABELS)[:TOP_LABELS]
    best = best[np.argsort(-probabilities[best])]
    labels = [int(i) for rank, i in enumerate(best) if rank == 0 or probabilities[i] >= LABEL_THRESHOLD]
    names = [name for i in labels for name in class_names()[i]]
    return list(dict.fromkeys(words + names))


@functools.lru_cache(maxsize=1)
def _group_indices() -> dict[str, np.ndarray]:
    """Each coarse word's class indices, as one array (for a fast sum of their probabilities)."""
    return {word: np.concatenate([np.arange(r.start, r.stop) for r in ranges])
            for word, ranges in COARSE_GROUPS.items()}


def coarse_word(class_index: int) -> str | None:
    """The coarse word of an ImageNet class ("dog" for 151-268), or None when it is in no group."""
    return next((word for word, ranges in COARSE_GROUPS.items() if any(class_index in r for r in ranges)), None)


def tag_quality(photo_tag_lists: Sequence[Sequence[str]], relevant: Sequence[bool],
                word: str) -> tuple[float, float]:
    """(precision, recall) of one tag: of the photos tagged `word`, how many are relevant, and the reverse."""
    tagged = np.array([word in tags for tags in photo_tag_lists])
    relevant = np.asarray(relevant, dtype=bool)
    precision = float(relevant[tagged].mean()) if tagged.any() else 0.0
    recall = float(tagged[relevant].mean()) if relevant.any() else 0.0
    return precision, recall
