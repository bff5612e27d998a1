"""helpers.comic.openai_models: the dated tables and the cost estimates built on them."""

from __future__ import annotations

from datetime import date

import pytest

from helpers.comic import openai_models


@pytest.mark.parametrize(("size", "quality", "tokens"), [
    ("1024x1024", "low", 196), ("1024x1024", "medium", 1756), ("1024x1024", "high", 7024),
    ("1536x1024", "high", 5488), ("1024x1536", "medium", 1372),
])
def test_output_tokens_follow_the_size_and_quality_rule(size: str, quality: str, tokens: int) -> None:
    assert openai_models.estimate_output_tokens(size, quality) == pytest.approx(tokens, abs=1)


def test_cost_estimates_and_usage_prices() -> None:
    medium = openai_models.estimate_cost("gpt-image-2", "1024x1024", "medium")
    assert medium == pytest.approx(1756 * 30 / 1e6, rel=0.01)
    high = openai_models.estimate_cost("gpt-image-2-2026-04-21", "1024x1024", "high")
    assert high > medium  # dated snapshots share their model's prices
    assert openai_models.estimate_cost("some-future-model", "1024x1024", "medium") is None
    usage = {"input_tokens": 300, "output_tokens": 1000,
             "input_tokens_details": {"text_tokens": 100, "image_tokens": 200}}
    assert openai_models.cost_from_usage("gpt-image-2", usage) == pytest.approx((100 * 5 + 200 * 8 + 1000 * 30) / 1e6)
    assert openai_models.cost_from_usage("unknown", usage) is None
    assert openai_models.cost_from_usage("gpt-image-2", None) is None


def test_input_images_add_to_the_estimate() -> None:
    alone = openai_models.estimate_cost("gpt-image-2", "1024x1024", "low")
    with_photos = openai_models.estimate_cost("gpt-image-2", "1024x1024", "low", [(512, 341)] * 8)
    assert with_photos - alone == pytest.approx(8 * (85 + 170) * 8 / 1e6)


def test_the_tables_say_where_they_come_from_and_when() -> None:
    assert date.fromisoformat(openai_models.CHECKED_ON) <= date.today()
    assert date.fromisoformat(openai_models.IMAGE_TOOL_CHECKED_ON) <= date.today()
    assert openai_models.IMAGE_TOOL_SOURCE.startswith("https://")
    assert openai_models.SHUTDOWNS_SOURCE.startswith("https://") and openai_models.PRICES_SOURCE.startswith("https://")
    assert all(date.fromisoformat(day) for day in openai_models.KNOWN_SHUTDOWNS.values())
