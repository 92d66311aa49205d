"""The simulator's answers: music analysis of the track the prompt describes, labelled as
simulated; forced tool calls whose arguments fit the tool's schema; a fixed-port entry."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import anthropic
import openai
from google import genai
from pydantic import BaseModel

import aicache
from aicache.simulator import Answer, ProviderSimulator

from .conftest import HELLO

TRACK = "Track features:\n- tempo: 124.0 BPM\n- key: A minor\n- energy: 0.82\n- loudness: -7.5 dB"


class Tag(BaseModel):
    genre: str
    bpm: float
    moods: list[str]
    confident: bool


def _schema() -> dict[str, Any]:
    return Tag.model_json_schema()


def test_answers_read_like_music_analysis_of_the_prompts_track() -> None:
    text = Answer(b"seed", None, None, TRACK).text
    assert text.startswith("[Simulated answer")
    assert "124 BPM" in text and "A minor" in text and "house" in text
    assert "8A" in text  # A minor on the Camelot wheel
    assert Answer(b"seed", None, None, TRACK).text == text  # deterministic
    props = {
        "genre": {"enum": ["techno", "house", "ambient"]},
        "camelot": {"type": "string"},
        "loudness": {"enum": ["too loud", "on target"]},
    }
    genre = {"type": "object", "properties": props}
    doc = json.loads(Answer(b"seed", genre, None, TRACK).text)
    assert doc == {"genre": "house", "camelot": "8A", "loudness": "too loud"}


async def test_openai_tool_choice_required_and_named_get_a_fitting_call(
    raw_openai: openai.AsyncOpenAI,
) -> None:
    tools = [
        {"type": "function", "function": {"name": "tag_track", "parameters": _schema()}},
        {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}},
    ]
    named = {"type": "function", "function": {"name": "tag_track"}}
    chat = await raw_openai.chat.completions.create(
        model="gpt-4o", messages=HELLO, tools=tools, tool_choice=named
    )
    call = chat.choices[0].message.tool_calls[0]
    assert chat.choices[0].finish_reason == "tool_calls" and call.function.name == "tag_track"
    Tag.model_validate_json(call.function.arguments)
    required = await raw_openai.chat.completions.create(
        model="gpt-4o", messages=HELLO, tools=tools, tool_choice="required"
    )
    assert required.choices[0].message.tool_calls
    stream = await raw_openai.chat.completions.create(
        model="gpt-4o", messages=HELLO, tools=tools, tool_choice=named, stream=True
    )
    parts = [c.choices[0].delta.tool_calls async for c in stream if c.choices]
    streamed = "".join(p[0].function.arguments or "" for p in parts if p)
    assert streamed == call.function.arguments
    auto = await raw_openai.chat.completions.create(model="gpt-4o", messages=HELLO, tools=tools)
    assert auto.choices[0].message.tool_calls is None and auto.choices[0].message.content


async def test_responses_tool_choice_gets_a_function_call(raw_openai: openai.AsyncOpenAI) -> None:
    tools = [{"type": "function", "name": "tag_track", "parameters": _schema(), "strict": False}]
    resp = await raw_openai.responses.create(
        model="gpt-4o", input="tag it", tools=tools, tool_choice="required"
    )
    item = resp.output[0]
    assert item.type == "function_call" and item.name == "tag_track"
    Tag.model_validate_json(item.arguments)
    async with raw_openai.responses.stream(
        model="gpt-4o", input="tag it", tools=tools, tool_choice="required"
    ) as stream:
        final = await stream.get_final_response()
    assert final.output[0].type == "function_call"
    assert final.output[0].arguments == item.arguments


async def test_anthropic_tool_choice_any_and_tool_get_a_tool_use(
    raw_anthropic: anthropic.AsyncAnthropic,
) -> None:
    other = {"type": "object", "properties": {"n": {"type": "integer"}}}
    tools = [
        {"name": "tag_track", "input_schema": _schema()},
        {"name": "other", "input_schema": other},
    ]
    kw: dict[str, Any] = {"model": "m", "max_tokens": 300, "messages": HELLO, "tools": tools}
    message = await raw_anthropic.messages.create(
        **kw, tool_choice={"type": "tool", "name": "tag_track"}
    )
    block = message.content[0]
    assert message.stop_reason == "tool_use" and block.type == "tool_use"
    Tag.model_validate(block.input)
    anyone = await raw_anthropic.messages.create(**kw, tool_choice={"type": "any"})
    assert anyone.content[0].type == "tool_use"
    async with raw_anthropic.messages.stream(
        **kw, tool_choice={"type": "tool", "name": "tag_track"}
    ) as stream:
        final = await stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == block.input


async def test_gemini_function_calling_mode_any_gets_a_call(raw_genai: genai.Client) -> None:
    declared = {"name": "tag_track", "parameters_json_schema": _schema()}
    config = {
        "tools": [{"function_declarations": [declared]}],
        "tool_config": {"function_calling_config": {"mode": "ANY"}},
    }
    reply = await raw_genai.aio.models.generate_content(
        model="gemini-2.5-flash", contents="tag it", config=config
    )
    calls = reply.function_calls
    assert calls and calls[0].name == "tag_track"
    Tag.model_validate(calls[0].args)


async def test_simulator_is_not_in_the_top_level_package() -> None:
    assert "ProviderSimulator" not in aicache.__all__ and not hasattr(aicache, "ProviderSimulator")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_listens_on_the_fixed_port_until_interrupted() -> None:
    port = _free_port()
    code = f"from aicache.simulator import serve; serve(port={port}, chunk_gap=0)"
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ})
    try:
        client = openai.OpenAI(api_key="k", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
        deadline = time.monotonic() + 30
        while True:
            try:
                reply = client.chat.completions.create(model="gpt-4o", messages=HELLO)
                break
            except openai.APIConnectionError:
                assert time.monotonic() < deadline, "the simulator never listened"
                time.sleep(0.1)
        assert reply.choices[0].message.content
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_threaded_simulator_refuses_a_busy_port() -> None:
    with ProviderSimulator() as first:
        try:
            with ProviderSimulator(port=first.port):
                raise AssertionError("two simulators listened on one port")
        except OSError:
            pass
