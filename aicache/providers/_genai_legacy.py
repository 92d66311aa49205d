"""Gemini through the legacy google-generativeai SDK (``genai.GenerativeModel``):
``generate_content_async``. Its async path speaks gRPC only.

The key is the SDK's own request message (``GenerateContentRequest``), which already merges the
model's defaults (system instruction, generation config, tools, safety settings). The legacy
response type has no ``==``: compare ``.to_dict()``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from google.api_core import exceptions as api_errors
from google.generativeai import client as legacy_client
from google.generativeai import protos
from google.generativeai.types.generation_types import AsyncGenerateContentResponse

from .._codecs import register_type
from ._base import Adapter, Tokens, tokens

__all__ = ["LegacyGeminiAdapter"]

register_type(
    AsyncGenerateContentResponse,
    dump=lambda value: value.to_dict(),
    load=lambda data: AsyncGenerateContentResponse.from_response(
        protos.GenerateContentResponse(data)
    ),
)

_TRANSIENT = (
    api_errors.ResourceExhausted,
    api_errors.ServiceUnavailable,
    api_errors.DeadlineExceeded,
    api_errors.InternalServerError,
    api_errors.TooManyRequests,
    TimeoutError,
    ConnectionError,
)
_CUT = protos.Candidate.FinishReason.MAX_TOKENS
_DEFAULT_ENDPOINT = "generativelanguage.googleapis.com"


class LegacyGeminiAdapter(Adapter):
    provider: ClassVar[str] = "gemini"
    cached: ClassVar[frozenset[str]] = frozenset({"generate_content_async"})
    refused: ClassVar[Mapping[str, str]] = {"generate_content": "model.generate_content_async"}

    def client_scope(self) -> dict[str, Any]:
        options = legacy_client._client_manager.client_config.get("client_options")
        endpoint = getattr(options, "api_endpoint", None) or _DEFAULT_ENDPOINT
        return {"endpoint": endpoint}  # never client_options itself: it holds the API key

    def target(self, path: str, sdk_retries: bool) -> Callable[..., Awaitable[Any]]:
        method = super().target(path, sdk_retries)
        if sdk_retries:
            return method

        @functools.wraps(method)
        async def without_sdk_retries(*args: Any, request_options: Any = None, **kw: Any) -> Any:
            # The generated client retries UNAVAILABLE by itself unless told not to.
            options = dict(request_options or {})
            options.setdefault("retry", None)
            return await method(*args, request_options=options, **kw)

        return without_sdk_retries

    def request(self, path: str, call: dict[str, Any]) -> dict[str, Any] | None:
        if call.get("stream"):
            return None
        message = self.client._prepare_request(
            contents=call["contents"],
            generation_config=call.get("generation_config"),
            safety_settings=call.get("safety_settings"),
            tools=call.get("tools"),
            tool_config=call.get("tool_config"),
        )
        # request_options (timeout, retry) are transport only.
        return {"message": json.loads(type(message).to_json(message))}

    def model(self, call: dict[str, Any]) -> str:
        return str(self.client.model_name).removeprefix("models/")

    def usage(self, response: Any) -> tuple[str, Tokens] | None:
        u = getattr(response, "usage_metadata", None)
        if u is None:
            return None
        cached = u.cached_content_token_count
        return self.model({}), tokens(
            input=u.prompt_token_count - cached,
            cached_input=cached,
            output=u.candidates_token_count,
        )

    def complete(self, response: Any) -> bool:
        candidates = response.candidates
        if not candidates:
            return False
        first = candidates[0]
        return first.finish_reason != _CUT and bool(first.content.parts)

    def transient(self, exc: BaseException) -> bool:
        return isinstance(exc, _TRANSIENT)
