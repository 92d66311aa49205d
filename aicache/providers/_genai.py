"""Gemini through google-genai (``google.genai.Client``): ``generate_content``,
``embed_content`` and ``generate_content_stream`` of ``client.aio.models`` and of the sync
``client.models``; the sync twins are keyed and counted as the async methods, so they share
entries.

A hit has no ``sdk_http_response`` (no HTTP exchange happened); ``parsed`` is rebuilt from the
text when the call gave a response schema, as the SDK itself does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

from google.genai import errors, types

from .._codecs import register_type
from .._info import cache_info
from ._base import Adapter, Tokens, headers_of, host_of, tokens, wire
from ._streams import Tap, follow

__all__ = ["GenaiAdapter"]

_NOT_STORED = {"sdk_http_response", "parsed"}


def _register(cls: Any) -> None:
    register_type(
        cls,
        dump=lambda value: value.model_dump(mode="json", exclude_none=True, exclude=_NOT_STORED),
        load=cls.model_validate,
    )


_register(types.GenerateContentResponse)
_register(types.EmbedContentResponse)

# http_options fields that only shape transport: timeouts, retries, client objects.
_TRANSPORT = {
    "timeout",
    "retry_options",
    "client_args",
    "async_client_args",
    "httpx_client",
    "httpx_async_client",
    "aiohttp_client",
}
_STREAM = "aio.models.generate_content_stream"
_EMBED = "aio.models.embed_content"
_CONFIGS: dict[str, Any] = {
    "generate_content": types.GenerateContentConfig,
    "generate_content_stream": types.GenerateContentConfig,
    "embed_content": types.EmbedContentConfig,
}
_TRANSIENT_STATUS = frozenset({408, 429})


def _dump(model: Any) -> Any:
    """A google-genai model as its converters read it: set fields only."""
    return model.model_dump(exclude_none=True)


def _http_options(options: Any) -> Any:
    if options is None:
        return None
    if not isinstance(options, dict):
        options = _dump(options)
    kept = {k: v for k, v in options.items() if k not in _TRANSPORT and v is not None}
    if "headers" in kept:
        kept["headers"] = headers_of(kept["headers"])
    return wire(kept, (), _dump) or None


def _transport_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [TimeoutError, ConnectionError]
    try:
        import httpx2

        found.append(httpx2.TransportError)
    except ImportError:
        pass
    try:
        import aiohttp

        found += [aiohttp.ClientConnectionError, aiohttp.ServerTimeoutError]
    except ImportError:
        pass
    return tuple(found)


def _finished(item: Any) -> bool:
    candidates: Any = item.get("candidates") if isinstance(item, dict) else None
    return bool(candidates and candidates[0].get("finish_reason"))


class _ChunkShape:
    """A Gemini stream: whole when a chunk's first candidate has a finish reason; it adds up to
    the last chunk with every chunk's parts."""

    def __init__(self, adapter: GenaiAdapter) -> None:
        self._adapter = adapter

    def failed(self, head: dict[str, Any]) -> bool:
        return False  # an error answer raises in the SDK before the stream starts

    def ended(self, head: dict[str, Any], items: list[Any]) -> bool:
        return any(_finished(item) for item in items)

    def result(self, head: dict[str, Any], items: list[Any]) -> Any:
        parts = [
            part
            for item in items
            for candidate in (item.get("candidates") or [])[:1]
            for part in (candidate.get("content") or {}).get("parts") or []
        ]
        last = dict(items[-1])
        if last.get("candidates"):
            first = dict(last["candidates"][0])
            first["content"] = {**(first.get("content") or {}), "parts": parts}
            last["candidates"] = [first, *last["candidates"][1:]]
        return types.GenerateContentResponse.model_validate(last)


