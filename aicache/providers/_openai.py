"""OpenAI (``openai.AsyncOpenAI``, ``AsyncAzureOpenAI``): chat completions, responses,
embeddings. Azure and OpenAI never share entries: the API host is part of every key."""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

import openai
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

from ._base import Tokens, tokens
from ._stainless import Events, StainlessAdapter, register

__all__ = ["OpenAIAdapter"]

register(ChatCompletion, Response, CreateEmbeddingResponse)

#: Finish reasons of a choice that was cut off or withheld.
_CUT = frozenset({"length", "content_filter"})
#: Events that end a Responses stream; the answer is in their ``response``.
_RESPONSE_END = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _said_something(choice: Any) -> bool:
    m = choice.message
    return bool(m.content or m.tool_calls or m.function_call or m.audio or m.refusal)


class OpenAIAdapter(StainlessAdapter):
    provider: ClassVar[str] = "openai"
    sdk: ClassVar[ModuleType] = openai
    client_class: ClassVar[str] = "AsyncOpenAI"
    cached: ClassVar[frozenset[str]] = frozenset(
        {"chat.completions.create", "responses.create", "embeddings.create"}
        | {"chat.completions.parse", "responses.parse"}
    )
    managers: ClassVar[frozenset[str]] = frozenset({"chat.completions.stream", "responses.stream"})
    helpers: ClassVar[dict[str, type[Any]]] = {
        "chat.completions.parse": ChatCompletion,
        "chat.completions.stream": ChatCompletion,
        "responses.parse": Response,
        "responses.stream": Response,
    }
    bodies: ClassVar[dict[str, type[Any]]] = {
        "chat.completions.create": ChatCompletion,
        "responses.create": Response,
    }

    def ended(self, path: str, events: Events) -> bool:
        if path.startswith("responses."):
            return any(name in _RESPONSE_END for name, _ in events)
        finished = any(
            isinstance(data, dict) and any(c.get("finish_reason") for c in data.get("choices", []))
            for _, data in events
        )
        return finished and any(data == "[DONE]" for _, data in events)

    def accumulate(self, path: str, events: Events) -> Any:
        if path.startswith("responses."):
            for name, data in reversed(events):
                if name in _RESPONSE_END:
                    return Response.model_validate(data["response"])
            raise ValueError("the stream has no final response")
        state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
        for _, data in events:
            if isinstance(data, dict):
                state.handle_chunk(ChatCompletionChunk.model_validate(data))
        return state.get_final_completion()

    def usage(self, response: Any) -> tuple[str, Tokens] | None:
        u = getattr(response, "usage", None)
        if u is None:
            return None
        model = str(getattr(response, "model", "") or "")
        if isinstance(response, CreateEmbeddingResponse):
            return model, tokens(input=u.prompt_tokens)
        if isinstance(response, Response):
            prompt, output = u.input_tokens, u.output_tokens
            read_from, out_details = u.input_tokens_details, u.output_tokens_details
        else:
            prompt, output = u.prompt_tokens, u.completion_tokens
            read_from, out_details = u.prompt_tokens_details, u.completion_tokens_details
        cached = getattr(read_from, "cached_tokens", 0) or 0
        written = getattr(read_from, "cache_write_tokens", 0) or 0
        return model, tokens(
            input=prompt - cached - written,
            cached_input=cached,
            cache_write=written,
            output=output,
            reasoning=getattr(out_details, "reasoning_tokens", 0) or 0,
        )

    def complete(self, response: Any) -> bool:
        if isinstance(response, ChatCompletion):
            choices = response.choices
            return (
                bool(choices)
                and all(c.finish_reason not in _CUT for c in choices)
                and any(_said_something(c) for c in choices)
            )
        if isinstance(response, Response):
            return (
                response.status in (None, "completed")
                and bool(response.output)
                and (response.incomplete_details is None)
            )
        if isinstance(response, CreateEmbeddingResponse):
            return bool(response.data)
        return response is not None
