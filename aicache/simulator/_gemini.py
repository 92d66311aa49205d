"""Gemini's REST API as google-genai calls it: ``models/{model}:generateContent``, the
``:streamGenerateContent?alt=sse`` stream, function calling (mode ``ANY``) and embeddings."""

from __future__ import annotations

import json
import re
from typing import Any

from ._answers import Answer, digest_of, ident, pieces, strings, tokens_of, tool_call, vector
from ._wire import BadRequest, Context, Handler, Recorded, Reply, json_reply, sse_reply

__all__ = ["PATH", "error", "route"]

#: ``/v1beta/models/gemini-2.5-flash:generateContent``: version, model, verb.
PATH = re.compile(r"^/(v1[a-z0-9]*)/models/([^/:]+):([A-Za-z]+)$")
_THINKING = re.compile(r"gemini-(2\.5|[3-9])")


def _forced(body: dict[str, Any]) -> tuple[dict[str, Any], str | None] | None:
    """The declared functions a call must choose from (function-calling mode ``ANY``), and the
    one it must call if only one is allowed; None when no call is required."""
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if str(config.get("mode", "")).upper() != "ANY":
        return None
    declared: dict[str, Any] = {}
    for tool in body.get("tools") or []:
        for fn in tool.get("functionDeclarations") or []:
            # google-genai sends parameters_json_schema in snake case, as of 3.6
            spelled = ("parametersJsonSchema", "parameters_json_schema", "parameters")
            declared[fn["name"]] = next((fn[k] for k in spelled if fn.get(k)), None)
    allowed = config.get("allowedFunctionNames") or list(declared)
    declared = {k: v for k, v in declared.items() if k in allowed}
    return declared, allowed[0] if len(allowed) == 1 else None


def _generate(req: Recorded, ctx: Context, model: str, stream: bool) -> Reply:
    body = req.body
    if not isinstance(body, dict) or "contents" not in body:
        raise BadRequest("contents is required")
    conf = body.get("generationConfig") or {}
    schema = conf.get("responseJsonSchema") or conf.get("responseSchema")
    limit = conf.get("maxOutputTokens")
    digest = ctx.digest(f"/models/{model}:generateContent", body)
    prompt = "\n".join(strings([body.get("systemInstruction"), body["contents"]]))
    answer = Answer(digest, schema, None if limit is None else int(limit), prompt)
    count = tokens_of(prompt)
    cached = ctx.cached(model, prompt, count)
    forced = _forced(body)
    call: dict[str, Any] | None = None
    if forced is not None:
        name, arguments = tool_call(digest, forced[0], forced[1], prompt)
        call = {"name": name, "args": json.loads(arguments)}
        produced, finish = tokens_of(arguments) + 6, "STOP"
    else:
        produced, finish = answer.tokens, "MAX_TOKENS" if answer.truncated else "STOP"
    thoughts = produced if _THINKING.search(model) else 0
    prompt_only: dict[str, Any] = {
        "promptTokenCount": count,
        "totalTokenCount": count,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": count}],
    }
    usage = {**prompt_only, "candidatesTokenCount": produced}
    usage["totalTokenCount"] = count + produced + thoughts
    if cached:
        usage["cachedContentTokenCount"] = cached
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    head = {"modelVersion": model, "responseId": ident("", digest, 22)}

    def one(part: dict[str, Any], reason: str | None, usage: dict[str, Any]) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [part], "role": "model"}}
        if reason:
            candidate["finishReason"] = reason
        candidate["index"] = 0
        return {"candidates": [candidate], "usageMetadata": usage, **head}

    if call is not None:
        whole = [one({"functionCall": call}, finish, usage)]  # Gemini sends a call in one piece
    elif not stream:
        whole = [one({"text": answer.text}, finish, usage)]
    else:
        texts = pieces(answer.text, ctx.chunks(digest), (6, 18))
        whole = [one({"text": t}, None, prompt_only) for t in texts[:-1]]
        whole.append(one({"text": texts[-1]}, finish, usage))
    if not stream:
        return json_reply(200, whole[0])
    return sse_reply((None, chunk) for chunk in whole)


def _embed(req: Recorded, ctx: Context, model: str, batch: bool) -> Reply:
    body = req.body
    requests = body.get("requests") if batch and isinstance(body, dict) else [body]
    if not isinstance(requests, list) or not all(isinstance(r, dict) for r in requests):
        raise BadRequest("requests is required")
    out = []
    for one in requests:
        size = int(one.get("outputDimensionality") or (3072 if "gemini" in model else 768))
        out.append({"values": vector(digest_of(ctx.seed, model, one.get("content")), size)})
    count = sum(tokens_of("".join(strings(one.get("content")))) for one in requests)
    usage = {"promptTokenCount": count, "totalTokenCount": count}
    doc = {"embeddings": out} if batch else {"embedding": out[0]}
    return json_reply(200, {**doc, "usageMetadata": usage})


def _verb(req: Recorded, ctx: Context) -> Reply:
    match = PATH.match(req.path)
    if match is None:
        raise LookupError(req.path)
    model, verb = match.group(2), match.group(3)
    if verb in ("generateContent", "streamGenerateContent"):
        return _generate(req, ctx, model, verb == "streamGenerateContent")
    if verb in ("embedContent", "batchEmbedContents"):
        return _embed(req, ctx, model, verb == "batchEmbedContents")
    raise LookupError(req.path)


def route(path: str) -> Handler | None:
    """The handler for ``path`` if it is a Gemini model path."""
    return _verb if PATH.match(path) else None


def error(status: int, message: str, headers: dict[str, str]) -> Reply:
    """An error in Gemini's shape."""
    names = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE", 404: "NOT_FOUND"}
    name = names.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
    return json_reply(
        status, {"error": {"code": status, "message": message, "status": name}}, headers
    )
