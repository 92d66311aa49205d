"""A local stand-in for the Anthropic, OpenAI and Gemini HTTP APIs, for tests and offline demos.

``async with ProviderSimulator() as sim:`` serves on ``sim.base_url`` (127.0.0.1, a free port).
Point a real SDK client at it::

    AsyncAnthropic(api_key="sk-test", base_url=sim.base_url)        # the SDK adds /v1
    AsyncOpenAI(api_key="sk-test", base_url=sim.base_url + "/v1")
    genai.Client(api_key="k", http_options={"base_url": sim.base_url})

Answers have the providers' JSON shapes, token usage derived from text length (~4 characters per
token), and content derived from a hash of the request, so equal requests get equal answers.
It records every request, can be told to fail the next calls, and truncates answers longer than
the request's ``max_tokens``. Only the standard library is used (asyncio streams): the offline
demo runs with aicache's core dependencies and one SDK.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import random
import re
import struct
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["ProviderSimulator", "Recorded"]

_CREATED = 1_767_225_600  # 2026-01-01T00:00:00Z: fixed, so equal requests get equal answers
_VOCABULARY = (
    "tempo harmonic minor major chord progression cadence groove syncopated bassline melody "
    "motif verse chorus bridge timbre warm bright reverb layered sparse dense rhythm swing "
    "downbeat tonic dominant modulation key signature dynamic crescendo ambient driving "
    "percussive acoustic electric texture arrangement hook riff phrasing resolution tension "
    "release section energy mood uplifting melancholic steady shifting vocal instrumental"
)
_WORDS = _VOCABULARY.split()
_PROMPT_CACHE_MIN = 1024  # tokens: shorter prompts are never reported as cached


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request the simulator received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or None


@dataclass(slots=True)
class _Failure:
    status: int
    headers: dict[str, str]
    message: str


@dataclass(slots=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class _BadRequest(Exception):
    pass


def tokens_of(text: str) -> int:
    """The simulator's token count: one per ~4 characters, at least one for any text."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _strings(value: Any) -> Iterable[str]:
    """Every string in a request part, in document order (what a tokenizer would read)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in ("type", "role", "cache_control"):
                yield from _strings(v)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _digest(*parts: Any) -> bytes:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()


def _ident(prefix: str, digest: bytes, size: int = 24) -> str:
    return prefix + base64.b32encode(digest).decode().lower().rstrip("=")[:size]


class _Answer:
    """The text of one answer, as the model would have produced it before any token limit."""

    def __init__(self, digest: bytes, schema: Any, limit: int | None) -> None:
        self.rng = random.Random(digest)
        full = self._from_schema(schema) if schema is not None else self._prose()
        self.truncated = limit is not None and tokens_of(full) > limit
        self.text = full[: limit * 4] if self.truncated and limit is not None else full
        self.tokens = tokens_of(self.text)

    def _prose(self) -> str:
        words = [self.rng.choice(_WORDS) for _ in range(self.rng.randint(18, 60))]
        return " ".join(words).capitalize() + "."

    def _from_schema(self, schema: Any) -> str:
        return json.dumps(self._instance(schema, 0))

    def _instance(self, schema: Any, depth: int) -> Any:
        if not isinstance(schema, dict) or depth > 6:
            return None
        if schema.get("enum"):
            return self.rng.choice(schema["enum"])
        kind = str(schema.get("type", "object" if "properties" in schema else "string")).lower()
        if kind == "object":
            props = schema.get("properties") or {}
            return {k: self._instance(v, depth + 1) for k, v in props.items()}
        if kind == "array":
            return [self._instance(schema.get("items"), depth + 1) for _ in range(2)]
        if kind == "integer":
            return self.rng.randint(0, 200)
        if kind == "number":
            return round(self.rng.uniform(0, 200), 2)
        if kind == "boolean":
            return self.rng.random() < 0.5
        return " ".join(self.rng.choice(_WORDS) for _ in range(3))


def _json(status: int, doc: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps(doc).encode(), headers=headers or {})


def _sse(events: Iterable[tuple[str | None, Any]]) -> _Reply:
    out = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        text = data if isinstance(data, str) else json.dumps(data)
        out.append(f"{head}data: {text}\n\n")
    return _Reply(200, "".join(out).encode(), "text/event-stream")


def _pieces(text: str, size: int = 24) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class _Context:
    """What a handler may use besides the request: the seed and the prompt-cache memory."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._prompts: set[bytes] = set()

    def digest(self, path: str, body: Any) -> bytes:
        doc = {k: v for k, v in body.items() if k != "stream"} if isinstance(body, dict) else body
        return _digest(self.seed, path, doc)

    def cached(self, model: str, prompt: str, count: int) -> int:
        """Prompt tokens served from the provider's prompt cache: a repeated long prompt."""
        mark = _digest(model, prompt)
        seen = mark in self._prompts
        self._prompts.add(mark)
        if count < _PROMPT_CACHE_MIN or not seen:
            return 0
        return count // 128 * 128


