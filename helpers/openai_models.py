"""Facts about OpenAI's image models that change on OpenAI's schedule: prices, shutdown dates, cost estimates.

Everything here goes stale: OpenAI changes prices and retires models every few months. Each table says
where it comes from and when it was last checked; update both together. The lesson (`comics`) and the
client policy (`openai_api`) only read these tables, so an update never touches them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

CHECKED_ON = "2026-11-25"  # the day both tables below were last compared with their sources
SHUTDOWNS_SOURCE = "https://platform.openai.com/docs/deprecations"
PRICES_SOURCE = "https://openai.com/api/pricing"

IMAGE_MODEL_PREFIXES = ("gpt-image", "chatgpt-image", "dall-e")  # model ids that make images

# Announced shutdowns (YYYY-MM-DD), used when the account's model list carries no `shutdown_date`.
KNOWN_SHUTDOWNS = {
    "dall-e-2": "2026-05-12",
    "dall-e-3": "2026-05-12",
    "gpt-image-1": "2026-10-23",
    "gpt-image-1.5": "2026-12-01",
    "gpt-image-1.5-2025-12-16": "2026-12-01",
    "gpt-image-1-mini": "2026-12-01",
    "chatgpt-image-latest": "2026-12-01",
}
# USD per 1M tokens: (text input, image input, image output).
PRICES_PER_MILLION = {
    "gpt-image-2": (5.00, 8.00, 30.00),
    "gpt-image-1-mini": (2.00, 2.50, 8.00),
}


def prices(model: str) -> tuple[float, float, float] | None:
    """Prices of a model or of the model its dated snapshot belongs to (gpt-image-2-2026-04-21 -> gpt-image-2)."""
    return PRICES_PER_MILLION.get(re.sub(r"-\d{4}-\d{2}-\d{2}$", "", model))


def estimate_output_tokens(size: str, quality: str) -> int:
    """Image tokens of one gpt-image-2 output by OpenAI's size-and-quality rule; 'auto' counts as high (nb 05)."""
    width, height = (1536, 1024) if size == "auto" else map(int, size.split("x"))
    factor = {"low": 16, "medium": 48, "high": 96}.get(quality, 96)
    long_edge, short_edge = max(width, height), min(width, height)
    short_factor = (2 * factor * short_edge + long_edge) // (2 * long_edge)
    return (factor * short_factor * (2_000_000 + width * height) + 3_999_999) // 4_000_000


def estimate_cost(model: str, size: str, quality: str, image_sizes: Sequence[tuple[int, int]] = (),
                  prompt: str = "") -> float | None:
    """Rough USD price of one image call before it is made; None when the model's prices are unknown (nb 05).

    Args:
        image_sizes: (width, height) of each input image as uploaded.
    """
    model_prices = prices(model)
    if model_prices is None or not model.startswith("gpt-image-2"):
        return None
    text_tokens = len(prompt) / 4  # about 4 characters a token
    image_tokens = sum(85 + 170 * math.ceil(w / 512) * math.ceil(h / 512) for w, h in image_sizes)
    output_tokens = estimate_output_tokens(size, quality)
    return (text_tokens * model_prices[0] + image_tokens * model_prices[1]
            + output_tokens * model_prices[2]) / 1e6


def cost_from_usage(model: str, usage: dict[str, Any] | None) -> float | None:
    """USD price of a finished call from the token usage the API reported; None if unknown (notebook 05)."""
    model_prices = prices(model)
    if model_prices is None or not usage:
        return None
    details = usage.get("input_tokens_details") or {}
    text_tokens = details.get("text_tokens", usage.get("input_tokens", 0))
    image_tokens = details.get("image_tokens", 0)
    return (text_tokens * model_prices[0] + image_tokens * model_prices[1]
            + usage.get("output_tokens", 0) * model_prices[2]) / 1e6
