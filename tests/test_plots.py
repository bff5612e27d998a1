"""Tests for helpers.pictures.plots: grids, the search gallery, the embedding map and the explorer's logic."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_hex
from PIL import Image
from support import ranked_hits

from helpers.pictures import plots

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


def test_show_images_keeps_its_signature(solid_images):
    fig = plots.show_images(solid_images[:7], titles=[str(i) for i in range(7)], ncols=3, size=1.0)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 9 and len(shown) == 7
    assert shown[6].get_title() == "6"


def test_save_figure_writes_figures_and_pictures(tmp_settings, solid_images):
    fig_path = plots.save_figure(plots.show_images(solid_images[:2]), "grid")
    pil_path = plots.save_figure(plots.image_grid(solid_images[:2]), "blog")
    assert fig_path == tmp_settings.output_dir / "figures" / "grid.png"
    assert Image.open(fig_path).format == Image.open(pil_path).format == "PNG"


def test_image_grid_squeezed_is_the_blogs_picture(solid_images):
    grid = plots.image_grid(solid_images, squeeze=True, background="black")
    assert grid.size == (750, 300)
    for idx in (0, 4, 5, 9):
        x, y = idx % 5, idx // 5
        expected = np.asarray(Image.open(solid_images[idx]).convert("RGB"))[15, 20]
        assert np.abs(np.asarray(grid)[y * 150 + 75, x * 150 + 75].astype(int) - expected).max() <= 3


def test_image_grid_pads_a_short_last_row(solid_images):
    grid = plots.image_grid(solid_images[:7], cell=20, ncols=5, squeeze=True, background="black")
    assert grid.size == (100, 40)
    assert np.asarray(grid)[30, 90].tolist() == [0, 0, 0]  # the empty 10th cell stays black


def _hit_axes(fig):
    return [ax for ax in fig.axes if ax.get_title().startswith("#")]


def test_show_results_frames_hits_by_class(solid_images):
    hits = ranked_hits(solid_images[1:5], ["dog", "cat", "dog", "cow"])
    fig = plots.show_results(solid_images[0], hits, query_label="dog")
    axes = _hit_axes(fig)
    assert [ax.get_title().splitlines()[0] for ax in axes] == ["#1 dog", "#2 cat", "#3 dog", "#4 cow"]
    assert axes[0].get_title().splitlines()[1] == "cos 0.900"
    frames = [to_hex(ax.spines["top"].get_edgecolor()) for ax in axes]
    assert frames == [plots.SAME_CLASS_COLOR, plots.OTHER_CLASS_COLOR, plots.SAME_CLASS_COLOR,
                      plots.OTHER_CLASS_COLOR]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["query: dog", "same class as the query (2 of 4)", "another class (2)"]
    assert "query" in [ax.get_title().splitlines()[0] for ax in fig.axes]


def test_show_results_without_a_query_label_is_neutral(solid_images):
    fig = plots.show_results(solid_images[0], ranked_hits(solid_images[1:3], ["dog", "cat"]), query_label=None)
    assert {to_hex(ax.spines["left"].get_edgecolor()) for ax in _hit_axes(fig)} == {plots.NEUTRAL_COLOR}
    assert not fig.legends


def test_show_results_with_no_hits_says_so(solid_images):
    fig = plots.show_results(solid_images[0], [], query_label="dog")
    assert any("no hits" in t.get_text() for t in fig.texts)


def test_show_results_lays_out_k_hits_in_rows(solid_images):
    hits = ranked_hits(solid_images * 2, ["dog"] * 20)[:12]
    fig = plots.show_results(solid_images[0], hits, query_label="dog", ncols=5)
    rows = {round(ax.get_position().y0, 3) for ax in _hit_axes(fig)}
    assert len(_hit_axes(fig)) == 12 and len(rows) == 3


def test_show_result_rows_one_row_per_query(solid_images):
    rows = [(solid_images[0], ranked_hits(solid_images[1:4], ["dog", "dog", "cat"]), "dog"),
            (solid_images[5], ranked_hits(solid_images[6:8], ["cow", "cow"]), "emu")]
    fig = plots.show_result_rows(rows)
    assert len(fig.axes) == 2 * 4
    assert len(_hit_axes(fig)) == 5
    assert to_hex(fig.axes[4 + 1].spines["top"].get_edgecolor()) == plots.OTHER_CLASS_COLOR


def test_show_metrics_at_k_draws_one_line_per_metric():
    by_k = {k: {f"precision@{k}": 0.5, f"recall@{k}": 0.1 * k, f"hit_rate@{k}": 0.9, f"mAP@{k}": 0.7}
            for k in (1, 5, 10)}
    ax = plots.show_metrics_at_k(by_k).axes[0]
    assert [line.get_label() for line in ax.lines] == ["precision", "recall", "hit_rate", "mAP"]
    assert ax.lines[1].get_ydata().tolist() == pytest.approx([0.1, 0.5, 1.0])


def test_project_2d_is_deterministic_and_keeps_clusters_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 10
    embeddings = np.concatenate([c + rng.normal(size=(15, 16)) for c in centres])
    first, second = plots.project_2d(embeddings, seed=1), plots.project_2d(embeddings, seed=1)
    assert first.shape == (45, 2)
    np.testing.assert_allclose(first, second)
    groups = first.reshape(3, 15, 2)
    within = np.mean([np.linalg.norm(g - g.mean(0), axis=1).mean() for g in groups])
    between = np.linalg.norm(groups[0].mean(0) - groups[1].mean(0))
    assert between > 2 * within


def test_project_2d_refuses_a_bad_shape():
    with pytest.raises(ValueError, match=r"\(n, d\) array"):
        plots.project_2d(np.zeros(5))


def test_show_embedding_map_colours_highlights_and_adds_one_thumbnail_each(solid_images):
    from matplotlib.offsetbox import AnnotationBbox

    points = np.random.default_rng(0).normal(size=(10, 2))
    labels = ["dog"] * 3 + ["cat"] * 3 + ["cow"] * 4
    fig = plots.show_embedding_map(points, labels, highlight=["dog", "cat"], image_paths=solid_images,
                                   query_mask=[True] + [False] * 9)
    ax = fig.axes[0]
    assert sum(isinstance(a, AnnotationBbox) for a in ax.artists) == 2
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["other classes", "dog", "cat", "test query"]


@pytest.mark.parametrize(("n_inputs", "input_title"), [(3, "reference photos (input)"), (1, "previous turn (input)"),
                                                     (0, None)])
def test_show_comic_puts_the_result_beside_its_inputs(tmp_path, make_image, n_inputs, input_title):
    inputs = [make_image(f"ref{i}.jpg", seed=i) for i in range(n_inputs)]
    image_path = tmp_path / "comic.png"
    Image.new("RGB", (64, 64), "orange").save(image_path)
    fig = plots.show_comic(image_path, inputs, "generated by some-image-model in 42 s", input_title or "")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[-1] == "generated by some-image-model in 42 s"
    assert titles[:-1] == ([input_title] if n_inputs else [])
    assert fig.axes[-1].images[0].get_array().shape[:2] == (64, 64)


def test_side_by_side_puts_each_path_in_its_column(solid_images):
    columns = {"Images API": solid_images[:2], "Conversation": solid_images[2:5]}
    fig = plots.show_side_by_side(columns, {"Conversation": ["turn 1", "turn 2", "turn 3"]}, size=1.0)
    grid = np.array(fig.axes).reshape(3, 2)
    assert [ax.get_title() for ax in grid[0]] == ["Images API", "Conversation"]
    assert [bool(ax.images) for ax in grid[:, 0]] == [True, True, False]  # a shorter column leaves blanks
    assert [ax.texts[0].get_text() for ax in grid[:, 1]] == ["turn 1", "turn 2", "turn 3"]
    expected = np.asarray(Image.open(solid_images[3]).convert("RGB"))
    assert np.array_equal(grid[1, 1].images[0].get_array(), expected)