# --- Anthropic -------------------------------------------------------------------------------


def _anthropic_schema(body: dict[str, Any]) -> Any:
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format") or {}
    return fmt.get("schema") if isinstance(fmt, dict) else None


def _anthropic_messages(req: Recorded, ctx: _Context) -> _Reply:
    body = req.body
    if not isinstance(body, dict) or "messages" not in body or "max_tokens" not in body:
        raise _BadRequest("messages and max_tokens are required")
    model = str(body.get("model", ""))
    digest = ctx.digest(req.path, body)
    answer = _Answer(digest, _anthropic_schema(body), int(body["max_tokens"]))
    prompt = "\n".join(_strings([body.get("system"), body["messages"], body.get("tools")]))
    count = tokens_of(prompt)
    marked = "cache_control" in json.dumps(body)
    read = ctx.cached(model, prompt, count) if marked else 0
    created = count // 128 * 128 if marked and not read and count >= _PROMPT_CACHE_MIN else 0
    message: dict[str, Any] = {
        "id": _ident("msg_", digest),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": answer.text}],
        "stop_reason": "max_tokens" if answer.truncated else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": count - read - created,
            "output_tokens": answer.tokens,
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
            "service_tier": "standard",
        },
    }
    if not body.get("stream"):
        return _json(200, message)
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for piece in _pieces(answer.text):
        delta = {"type": "text_delta", "text": piece}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": answer.tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return _sse(events)


# --- OpenAI ----------------------------------------------------------------------------------

_REASONING = re.compile(r"^(o\d|gpt-5|gpt-6)")


def _reasoning_tokens(model: str, visible: int) -> int:
    return visible * 2 if _REASONING.match(model) else 0


def _openai_prompt(
    req: Recorded, ctx: _Context, body: dict[str, Any], *parts: Any
) -> tuple[str, bytes, int, int]:
    model = str(body.get("model", ""))
    prompt = "\n".join(_strings(list(parts)))
    count = tokens_of(prompt)
    return model, ctx.digest(req.path, body), count, ctx.cached(model, prompt, count)


