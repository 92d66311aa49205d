"""OpenAI's Responses API: ``POST /v1/responses``, whole or streamed as typed events
(``response.created`` ... ``response.completed``), text, structured output or a function call."""

from __future__ import annotations

from typing import Any

from ._answers import Answer, ident, pieces, tokens_of
from ._openai import CREATED, call_for, forced_tool, prompt_of, reasoning_tokens
from ._wire import BadRequest, Context, Recorded, Reply, json_reply, sse_reply

__all__ = ["responses"]


def responses(req: Recorded, ctx: Context) -> Reply:
    body = req.body
    if not isinstance(body, dict) or "input" not in body:
        raise BadRequest("input is required")
    model = str(body.get("model", ""))
    digest = ctx.digest(req.path, body)
    prompt, count, cached = prompt_of(
        ctx, body, body.get("instructions"), body["input"], body.get("tools")
    )
    fmt = (body.get("text") or {}).get("format") or {}
    schema = fmt.get("schema") if fmt.get("type") == "json_schema" else None
    limit = body.get("max_output_tokens")
    answer = Answer(digest, schema, None if limit is None else int(limit), prompt)
    must, name = forced_tool(body)
    truncated = answer.truncated and not must
    output: dict[str, Any]
    if must:
        tool, arguments = call_for(digest, body, name, prompt)
        output = {
            "type": "function_call",
            "id": ident("fc_", digest),
            "call_id": ident("call_", digest),
            "name": tool,
            "arguments": arguments,
            "status": "completed",
        }
        visible = tokens_of(arguments) + 8
    else:
        text = {"type": "output_text", "text": answer.text, "annotations": [], "logprobs": []}
        output = {
            "type": "message",
            "id": ident("msg_", digest),
            "status": "incomplete" if truncated else "completed",
            "role": "assistant",
            "content": [text],
        }
        visible = answer.tokens
    reasoning = reasoning_tokens(model, visible)
    doc = {
        "id": ident("resp_", digest, 32),
        "object": "response",
        "created_at": CREATED,
        "status": "incomplete" if truncated else "completed",
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
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
            "output_tokens": visible + reasoning,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": count + visible + reasoning,
        },
        "metadata": {},
    }
    if not body.get("stream"):
        return json_reply(200, doc)
    return _stream(doc, output, ctx, digest)


def _stream(doc: dict[str, Any], item: dict[str, Any], ctx: Context, digest: bytes) -> Reply:
    """The typed events the Responses API streams for one output item."""
    events: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    running = {**doc, "status": "in_progress", "output": [], "usage": None}
    running["incomplete_details"] = None
    emit("response.created", response=running)
    emit("response.in_progress", response=running)
    at = {"item_id": item["id"], "output_index": 0}
    rng = ctx.chunks(digest)
    if item["type"] == "function_call":
        emit("response.output_item.added", output_index=0, item={
            **item, "arguments": "", "status": "in_progress"})  # fmt: skip
        for piece in pieces(item["arguments"], rng, (1, 2)):
            emit("response.function_call_arguments.delta", **at, delta=piece)
        emit("response.function_call_arguments.done", **at, arguments=item["arguments"])
    else:
        part = item["content"][0]
        emit("response.output_item.added", output_index=0, item={
            **item, "status": "in_progress", "content": []})  # fmt: skip
        emit("response.content_part.added", **at, content_index=0, part={**part, "text": ""})
        for piece in pieces(part["text"], rng, (1, 1)):
            emit("response.output_text.delta", **at, content_index=0, delta=piece, logprobs=[])
        emit("response.output_text.done", **at, content_index=0, text=part["text"], logprobs=[])
        emit("response.content_part.done", **at, content_index=0, part=part)
    emit("response.output_item.done", output_index=0, item=item)
    final = "response.incomplete" if doc["status"] == "incomplete" else "response.completed"
    emit(final, response=doc)
    return sse_reply((event["type"], event) for event in events)
