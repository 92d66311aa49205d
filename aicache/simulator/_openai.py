"""OpenAI's chat completions (whole or streamed, with the usage chunk on request) and embeddings,
plus what the Responses API module shares with them: reasoning tokens, the forced tool, errors."""

from __future__ import annotations

import base64
import json
import re
import struct
from typing import Any

from ._answers import Answer, digest_of, ident, pieces, strings, tokens_of, tool_call, vector
from ._wire import BadRequest, Context, Recorded, Reply, json_reply, sse_reply

__all__ = [
    "CREATED",
    "call_for",
    "chat_completions",
    "embeddings",
    "error",
    "forced_tool",
    "prompt_of",
    "reasoning_tokens",
]

CREATED = 1_767_225_600  # 2026-01-01T00:00:00Z: fixed, so equal requests get equal answers
_REASONING = re.compile(r"^(o\d|gpt-5|gpt-6)")
_DIMENSIONS = {"text-embedding-3-large": 3072}


def reasoning_tokens(model: str, visible: int) -> int:
    """Hidden reasoning tokens a reasoning model would bill for ``visible`` output tokens."""
    return visible * 2 if _REASONING.match(model) else 0


def prompt_of(ctx: Context, body: dict[str, Any], *parts: Any) -> tuple[str, int, int]:
    """The prompt text of ``parts``, its token count and how many of them the prompt cache
    served."""
    prompt = "\n".join(strings(list(parts)))
    count = tokens_of(prompt)
    return prompt, count, ctx.cached(str(body.get("model", "")), prompt, count)


def forced_tool(body: dict[str, Any]) -> tuple[bool, str | None]:
    """Whether ``tool_choice`` requires a tool call (``"required"`` or a named function), and
    which function if named. Chat completions nest the name under ``function``; Responses do not."""
    choice = body.get("tool_choice")
    if choice == "required":
        return True, None
    if isinstance(choice, dict) and choice.get("type") == "function":
        return True, choice.get("name") or (choice.get("function") or {}).get("name")
    return False, None


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    """Function name to argument schema, from chat (``function: {...}``) or Responses tools."""
    out: dict[str, Any] = {}
    for tool in body.get("tools") or []:
        spec = tool.get("function", tool) if isinstance(tool, dict) else {}
        if isinstance(spec, dict) and "name" in spec:
            out[spec["name"]] = spec.get("parameters")
    return out


def call_for(digest: bytes, body: dict[str, Any], name: str | None, prompt: str) -> tuple[str, str]:
    """The function call a request that requires one gets: name and JSON arguments."""
    return tool_call(digest, _tools(body), name, prompt)


def chat_completions(req: Recorded, ctx: Context) -> Reply:
    body = req.body
    if not isinstance(body, dict) or "messages" not in body:
        raise BadRequest("messages is required")
    model = str(body.get("model", ""))
    digest = ctx.digest(req.path, body)
    prompt, count, cached = prompt_of(ctx, body, body["messages"], body.get("tools"))
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") if isinstance(fmt, dict) else None
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    answer = Answer(digest, schema, None if limit is None else int(limit), prompt)
    must, name = forced_tool(body)
    call: dict[str, Any] | None = None
    if must:
        tool, arguments = call_for(digest, body, name, prompt)
        call = {"id": ident("call_", digest), "type": "function"}
        call["function"] = {"name": tool, "arguments": arguments}
        visible, finish = tokens_of(arguments) + 8, "tool_calls"
    else:
        visible, finish = answer.tokens, "length" if answer.truncated else "stop"
    reasoning = reasoning_tokens(model, visible)
    usage = {
        "prompt_tokens": count,
        "completion_tokens": visible + reasoning,
        "total_tokens": count + visible + reasoning,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    ident_ = ident("chatcmpl-", digest, 29)
    head = {"id": ident_, "created": CREATED, "model": model, "system_fingerprint": "fp_sim"}
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
        if call is not None:
            message.update(content=None, tool_calls=[call])
        choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
        doc = {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
        return json_reply(200, doc)
    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    chunk: dict[str, Any] = {**head, "object": "chat.completion.chunk"}
    if with_usage:
        chunk["usage"] = None  # as OpenAI sends it on every chunk but the last

    def one(delta: dict[str, Any], reason: str | None) -> tuple[None, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
        return None, {**chunk, "choices": [choice]}

    rng = ctx.chunks(digest)
    if call is not None:
        opened = {
            **call,
            "index": 0,
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        events = [one({"role": "assistant", "content": None, "tool_calls": [opened]}, None)]
        events += [
            one({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, None)
            for piece in pieces(call["function"]["arguments"], rng, (1, 2))
        ]
    else:
        events = [one({"role": "assistant", "content": "", "refusal": None}, None)]
        events += [one({"content": piece}, None) for piece in pieces(answer.text, rng, (1, 1))]
    events.append(one({}, finish))
    if with_usage:
        events.append((None, {**chunk, "choices": [], "usage": usage}))
    return sse_reply([*events, (None, "[DONE]")])


def embeddings(req: Recorded, ctx: Context) -> Reply:
    body = req.body
    if not isinstance(body, dict) or "input" not in body:
        raise BadRequest("input is required")
    model = str(body.get("model", ""))
    items = body["input"] if isinstance(body["input"], list) else [body["input"]]
    size = int(body.get("dimensions") or _DIMENSIONS.get(model, 1536))
    data = []
    for i, item in enumerate(items):
        values: Any = vector(digest_of(ctx.seed, model, item, 0), size)
        if body.get("encoding_format") == "base64":
            values = base64.b64encode(struct.pack(f"<{size}f", *values)).decode()
        data.append({"object": "embedding", "index": i, "embedding": values})
    count = sum(tokens_of(json.dumps(item)) for item in items)
    usage = {"prompt_tokens": count, "total_tokens": count}
    return json_reply(200, {"object": "list", "data": data, "model": model, "usage": usage})


def error(status: int, message: str, headers: dict[str, str]) -> Reply:
    """An error in OpenAI's shape (also the shape of an unknown path)."""
    kinds = {429: "rate_limit_exceeded", 404: "not_found"}
    kind = kinds.get(status, "server_error" if status >= 500 else "invalid_request_error")
    doc = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    return json_reply(status, doc, headers)