def _chat_completions(req: Recorded, ctx: _Context) -> _Reply:
    body = req.body
    if not isinstance(body, dict) or "messages" not in body:
        raise _BadRequest("messages is required")
    model, digest, count, cached = _openai_prompt(
        req, ctx, body, body["messages"], body.get("tools")
    )
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") if isinstance(fmt, dict) else None
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    answer = _Answer(digest, schema, None if limit is None else int(limit))
    reasoning = _reasoning_tokens(model, answer.tokens)
    finish = "length" if answer.truncated else "stop"
    usage = {
        "prompt_tokens": count,
        "completion_tokens": answer.tokens + reasoning,
        "total_tokens": count + answer.tokens + reasoning,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    ident = _ident("chatcmpl-", digest, 29)
    head = {"id": ident, "created": _CREATED, "model": model, "system_fingerprint": "fp_sim"}
    if not body.get("stream"):
        message = {"role": "assistant", "content": answer.text, "refusal": None}
        choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
        return _json(
            200, {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
        )
    chunk = {**head, "object": "chat.completion.chunk"}

    def one(delta: dict[str, Any], reason: str | None) -> tuple[None, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
        return None, {**chunk, "choices": [choice]}

    events = [one({"role": "assistant", "content": ""}, None)]
    events += [one({"content": piece}, None) for piece in _pieces(answer.text)]
    events.append(one({}, finish))
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append((None, {**chunk, "choices": [], "usage": usage}))
    return _sse([*events, (None, "[DONE]")])


def _responses(req: Recorded, ctx: _Context) -> _Reply:
    body = req.body
    if not isinstance(body, dict) or "input" not in body:
        raise _BadRequest("input is required")
    if body.get("stream"):
        raise _BadRequest("the simulator does not stream the Responses API")
    model, digest, count, cached = _openai_prompt(
        req, ctx, body, body.get("instructions"), body["input"], body.get("tools")
    )
    fmt = (body.get("text") or {}).get("format") or {}
    schema = fmt.get("schema") if fmt.get("type") == "json_schema" else None
    limit = body.get("max_output_tokens")
    answer = _Answer(digest, schema, None if limit is None else int(limit))
    reasoning = _reasoning_tokens(model, answer.tokens)
    text = {"type": "output_text", "text": answer.text, "annotations": [], "logprobs": []}
    output = {
        "type": "message",
        "id": _ident("msg_", digest),
        "status": "incomplete" if answer.truncated else "completed",
        "role": "assistant",
        "content": [text],
    }
    doc = {
        "id": _ident("resp_", digest, 32),
        "object": "response",
        "created_at": _CREATED,
        "status": "incomplete" if answer.truncated else "completed",
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if answer.truncated else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": limit,
        "model": model,
        "output": [output],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "temperature": body.get("temperature", 1.0),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": {
            "input_tokens": count,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": answer.tokens + reasoning,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": count + answer.tokens + reasoning,
        },
        "metadata": {},
    }
    return _json(200, doc)


def _vector(digest: bytes, index: int, size: int) -> list[float]:
    rng = random.Random(digest + index.to_bytes(4, "big"))
    raw = [rng.gauss(0.0, 1.0) for _ in range(size)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 6) for x in raw]


_OPENAI_DIMS = {"text-embedding-3-large": 3072}


def _embeddings(req: Recorded, ctx: _Context) -> _Reply:
    body = req.body
    if not isinstance(body, dict) or "input" not in body:
        raise _BadRequest("input is required")
    model = str(body.get("model", ""))
    items = body["input"] if isinstance(body["input"], list) else [body["input"]]
    size = int(body.get("dimensions") or _OPENAI_DIMS.get(model, 1536))
    data = []
    for i, item in enumerate(items):
        vector: Any = _vector(_digest(ctx.seed, model, item), 0, size)
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vector})
    count = sum(tokens_of(json.dumps(item)) for item in items)
    usage = {"prompt_tokens": count, "total_tokens": count}
    return _json(200, {"object": "list", "data": data, "model": model, "usage": usage})


# --- Gemini (google-genai) -------------------------------------------------------------------

_GEMINI_PATH = re.compile(r"^/(v1[a-z0-9]*)/models/([^/:]+):([A-Za-z]+)$")
_THINKING = re.compile(r"gemini-(2\.5|[3-9])")


