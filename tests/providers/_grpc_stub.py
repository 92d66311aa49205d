"""A ``grpc.aio`` stand-in for Gemini's GenerativeService: the legacy google-generativeai SDK
speaks gRPC only on its async path. Answers come from the ProviderSimulator's generator."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.ai import generativelanguage_v1beta as glm
from google.ai.generativelanguage_v1beta.services.generative_service.transports import (
    GenerativeServiceGrpcAsyncIOTransport,
)

from aicache.simulator import Answer, tokens_of

_SERVICE = "google.ai.generativelanguage.v1beta.GenerativeService"


class GeminiGrpcStub:
    """Serves GenerateContent and StreamGenerateContent on 127.0.0.1; counts requests; can be
    told to fail the next calls with a gRPC status."""

    def __init__(self) -> None:
        self.requests: list[glm.GenerateContentRequest] = []
        self.failures: list[grpc.StatusCode] = []
        self._server: Any = None
        self._channel: Any = None
        self.port = 0

    async def __aenter__(self) -> GeminiGrpcStub:
        self._server = grpc.aio.server()
        rpc = grpc.unary_unary_rpc_method_handler
        stream = grpc.unary_stream_rpc_method_handler
        codec = {
            "request_deserializer": glm.GenerateContentRequest.deserialize,
            "response_serializer": glm.GenerateContentResponse.serialize,
        }
        handlers = {
            "GenerateContent": rpc(self._generate, **codec),
            "StreamGenerateContent": stream(self._stream, **codec),
        }
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(_SERVICE, handlers),)
        )
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._channel.close()
        await self._server.stop(None)

    def client(self) -> glm.GenerativeServiceAsyncClient:
        """The SDK's own async client, on a plain-text channel to this stub."""
        transport = GenerativeServiceGrpcAsyncIOTransport(channel=self._channel)
        return glm.GenerativeServiceAsyncClient(transport=transport)

    def _answer(self, request: glm.GenerateContentRequest) -> glm.GenerateContentResponse:
        digest = hashlib.sha256(glm.GenerateContentRequest.serialize(request)).digest()
        limit = request.generation_config.max_output_tokens or None
        prompt = " ".join(p.text for c in request.contents for p in c.parts)
        answer = Answer(digest, None, limit, prompt)
        count = tokens_of(prompt)
        finish = "MAX_TOKENS" if answer.truncated else "STOP"
        return glm.GenerateContentResponse(
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": answer.text}], "role": "model"},
                        "finish_reason": finish,
                        "index": 0,
                    }
                ],
                "usage_metadata": {
                    "prompt_token_count": count,
                    "candidates_token_count": answer.tokens,
                    "total_token_count": count + answer.tokens,
                },
            }
        )

    async def _generate(
        self, request: glm.GenerateContentRequest, context: grpc.aio.ServicerContext
    ) -> glm.GenerateContentResponse:
        self.requests.append(request)
        if self.failures:
            await context.abort(self.failures.pop(0), "simulated failure")
        return self._answer(request)

    async def _stream(
        self, request: glm.GenerateContentRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[glm.GenerateContentResponse]:
        self.requests.append(request)
        yield self._answer(request)
