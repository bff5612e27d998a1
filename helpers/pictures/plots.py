"""Pictures: image grids, search galleries, metric charts, embedding maps and comics (introduced in notebook 01).

Every function takes plain data (paths, labels, scores, arrays) and returns its figure (or picture),
showing nothing by itself; `save_figure` writes one under OUTPUT_DIR/figures so that a teacher can put it
on a slide. Nothing here knows Milvus or OpenAI. Nothing is drawn at import time.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image, ImageOps

from helpers import config
from helpers.photos import data
from helpers.photos.hits import Hit

SAME_CLASS_COLOR = "#1a9850"  # green frame: a hit of the query's class
OTHER_CLASS_COLOR = "#d73027"  # red dashed frame: a hit of another class
QUERY_COLOR = "#2c7bb6"  # blue frame: the query
NEUTRAL_COLOR = "#7f7f7f"  # grey frame: the query's class is unknown (your own photo)


def show_images(image_paths: Sequence[Path], titles: Sequence[str] | None = None, ncols: int = 5,
                size: float = 2.2) -> Figure:
    """Draw images in a grid with optional titles and return the figure (notebook 01)."""
    nrows = max(1, -(-len(image_paths) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, path) in enumerate(zip(axes.flat, image_paths, strict=False)):
        ax.imshow(data.load_image(path))
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure | Image.Image, name: str, output_dir: Path | None = None) -> Path:
    """Save a figure (or a PIL picture) as PNG under OUTPUT_DIR/figures, for slides; returns its path (notebook 01)."""
    output_dir = Path(output_dir or config.load_settings().output_dir) / "figures"
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / f"{name}.png"
    if isinstance(fig, Image.Image):
        fig.save(path)
    else:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    return path


# --- Grids of pictures, then the gallery ------------------------------------------------------------------

def image_grid(images: Sequence[Path | str | Image.Image], ncols: int = 5, cell: int = 150,
               squeeze: bool = False, background: str = "white") -> Image.Image:
    """Paste images into a grid of cell x cell squares, row by row, and return the picture (notebooks 04, 05).

    squeeze=True stretches each image to fill its square, as the blog's result picture does; otherwise each
    keeps its shape and is centred in its square.
    """
    nrows = max(1, math.ceil(len(images) / ncols))
    grid = Image.new("RGB", (cell * ncols, cell * nrows), background)
    for i, item in enumerate(images):
        image = item if isinstance(item, Image.Image) else data.load_image(item)
        image = image.resize((cell, cell)) if squeeze else ImageOps.contain(image, (cell - 8, cell - 8))
        x = (i % ncols) * cell + (cell - image.width) // 2
        y = (i // ncols) * cell + (cell - image.height) // 2
        grid.paste(image, (x, y))
    return grid


def _frame(ax: plt.Axes, color: str, linestyle: str = "-") -> None:
    """Hide the ticks and draw a thick coloured frame around an image axis."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set(color=color, linewidth=4, linestyle=linestyle)


def _short(text: str, width: int = 18) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _draw_hit(ax: plt.Axes, rank: int, hit: Hit, query_label: str | None) -> None:
    """One thumbnail: frame by class match, title with rank, label and cosine score."""
    ax.imshow(data.load_image(hit.path))
    if query_label is None:
        color, linestyle = NEUTRAL_COLOR, "-"
    else:
        same = hit.label == query_label
        color, linestyle = (SAME_CLASS_COLOR, "-") if same else (OTHER_CLASS_COLOR, "--")
    _frame(ax, color, linestyle)
    ax.set_title(f"#{rank} {_short(hit.label)}\ncos {hit.score:.3f}", fontsize=8,
                 color=color if query_label is not None else "black")


def _legend_handles(hits: Sequence[Hit], query_label: str) -> list[Patch]:
    same = sum(hit.label == query_label for hit in hits)
    return [Patch(facecolor="white", edgecolor=QUERY_COLOR, linewidth=3, label=f"query: {query_label}"),
            Patch(facecolor="white", edgecolor=SAME_CLASS_COLOR, linewidth=3,
                  label=f"same class as the query ({same} of {len(hits)})"),
            Patch(facecolor="white", edgecolor=OTHER_CLASS_COLOR, linewidth=3, linestyle="--",
                  label=f"another class ({len(hits) - same})")]