def _gemini_generate(req: Recorded, ctx: _Context, model: str, stream: bool) -> _Reply:
    body = req.body
    if not isinstance(body, dict) or "contents" not in body:
        raise _BadRequest("contents is required")
    conf = body.get("generationConfig") or {}
    schema = conf.get("responseJsonSchema") or conf.get("responseSchema")
    limit = conf.get("maxOutputTokens")
    digest = ctx.digest(f"/models/{model}:generateContent", body)
    answer = _Answer(digest, schema, None if limit is None else int(limit))
    prompt = "\n".join(_strings([body.get("systemInstruction"), body["contents"]]))
    count = tokens_of(prompt)
    cached = ctx.cached(model, prompt, count)
    thoughts = answer.tokens if _THINKING.search(model) else 0
    usage: dict[str, Any] = {
        "promptTokenCount": count,
        "candidatesTokenCount": answer.tokens,
        "totalTokenCount": count + answer.tokens + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": count}],
    }
    if cached:
        usage["cachedContentTokenCount"] = cached
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    finish = "MAX_TOKENS" if answer.truncated else "STOP"
    head = {"modelVersion": model, "responseId": _ident("", digest, 22)}

    def one(text: str, reason: str | None, with_usage: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
        if reason:
            candidate["finishReason"] = reason
        candidate["index"] = 0
        doc: dict[str, Any] = {"candidates": [candidate], **head}
        if with_usage:
            doc["usageMetadata"] = usage
        return doc

    if not stream:
        return _json(200, one(answer.text, finish, True))
    pieces = _pieces(answer.text, 48)
    chunks = [one(p, None, False) for p in pieces[:-1]] + [one(pieces[-1], finish, True)]
    return _sse((None, c) for c in chunks)


def _gemini_embed(req: Recorded, ctx: _Context, model: str, batch: bool) -> _Reply:
    body = req.body
    requests = body.get("requests") if batch and isinstance(body, dict) else [body]
    if not isinstance(requests, list) or not all(isinstance(r, dict) for r in requests):
        raise _BadRequest("requests is required")
    out = []
    for one in requests:
        size = int(one.get("outputDimensionality") or (3072 if "gemini" in model else 768))
        out.append({"values": _vector(_digest(ctx.seed, model, one.get("content")), 0, size)})
    count = sum(tokens_of("".join(_strings(one.get("content")))) for one in requests)
    usage = {"promptTokenCount": count, "totalTokenCount": count}
    doc = {"embeddings": out} if batch else {"embedding": out[0]}
    return _json(200, {**doc, "usageMetadata": usage})


def _gemini(req: Recorded, ctx: _Context) -> _Reply:
    match = _GEMINI_PATH.match(req.path)
    if match is None:
        raise LookupError(req.path)
    model, verb = match.group(2), match.group(3)
    if verb in ("generateContent", "streamGenerateContent"):
        return _gemini_generate(req, ctx, model, verb == "streamGenerateContent")
    if verb in ("embedContent", "batchEmbedContents"):
        return _gemini_embed(req, ctx, model, verb == "batchEmbedContents")
    raise LookupError(req.path)


# --- routing, errors -------------------------------------------------------------------------

_Handler = Callable[[Recorded, _Context], _Reply]
_ROUTES: tuple[tuple[str, _Handler], ...] = (
    ("/messages", _anthropic_messages),
    ("/chat/completions", _chat_completions),
    ("/responses", _responses),
    ("/embeddings", _embeddings),
)


def _route(path: str) -> _Handler:
    for suffix, handler in _ROUTES:
        if path.endswith(suffix):  # also Azure's /openai/deployments/<name>/chat/completions
            return handler
    return _gemini


def _error(path: str, status: int, message: str, headers: dict[str, str] | None = None) -> _Reply:
    """An error in the shape of the provider that serves ``path``."""
    if path.endswith("/messages"):
        kinds = {429: "rate_limit_error", 529: "overloaded_error", 404: "not_found_error"}
        kind = kinds.get(status, "api_error" if status >= 500 else "invalid_request_error")
        doc: Any = {"type": "error", "error": {"type": kind, "message": message}}
    elif _GEMINI_PATH.match(path):
        names = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE", 404: "NOT_FOUND"}
        name = names.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
        doc = {"error": {"code": status, "message": message, "status": name}}
    else:
        kinds = {429: "rate_limit_exceeded", 404: "not_found"}
        kind = kinds.get(status, "server_error" if status >= 500 else "invalid_request_error")
        doc = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    return _json(status, doc, headers)


def _reason(status: int) -> str:
    if status == 529:
        return "Overloaded"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class ProviderSimulator:
    """A fake Anthropic/OpenAI/Gemini HTTP server on 127.0.0.1 (see the module docstring).

    ``latency``: seconds before each answer, or ``(lo, hi)`` for a seeded uniform draw.
    ``seed`` changes every generated answer (equal requests still get equal answers).
    """

    def __init__(self, latency: float | tuple[float, float] = 0.0, seed: int = 0) -> None:
        self.latency = latency
        self.requests: list[Recorded] = []
        self._ctx = _Context(seed)
        self._rng = random.Random(seed)
        self._failures: list[_Failure] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running: use `async with ProviderSimulator()`")
        return f"http://127.0.0.1:{self.port}"

    # -- control ---------------------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        headers: dict[str, str] | None = None,
        message: str = "simulated failure",
    ) -> None:
        """Answer the next ``n`` requests (any path) with ``status`` and ``headers``."""
        self._failures += [_Failure(status, dict(headers or {}), message) for _ in range(n)]

    def count(self, path: str | None = None) -> int:
        """How many requests arrived, in all or for one path (e.g. ``"/v1/messages"``)."""
        if path is None:
            return len(self.requests)
        return sum(1 for r in self.requests if r.path == path)

    def counts(self) -> Counter[str]:
        """Requests per path."""
        return Counter(r.path for r in self.requests)

    def reset(self) -> None:
        """Forget recorded requests and pending failures."""
        self.requests.clear()
        self._failures.clear()

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> ProviderSimulator:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> ProviderSimulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- HTTP/1.1 --------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            while True:
                request = await self._read(reader)
                if request is None:
                    break
                reply = await self._answer(request)
                keep = request.headers.get("connection", "").lower() != "close"
                await self._write(writer, reply, keep)
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, _BadRequest):
            pass
        except asyncio.CancelledError:
            pass  # closing: the connection ends here, nobody awaits this task
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> Recorded | None:
        line = await reader.readline()
        if not line.strip():
            return None
        try:
            method, target, _version = line.decode("latin-1").split()
        except ValueError:
            raise _BadRequest("bad request line") from None
        headers: dict[str, str] = {}
        while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            data = await self._chunked(reader)
        else:
            data = await reader.readexactly(int(headers.get("content-length") or 0))
        parts = urlsplit(target)
        try:
            body = json.loads(data) if data else None
        except ValueError:
            body = None
        return Recorded(method, parts.path, dict(parse_qsl(parts.query)), headers, body)

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        out = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                return bytes(out)
            out += await reader.readexactly(size)
            await reader.readline()

    async def _answer(self, request: Recorded) -> _Reply:
        self.requests.append(request)
        delay = self.latency
        if isinstance(delay, tuple):
            delay = self._rng.uniform(*delay)
        if delay > 0:
            await asyncio.sleep(delay)
        if self._failures:
            failure = self._failures.pop(0)
            return _error(request.path, failure.status, failure.message, failure.headers)
        if request.method != "POST":
            return _error(request.path, 405, f"{request.method} is not simulated")
        try:
            return _route(request.path)(request, self._ctx)
        except (_BadRequest, ValueError, TypeError, KeyError, AttributeError) as exc:
            return _error(request.path, 400, f"malformed request: {exc!r}")
        except LookupError:
            return _error(request.path, 404, f"no simulated endpoint at {request.path}")

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, reply: _Reply, keep: bool) -> None:
        head = [
            f"HTTP/1.1 {reply.status} {_reason(reply.status)}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.body)}",
            f"Connection: {'keep-alive' if keep else 'close'}",
            *(f"{k}: {v}" for k, v in reply.headers.items()),
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply.body)
        await writer.drain()
