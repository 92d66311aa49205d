"""Anthropic's Messages API: ``POST /v1/messages``, whole or streamed, text, structured output
or a forced tool call."""

from __future__ import annotations

import json
from typing import Any

from ._answers import Answer, ident, pieces, strings, tokens_of, tool_call
from ._wire import (
    PROMPT_CACHE_MIN,
    BadRequest,
    Context,
    Handler,
    Recorded,
    Reply,
    json_reply,
    sse_reply,
)

__all__ = ["error", "messages", "route"]


def _schema(body: dict[str, Any]) -> Any:
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format") or {}
    return fmt.get("schema") if isinstance(fmt, dict) else None


def _forced(body: dict[str, Any]) -> tuple[bool, str | None]:
    """Whether ``tool_choice`` requires a tool call, and which tool if it names one."""
    choice = body.get("tool_choice") or {}
    kind = choice.get("type") if isinstance(choice, dict) else None
    return kind in ("any", "tool"), choice.get("name") if kind == "tool" else None


def messages(req: Recorded, ctx: Context) -> Reply:
    body = req.body
    if not isinstance(body, dict) or "messages" not in body or "max_tokens" not in body:
        raise BadRequest("messages and max_tokens are required")
    model = str(body.get("model", ""))
    digest = ctx.digest(req.path, body)
    prompt = "\n".join(strings([body.get("system"), body["messages"], body.get("tools")]))
    answer = Answer(digest, _schema(body), int(body["max_tokens"]), prompt)
    count = tokens_of(prompt)
    marked = "cache_control" in json.dumps(body)
    read = ctx.cached(model, prompt, count) if marked else 0
    created = count // 128 * 128 if marked and not read and count >= PROMPT_CACHE_MIN else 0
    must, name = _forced(body)
    block: dict[str, Any]
    if must:
        tools = {t["name"]: t.get("input_schema") for t in body.get("tools") or [] if "name" in t}
        tool, arguments = tool_call(digest, tools, name, prompt)
        block = {"type": "tool_use", "id": ident("toolu_", digest), "name": tool}
        block["input"] = json.loads(arguments)
        stop, produced = "tool_use", tokens_of(arguments) + 12
    else:
        block = {"type": "text", "text": answer.text}
        stop = "max_tokens" if answer.truncated else "end_turn"
        produced = answer.tokens
    message: dict[str, Any] = {
        "id": ident("msg_", digest),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": count - read - created,
            "output_tokens": produced,
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
            "service_tier": "standard",
        },
    }
    if not body.get("stream"):
        return json_reply(200, message)
    return _stream(message, block, ctx, digest)


def _stream(message: dict[str, Any], block: dict[str, Any], ctx: Context, digest: bytes) -> Reply:
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    rng = ctx.chunks(digest)
    if block["type"] == "tool_use":
        opened = {**block, "input": {}}
        text = json.dumps(block["input"])
        deltas = [
            {"type": "input_json_delta", "partial_json": p} for p in pieces(text, rng, (1, 3))
        ]
    else:
        opened = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in pieces(block["text"], rng, (2, 6))]
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": opened},
        ),
        ("ping", {"type": "ping"}),
    ]
    events += [
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d})
        for d in deltas
    ]
    end = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": end,
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return sse_reply(events)


def route(path: str) -> Handler | None:
    """The handler for ``path`` if it is a Messages API path."""
    return messages if path.endswith("/messages") else None


def error(status: int, message: str, headers: dict[str, str]) -> Reply:
    """An error in Anthropic's shape."""
    kinds = {429: "rate_limit_error", 529: "overloaded_error", 404: "not_found_error"}
    kind = kinds.get(status, "api_error" if status >= 500 else "invalid_request_error")
    doc = {"type": "error", "error": {"type": kind, "message": message}}
    return json_reply(status, doc, headers)
