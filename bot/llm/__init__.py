"""An optional abstractive summary written by an LLM behind an OpenAI-compatible chat-completions endpoint."""

from __future__ import annotations

from bot.config import LlmSettings
from bot.llm.chat import ChatClient, ChatError
from bot.llm.summary import LlmSummary

__all__ = ["ChatClient", "ChatError", "LlmSummary", "llm_summary"]


def llm_summary(settings: LlmSettings) -> LlmSummary | None:
    """The summary step ``settings`` asks for, or None when no endpoint is configured (the default)."""
    if not settings.base_url:
        return None
    return LlmSummary(ChatClient(settings), settings)
