"""The comic: OpenAI image generation from the photos you found, one request or a conversation.

Notebook 05 introduces it.
"""

from helpers._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "openai_models": ["KNOWN_SHUTDOWNS"],
    "openai_api": [
        "FAILURE_HELP", "RequestError", "check_chat_model", "check_image_model",
        "make_client",
    ],
    "comics": [
        "PROMPT_TEMPLATES", "build_prompt", "build_refinement_prompt", "choose_references",
        "describe_request", "generate_comic", "load_result", "load_results", "plan_comic",
        "plan_refinement", "request_image",
    ],
    "comic_chat": [
        "describe_apis", "describe_turn", "follow_conversation", "plan_conversation",
        "plan_follow_up", "request_turn", "send_turn",
    ],
})