class GenaiAdapter(Adapter):
    provider: ClassVar[str] = "gemini"
    cached: ClassVar[frozenset[str]] = frozenset(
        {
            "aio.models.generate_content",
            "aio.models.embed_content",
            _STREAM,  # recorded chunk by chunk
            "models.generate_content",
            "models.embed_content",
            _STREAM.removeprefix("aio."),
        }
    )

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._transport = _transport_errors()

    # A stream is recorded as its chunks (the SDK's own objects, dumped as stored values) and
    # replayed as an async iterator of them: this SDK's stream type is a plain async iterator.

    def records(self, path: str, call: dict[str, Any]) -> bool:
        return self.twin(path) == _STREAM

    def sync(self, path: str) -> bool:
        return not path.startswith("aio.")

    def twin(self, path: str) -> str:
        return path if path.startswith("aio.") else f"aio.{path}"

    def shape(self, path: str) -> _ChunkShape:
        return _ChunkShape(self)

    @staticmethod
    def dump_chunk(chunk: Any) -> Any:
        return chunk.model_dump(mode="json", exclude_none=True, exclude=_NOT_STORED)

    @staticmethod
    async def replay(tap: Tap) -> AsyncIterator[types.GenerateContentResponse]:
        try:
            async for item in tap:
                yield types.GenerateContentResponse.model_validate(item)
        finally:
            await tap.aclose()

    @staticmethod
    def replay_sync(tap: Tap) -> Iterator[types.GenerateContentResponse]:
        items = follow(tap)
        try:
            for item in items:
                yield types.GenerateContentResponse.model_validate(item)
        finally:
            items.close()

    @classmethod
    def new_client(cls, *, api_key: str | None, base_url: str | None, **extra: Any) -> Any:
        from google import genai

        http = types.HttpOptions(base_url=base_url) if base_url else None
        return genai.Client(api_key=api_key, http_options=http, **extra)

    def client_scope(self) -> dict[str, Any]:
        api = self.client._api_client  # the SDK keeps its settings here, nowhere public
        http = api._http_options
        return {
            "host": host_of(http.base_url or ""),
            "api_version": http.api_version,
            "vertexai": bool(api.vertexai),
            "project": api.project,
            "location": api.location,
            "headers": headers_of(http.headers),
            "extra_body": wire(http.extra_body, (), _dump),
        }

    def request(self, path: str, call: dict[str, Any]) -> dict[str, Any] | None:
        verb = path.rsplit(".", 1)[-1]
        if verb not in _CONFIGS:
            return None
        config = call.get("config")
        if isinstance(config, dict):
            with contextlib.suppress(ValueError):  # a mistake the SDK reports when called
                config = _CONFIGS[verb].model_validate(config)
        http = None
        if config is not None and not isinstance(config, dict):
            http = config.http_options
            config = _dump(config)
        if isinstance(config, dict):
            http = config.pop("http_options", http)
        return {
            "model": self.model(call),
            "contents": wire(call.get("contents"), (), _dump),
            "config": wire(config, (), _dump),
            "http_options": _http_options(http),
        }

    def model(self, call: dict[str, Any]) -> str:
        return str(call.get("model") or "").removeprefix("models/")

    def usage(self, response: Any) -> tuple[str, Tokens] | None:
        u = getattr(response, "usage_metadata", None)
        if u is None:
            return None
        model = str(getattr(response, "model_version", "") or "")
        prompt = (u.prompt_token_count or 0) + (u.tool_use_prompt_token_count or 0)
        cached = u.cached_content_token_count or 0
        thoughts = getattr(u, "thoughts_token_count", 0) or 0
        answer = getattr(u, "candidates_token_count", None) or getattr(u, "response_token_count", 0)
        return model, tokens(
            input=prompt - cached,
            cached_input=cached,
            output=(answer or 0) + thoughts,
            reasoning=thoughts,
        )

    def complete(self, response: Any) -> bool:
        if isinstance(response, types.EmbedContentResponse):
            return bool(response.embeddings)
        candidates = getattr(response, "candidates", None)
        if not candidates:
            return False  # blocked prompt, or nothing generated
        first = candidates[0]
        if first.finish_reason == types.FinishReason.MAX_TOKENS:
            return False
        return bool(first.content and first.content.parts)

    def transient(self, exc: BaseException) -> bool:
        if isinstance(exc, errors.ServerError):
            return True
        if isinstance(exc, errors.APIError):
            return exc.code in _TRANSIENT_STATUS
        return isinstance(exc, self._transport)

    def retry_after(self, exc: BaseException) -> float | None:
        asked = super().retry_after(exc)
        if asked is not None:
            return asked
        for detail in (getattr(exc, "details", None) or {}).get("error", {}).get("details", []):
            delay = detail.get("retryDelay") if isinstance(detail, dict) else None
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    return float(delay[:-1])
                except ValueError:
                    return None
        return None

    # -- per-item embeddings (see _batches.py) -------------------------------------------------

    def items(self, path: str, call: dict[str, Any]) -> list[Any] | None:
        given = call.get("contents")
        if path != _EMBED or not isinstance(given, list) or not given:
            return None
        return list(given) if all(isinstance(x, str) for x in given) else None

    def with_items(self, path: str, call: dict[str, Any], items: list[Any]) -> dict[str, Any]:
        return {**call, "contents": items}

    def split(self, path: str, response: Any) -> list[Any]:
        return [e.model_dump(mode="json", exclude_none=True) for e in response.embeddings or []]

    def join(self, path: str, call: dict[str, Any], answers: list[Any], billed: int) -> Any:
        return types.EmbedContentResponse(
            embeddings=[types.ContentEmbedding.model_validate(a) for a in answers],
            usage_metadata=types.UsageMetadata(prompt_token_count=billed, total_token_count=billed),
        )

    def finish(self, value: Any, call: dict[str, Any]) -> Any:
        if not isinstance(value, types.GenerateContentResponse) or value.parsed is not None:
            return value
        config = call.get("config")
        schema, json_schema = (
            config.get(name) if isinstance(config, dict) else getattr(config, name, None)
            for name in ("response_schema", "response_json_schema")
        )
        info = cache_info(value)
        if (schema is None and json_schema is None) or info is None or not info.hit:
            return value
        text = value.text
        if text is not None:
            # The SDK's own parser, on a response holding only the text.
            rebuilt = types.GenerateContentResponse._from_response(
                response={"candidates": [{"content": {"parts": [{"text": text}]}}]},
                kwargs={"config": {"response_schema": schema, "response_json_schema": json_schema}},
            )
            value.parsed = rebuilt.parsed
        return value
