"""Draw docs/comic_pipeline.png, the README's diagram of notebook 05: `python tools/draw_comic_pipeline.py`.

A diagram of the steps, drawn with boxes and arrows: it shows no photo and no model output.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "comic_pipeline.png"
# (x centre, y centre, title, detail, colour): left to right as notebook 05 runs
BOXES = {
    "photos": (1.2, 1.0, "your photos", "their vectors stored\nin Milvus (03)", "#dbe9f6"),
    "search": (3.65, 1.0, "search by example", "one photo of your dog\nas the query (04)", "#dbe9f6"),
    "refs": (6.1, 1.0, "picked references", "the best hits, shrunk;\nat most 16", "#e3f1dc"),
    "prompt": (8.55, 2.35, "prompt", "a template\nor your words", "#fdf1d8"),
    "model": (8.55, 1.0, "OpenAI image model", "IMAGE_MODEL\n(default gpt-image-2)", "#f6e0e0"),
    "panel": (11.0, 1.0, "comic panel", "PNG + JSON sidecar\nin OUTPUT_DIR/comics", "#eeeeee"),
}
ARROWS = [("photos", "search"), ("search", "refs"), ("refs", "model"), ("prompt", "model"), ("model", "panel")]
WIDTH, HEIGHT = 2.2, 0.95


def draw() -> plt.Figure:
    """The pipeline as boxes and arrows."""
    fig, ax = plt.subplots(figsize=(12, 3.2), dpi=100)
    for x, y, title, detail, colour in BOXES.values():
        ax.add_patch(FancyBboxPatch((x - WIDTH / 2, y - HEIGHT / 2), WIDTH, HEIGHT,
                                    boxstyle="round,pad=0.04", facecolor=colour, edgecolor="#555555"))
        ax.text(x, y + 0.22, title, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(x, y - 0.14, detail, ha="center", va="center", fontsize=8.5, color="#333333")
    for start, end in ARROWS:
        (x0, y0), (x1, y1) = BOXES[start][:2], BOXES[end][:2]
        if y0 == y1:
            begin, finish = (x0 + WIDTH / 2 + 0.04, y0), (x1 - WIDTH / 2 - 0.04, y1)
        else:
            begin, finish = (x0, y0 - HEIGHT / 2 - 0.04), (x1, y1 + HEIGHT / 2 + 0.04)
        ax.add_patch(FancyArrowPatch(begin, finish, arrowstyle="-|>", mutation_scale=14, color="#444444"))
    ax.text(0.1, 2.75, "Notebook 05, step by step (a diagram, not an output)", fontsize=11, va="center")
    ax.set_xlim(0, 12.2)
    ax.set_ylim(0.35, 2.95)
    ax.axis("off")
    return fig


if __name__ == "__main__":
    figure = draw()
    figure.savefig(OUT, bbox_inches="tight", pad_inches=0.05)
    print(f"wrote {OUT.relative_to(OUT.parent.parent)} ({OUT.stat().st_size // 1024} KB)")
