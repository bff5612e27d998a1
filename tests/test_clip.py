"""Tests for the CLIP model choice and search by words, with random weights (no download: no network here).

The architecture is open_clip's ViT-B-32 with random weights, registered as its own model name, exactly as
`clip-vit-b-32` is built but without the pretrained weights; its tokenizer ships inside the open_clip package.
Random weights say nothing about retrieval quality (benchmarks/bench_clip.py measures that where the weights
can be downloaded); they do test shapes, normalisation, the towers used, the store and every bad input.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from support import OFFLINE_MODEL, unit_vectors
from support import cosines as _cosines

import helpers.collection
import helpers.pictures
import helpers.vectors
from helpers import config
from helpers.collection import database, indexing, store
from helpers.photos import data
from helpers.vectors import embeddings, models

CLIP = "clip-random"
SPEC = models.ModelSpec("ViT-B-32", "random", "open_clip")  # clip-vit-b-32 without its pretrained weights


@pytest.fixture
def clip_settings(settings: config.Settings, monkeypatch: pytest.MonkeyPatch) -> config.Settings:
    """The random-weight CLIP as MODEL_NAME, the torch backend, a fresh data folder."""
    monkeypatch.setitem(models.MODELS, CLIP, SPEC)
    monkeypatch.setenv("MODEL_NAME", CLIP)
    return config.load_settings()


@pytest.fixture
def client(clip_settings: config.Settings):
    """A Milvus Lite client on a fresh database under the test's temporary folder, released afterwards."""
    client = database.connect()
    yield client
    database.release_database(client)


def _clip_model() -> torch.nn.Module:
    """The whole open_clip model behind the registered name (both towers)."""
    return models._load_clip(SPEC)[0]


# ---- the model: image tower, CLIP's preprocessing, the dimension from the model ------------------------------

def test_clip_is_a_model_choice_with_its_pretrained_tag() -> None:
    spec = models.MODELS["clip-vit-b-32"]
    assert (spec.library, spec.timm_name, spec.weights, spec.pretrained) == \
        ("open_clip", "ViT-B-32", "hub", "laion2b_s34b_b79k")
    repo_id, filenames = models.hub_files("clip-vit-b-32")
    assert repo_id == "laion/CLIP-ViT-B-32-laion2B-s34B-b79K" and "open_clip_model.safetensors" in filenames
    assert models.has_text_tower("clip-vit-b-32") and not models.has_text_tower(OFFLINE_MODEL)


@pytest.mark.slow  # the CLIP model beside the reference: 15-25 s, left out of `make unit`
def test_image_tower_vectors_come_from_clip(clip_settings: config.Settings, photos: list[Path]) -> None:
    """The pipeline's vectors are CLIP's own `encode_image` of CLIP's own preprocessing, at unit length."""
    assert models.embedding_dim() == _clip_model().visual.output_dim == 512
    assert models.decode_side() == 224 and models.input_size() == (3, 224, 224)
    result = embeddings.embed_images(photos, batch_size=3, progress=False, use_cache=False)
    assert result.embeddings.shape == (len(photos), 512) and result.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.embeddings, axis=1), 1.0, atol=1e-5)
    from open_clip import get_model_preprocess_cfg
    from open_clip.transform import PreprocessCfg, image_transform_v2

    transform = image_transform_v2(PreprocessCfg(**get_model_preprocess_cfg(_clip_model())), is_train=False)
    images = torch.stack([transform(data.load_image(p, min_side=224)) for p in photos])  # decoded as the pipeline
    with torch.inference_mode():
        expected = _clip_model().encode_image(images, normalize=True).numpy()
    assert _cosines(expected, result.embeddings).min() >= 0.9999
    per_image = np.stack([embeddings.embed_image(p) for p in photos])  # the blog's extractor, on CLIP
    assert _cosines(per_image, result.embeddings).min() >= 0.9999


def test_clip_has_no_imagenet_classifier(clip_settings: config.Settings) -> None:
    with pytest.raises(models.ModelLoadError, match="no ImageNet classifier"):
        models.load_model(CLIP, classifier=True)


def test_clip_vectors_have_their_own_cache(clip_settings: config.Settings, photos: list[Path],
                                           batches_run: list[int]) -> None:
    embeddings.embed_images(photos[:3], progress=False)
    assert embeddings.embed_images(photos[:3], progress=False).embeddings.shape == (3, 512)
    assert sum(batches_run) == 3  # the second run came from the cache
    assert models.fingerprint(CLIP) != models.fingerprint("clip-vit-b-32")  # random and pretrained differ