def show_results(query_path: Path | str, hits: Sequence[Hit], query_label: str | None = None,
                 ncols: int = 5, size: float = 2.0, title: str | None = None) -> Figure:
    """Gallery: the query, then each hit with its label and cosine score, framed by class match (notebook 04).

    Args:
        query_label: the query's class; hits of that class get a green frame, the others a red dashed one.
            None (your own photo) draws neutral grey frames and no legend.
    """
    nrows = max(1, -(-len(hits) // ncols))
    height = nrows * size * 1.2 + 1.2  # inches: the rows, then room for the title and the legend
    fig = plt.figure(figsize=((ncols + 1.4) * size, height))
    grid = fig.add_gridspec(nrows, ncols + 1, width_ratios=[1.4] + [1] * ncols, wspace=0.08, hspace=0.4,
                            top=1 - 0.75 / height, bottom=0.45 / height)
    query_ax = fig.add_subplot(grid[: min(nrows, 2), 0])
    query_ax.imshow(data.load_image(query_path))
    _frame(query_ax, QUERY_COLOR)
    query_ax.set_title("query" + (f"\n{_short(query_label)}" if query_label else ""), fontsize=9, color=QUERY_COLOR)
    for rank, hit in enumerate(hits, start=1):
        _draw_hit(fig.add_subplot(grid[(rank - 1) // ncols, 1 + (rank - 1) % ncols]), rank, hit, query_label)
    if not hits:
        fig.text(0.6, 0.5, "no hits (is the filter too strict?)", ha="center", fontsize=11)
    if query_label is not None and hits:
        fig.legend(handles=_legend_handles(hits, query_label), loc="lower center", ncol=3, fontsize=8,
                   frameon=False, bbox_to_anchor=(0.5, 0))
    fig.suptitle(title or f"Top {len(hits)} for {Path(query_path).name}", fontsize=11, y=1 - 0.1 / height,
                 va="top")
    return fig


def show_result_rows(rows: Sequence[tuple[Path | str, Sequence[Hit], str | None]], size: float = 1.5,
                     row_titles: Sequence[str] | None = None) -> Figure:
    """Several queries, one row each: the query then its hits, framed by class match (notebook 04)."""
    ncols = 1 + max((len(hits) for _, hits, _ in rows), default=1)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(ncols * size, len(rows) * size * 1.3), squeeze=False)
    for i, (query_path, hits, query_label) in enumerate(rows):
        for ax in axes[i]:
            ax.axis("off")
        axes[i, 0].axis("on")
        axes[i, 0].imshow(data.load_image(query_path))
        _frame(axes[i, 0], QUERY_COLOR)
        axes[i, 0].set_title(row_titles[i] if row_titles else f"query\n{_short(query_label or '')}",
                             fontsize=8, color=QUERY_COLOR)
        for rank, hit in enumerate(hits, start=1):
            axes[i, rank].axis("on")
            _draw_hit(axes[i, rank], rank, hit, query_label)
    fig.tight_layout()
    return fig


def show_metrics_at_k(metrics_by_k: dict[int, dict[str, float]]) -> Figure:
    """Line chart of each metric against k, from `metrics.metrics_by_k` (notebook 04)."""
    ks = sorted(metrics_by_k)
    names = [name.split("@")[0] for name in metrics_by_k[ks[0]]]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name in names:
        ax.plot(ks, [metrics_by_k[k][f"{name}@{k}"] for k in ks], marker="o", label=name)
    ax.set(xlabel="k (hits looked at)", ylabel="mean over the test queries", ylim=(0, 1.02), xticks=ks)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


# --- The embedding map -----------------------------------------------------------------------------------------

def project_2d(embeddings: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """t-SNE of (n, d) embeddings to (n, 2) points, after PCA to at most 50 dimensions (notebook 04)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or len(embeddings) < 3:
        raise ValueError(f"Need an (n, d) array with n >= 3 to draw a map, got shape {embeddings.shape}.")
    n_components = min(50, *embeddings.shape)
    reduced = PCA(n_components=n_components, random_state=seed).fit_transform(embeddings)
    method = "exact" if len(embeddings) < 500 else "barnes_hut"  # Barnes-Hut only pays off on many points
    tsne = TSNE(n_components=2, perplexity=min(perplexity, (len(embeddings) - 1) / 3), init="pca",
                method=method, random_state=seed)
    return tsne.fit_transform(reduced)


def _centre_index(points: np.ndarray, mask: np.ndarray) -> int:
    """Index of the point of `mask` nearest its group's centre."""
    indices = np.flatnonzero(mask)
    centre = points[indices].mean(axis=0)
    return int(indices[np.argmin(((points[indices] - centre) ** 2).sum(axis=1))])


MAP_COLORS = [plt.get_cmap("tab10")(i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)]  # tab10 without its grey


def show_embedding_map(points: np.ndarray, labels: Sequence[str], highlight: Sequence[str] = (),
                       image_paths: Sequence[Path | str] | None = None, query_mask: Sequence[bool] | None = None,
                       thumb_px: int = 56, size: float = 9.0) -> Figure:
    """2-D map: every image a grey dot, `highlight` classes coloured, one thumbnail per highlighted class (notebook 04).

    Args:
        query_mask: True for the test queries, drawn as stars.
    """
    points, labels = np.asarray(points, dtype=float), np.asarray(labels)
    queries = np.zeros(len(points), bool) if query_mask is None else np.asarray(query_mask, bool)
    fig, ax = plt.subplots(figsize=(size, size * 0.8))
    ax.scatter(*points[~np.isin(labels, highlight)].T, s=7, c="#c8c8c8", label="other classes")
    shown = [label for label in highlight if (labels == label).any()]
    for i, label in enumerate(shown):
        mask, color = labels == label, MAP_COLORS[i % len(MAP_COLORS)]
        ax.scatter(*points[mask & ~queries].T, s=30, color=color, edgecolor="black", linewidth=0.4, label=label)
        ax.scatter(*points[mask & queries].T, s=180, color=color, marker="*", edgecolor="black", linewidth=0.6)
    if image_paths is not None and shown:
        centres = [_centre_index(points, labels == label) for label in shown]
        for i, (idx, spot) in enumerate(zip(centres, _edge_spots(points, centres), strict=True)):
            _add_thumbnail(ax, points[idx], spot, image_paths[idx], MAP_COLORS[i % len(MAP_COLORS)], thumb_px)
    if queries.any():
        ax.scatter([], [], s=120, marker="*", color="white", edgecolor="black", label="test query")
    ax.margins(x=0.32, y=0.05)  # room for the columns of thumbnails left and right
    ax.set(xticks=[], yticks=[], title="t-SNE map of the image embeddings (nearby = similar vectors)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _edge_spots(points: np.ndarray, indices: Sequence[int]) -> np.ndarray:
    """Thumbnail places in a column left and right of the map, sorted by height so that their lines do not cross."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    chosen = points[list(indices)]
    left = np.argsort(np.argsort(chosen[:, 0])) < len(chosen) / 2
    spots = np.empty((len(chosen), 2))
    for side, x in ((left, lo[0] - 0.2 * (hi[0] - lo[0])), (~left, hi[0] + 0.2 * (hi[0] - lo[0]))):
        rows = np.flatnonzero(side)
        rows = rows[np.argsort(-chosen[rows, 1])]  # the highest point gets the top place
        ys = np.linspace(hi[1], lo[1], len(rows) + 2)[1:-1]
        spots[rows] = np.column_stack([np.full(len(rows), x), ys])
    return spots


def _add_thumbnail(ax: plt.Axes, point: np.ndarray, spot: np.ndarray, image_path: Path | str, color: Any,
                   thumb_px: int) -> None:
    """Draw one image as a thumbnail at `spot`, framed in `color`, with a line to its `point`."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    thumb = data.load_image(image_path)
    thumb.thumbnail((thumb_px, thumb_px))
    ax.add_artist(AnnotationBbox(OffsetImage(np.asarray(thumb)), point, xybox=spot, pad=0.15,
                                 bboxprops={"edgecolor": color, "linewidth": 2},
                                 arrowprops={"arrowstyle": "-", "color": color, "linewidth": 1.2}))


def show_comic(image_path: Path | str, input_paths: Sequence[Path | str] = (), caption: str = "",
               input_title: str = "input", size: float = 6.0) -> Figure:
    """A generated image beside the pictures it was made from, captioned (notebook 05)."""
    fig, axes = plt.subplots(1, 2 if input_paths else 1, figsize=(size * (2 if input_paths else 1), size),
                             squeeze=False)
    if input_paths:
        axes[0, 0].imshow(image_grid(input_paths, ncols=min(4, len(input_paths)), cell=192))
        axes[0, 0].set_title(input_title)
    with Image.open(image_path) as image:
        axes[0, -1].imshow(image.convert("RGB"))
    axes[0, -1].set_title(caption)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def show_side_by_side(columns: Mapping[str, Sequence[Path | str]], captions: Mapping[str, Sequence[str]] | None = None,
                      size: float = 4.0) -> Figure:
    """Two or more sequences of images side by side, one titled column each, row by row (notebook 05).

    Used to compare the comics of the Images API with those of a conversation: `columns` maps a column title
    to its image paths (turn by turn), `captions` the same titles to one caption per image.
    """
    nrows, ncols = max((len(paths) for paths in columns.values()), default=0), len(columns)
    fig, axes = plt.subplots(max(nrows, 1), max(ncols, 1), figsize=(size * max(ncols, 1), size * max(nrows, 1)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for col, (title, paths) in enumerate(columns.items()):
        axes[0, col].set_title(title, fontsize=11, fontweight="bold", pad=18)
        for row, path in enumerate(paths):
            with Image.open(path) as image:
                axes[row, col].imshow(image.convert("RGB"))
            caption = (captions or {}).get(title, [])
            if row < len(caption):
                axes[row, col].text(0.5, -0.02, caption[row], transform=axes[row, col].transAxes, ha="center",
                                    va="top", fontsize=8, wrap=True)
    fig.tight_layout()
    return fig


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """The figure as PNG bytes, for widgets and static fallbacks (notebook 04)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()