def test_failed_clip_download_names_the_offline_model(settings: config.Settings,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import open_clip

    def offline(*args, **kwargs):  # what open_clip raises when the hub cannot be reached
        raise RuntimeError("Failed to download weights for tag 'laion2b_s34b_b79k': Failed to download file")

    monkeypatch.setitem(models.MODELS, "clip-offline", models.ModelSpec("ViT-B-32", "hub", "open_clip", "x"))
    monkeypatch.setattr(open_clip, "create_model_and_transforms", offline)
    with pytest.raises(models.ModelLoadError, match="MODEL_NAME=efficientnet_lite0"):
        models.load_model("clip-offline")


@pytest.mark.slow
def test_onnx_backend_gives_clips_vectors(clip_settings: config.Settings, photos: list[Path]) -> None:
    """The image tower exports to ONNX (about a minute, 350 MB) and gives torch's vectors."""
    on_torch = embeddings.embed_images(photos, backend="torch", progress=False, use_cache=False)
    on_onnx = embeddings.embed_images(photos, backend="onnx", progress=False, use_cache=False)
    assert _cosines(on_torch.embeddings, on_onnx.embeddings).min() >= 0.9999


# ---- words: the text tower ----------------------------------------------------------------------------------

def test_text_vectors_are_unit_vectors_of_clips_text_tower(clip_settings: config.Settings) -> None:
    one = embeddings.embed_text("a photo of a dog")
    several = embeddings.embed_text(["a photo of a dog", "a bowl of soup"])
    assert one.shape == (512,) and several.shape == (2, 512) and one.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(several, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(several[0], one, atol=1e-6)
    assert float(several[0] @ several[1]) < 0.999  # different words, different vectors
    import open_clip

    tokens = open_clip.get_tokenizer("ViT-B-32")(["a photo of a dog"])
    with torch.inference_mode():
        expected = _clip_model().encode_text(tokens, normalize=True).numpy()[0]
    np.testing.assert_allclose(one, expected, atol=1e-5)


@pytest.mark.parametrize("query", ["", "   ", [], ["a dog", ""], [None]])
def test_an_empty_query_is_refused(clip_settings: config.Settings, query) -> None:
    with pytest.raises(ValueError, match="give words that describe the photo"):
        embeddings.embed_text(query)


def test_a_long_query_is_cut_at_77_tokens_and_says_so(clip_settings: config.Settings) -> None:
    """"word " is one token: 75 of them plus the start and end marks fill CLIP's 77 exactly."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for a query that fits
        fits = embeddings.embed_text("word " * 75)
    with pytest.warns(embeddings.QueryTruncatedWarning, match="is 78 tokens long, but clip-random reads only 77"):
        longer = embeddings.embed_text("word " * 75 + "dog")
    with pytest.warns(embeddings.QueryTruncatedWarning, match="is 202 tokens long, but clip-random reads only 77"):
        much_longer = embeddings.embed_text(["a cat", "word " * 200])
    np.testing.assert_allclose(longer, fits, atol=1e-6)  # the words after the limit were left out
    np.testing.assert_allclose(much_longer[1], fits, atol=1e-6)
    assert models.text_context_length() == 77


@pytest.mark.parametrize("model_name", [OFFLINE_MODEL, "resnet50"])
def test_a_model_without_a_text_tower_says_how_to_search_by_words(settings: config.Settings,
                                                                    model_name: str) -> None:
    assert not embeddings.can_embed_text(model_name)
    with pytest.raises(models.NoTextTowerError, match="MODEL_NAME to a CLIP model \\(clip-vit-b-32") as error:
        embeddings.embed_text("a dog on a beach", model_name)
    assert "index the photos again" in str(error.value) and "recreate=True" in str(error.value)
    assert not embeddings.can_embed_text()  # MODEL_NAME is the offline model in the tests


def test_mixing_a_photo_and_words(clip_settings: config.Settings) -> None:
    photo, words = unit_vectors(2, dim=512, seed=1)
    mixed = embeddings.mix_queries(photo, words, text_weight=0.25)
    assert np.linalg.norm(mixed) == pytest.approx(1.0, abs=1e-5)
    assert float(mixed @ photo) > float(mixed @ words)  # a small weight keeps it nearer the photo
    np.testing.assert_allclose(embeddings.mix_queries(photo, words, 0.0), photo, atol=1e-6)
    np.testing.assert_allclose(embeddings.mix_queries(photo, words, 1.0), words, atol=1e-6)
    with pytest.raises(ValueError, match="same CLIP model"):
        embeddings.mix_queries(photo, words[:256])
    with pytest.raises(ValueError, match="between 0"):
        embeddings.mix_queries(photo, words, 1.5)
    with pytest.raises(ValueError, match="cancel out"):
        embeddings.mix_queries(photo, -photo, 0.5)


# ---- words against the collection -------------------------------------------------------------------------------

def _index(client, photos: list[Path]) -> None:
    labels = [f"label_{i}" for i in range(len(photos))]
    assert indexing.index_images(client, "images", photos, labels, progress=False) == len(photos)


def test_a_text_search_returns_ranked_photo_hits(client, photos: list[Path]) -> None:
    """Photos indexed with the image tower, searched with the text tower: one collection, one space."""
    _index(client, photos)
    photo_vectors = embeddings.embed_images(photos, progress=False).embeddings  # from the cache
    query = embeddings.embed_text("a photo of a dog")
    hits = store.search_similar(client, "images", query, top_k=5, model_name=CLIP)
    assert len(hits) == 5 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    exact = photo_vectors @ query  # Milvus's cosine scores are the dot products of the unit vectors
    assert [h.path for h in hits] == [store.path_key(photos[j]) for j in np.argsort(-exact)[:5]]
    np.testing.assert_allclose([h.score for h in hits], np.sort(exact)[::-1][:5], atol=1e-4)
    several = store.search_similar(client, "images", embeddings.embed_text(["a dog", "a cat"]), top_k=3)
    assert [len(row) for row in several] == [3, 3]


def test_a_photo_plus_words_search(client, photos: list[Path]) -> None:
    _index(client, photos)
    photo = embeddings.embed_image(photos[0])
    words = embeddings.embed_text("on a beach")
    photo_only = store.search_similar(client, "images", embeddings.mix_queries(photo, words, 0.0), top_k=3)
    assert photo_only[0].path == store.path_key(photos[0]) and photo_only[0].score == pytest.approx(1, abs=1e-3)
    mixed = store.search_similar(client, "images", embeddings.mix_queries(photo, words, 0.5), top_k=3,
                                 model_name=CLIP)
    assert len(mixed) == 3 and mixed[0].score < photo_only[0].score


def test_words_against_a_collection_of_another_model_get_advice(client) -> None:
    other = unit_vectors(3, dim=512)  # the same dimension as CLIP's, but another model's vectors
    store.insert_embeddings(client, "images", ["/a.jpg", "/b.jpg", "/c.jpg"], "x", other, "other-model",
                            progress=False)
    query = embeddings.embed_text("a dog")
    with pytest.raises(store.SchemaMismatchError, match="made by other-model, but the query was embedded with "
                                                        "clip-random") as error:
        store.search_similar(client, "images", query, model_name=CLIP)
    assert "MODEL_NAME=clip-random" in str(error.value) and "recreate=True" in str(error.value)
    assert len(store.search_similar(client, "images", query, model_name="other-model")) == 3


def test_words_against_a_collection_of_another_dimension_get_advice(client) -> None:
    store.insert_embeddings(client, "images", ["/a.jpg"], "x", unit_vectors(1, dim=16), "small-model",
                            progress=False)
    query = embeddings.embed_text("a dog")
    with pytest.raises(store.SchemaMismatchError, match="made by small-model"):
        store.search_similar(client, "images", query, model_name=CLIP)
    with pytest.raises(store.SchemaMismatchError, match="512 dimensions but collection 'images' holds 16-d"):
        store.search_similar(client, "images", query)


def test_an_empty_collection_is_searched_without_complaint(client) -> None:
    store.create_collection(client, "images", 512, "other-model")
    assert store.search_similar(client, "images", embeddings.embed_text("a dog"), model_name=CLIP) == []


# ---- notebook 04's section: CI runs it with the offline model, here it also runs with CLIP -------------------

def _words_cell() -> str:
    notebook = json.loads((config.REPO_ROOT / "notebooks" / "04_search_and_visualisation.ipynb").read_text())
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    (cell,) = [source for source in cells if "vectors.can_embed_text()" in source]
    return cell


def _run_words_cell(client, query_path: Path, capsys: pytest.CaptureFixture) -> tuple[dict, str]:
    """Run the cell as the notebook does; what it defined and what it printed."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    namespace = {"client": client, "collection_name": "images", "settings": config.load_settings(),
                 "query_path": query_path, "Counter": Counter, "vectors": helpers.vectors,
                 "collection": helpers.collection, "pictures": helpers.pictures}
    exec(_words_cell(), namespace)
    plt.close("all")
    return namespace, capsys.readouterr().out


def test_notebook_section_searches_by_words_with_clip(client, photos: list[Path],
                                                       capsys: pytest.CaptureFixture) -> None:
    _index(client, photos)
    defined, printed = _run_words_cell(client, photos[0], capsys)
    assert len(defined["word_hits"]) == len(photos) and len(defined["fig"].axes) == 10
    assert printed.startswith("the query photo + 'in the snow': [('label_")


def test_notebook_section_says_how_to_turn_it_on_without_clip(settings: config.Settings,
                                                             capsys: pytest.CaptureFixture) -> None:
    defined, printed = _run_words_cell(None, Path("unused.jpg"), capsys)
    assert printed.startswith(f"{OFFLINE_MODEL} reads no words: to search by words, set "
                              "MODEL_NAME=clip-vit-b-32") and printed.count("\n") == 1
    assert "word_hits" not in defined
