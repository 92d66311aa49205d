"""A local stand-in for the Anthropic, OpenAI and Gemini HTTP APIs, for tests and offline demos.

``async with ProviderSimulator() as sim:`` serves on ``sim.base_url`` (127.0.0.1, a free port);
``serve(port=8765)`` serves on a fixed port until interrupted (``aicache simulate``). Point a
real SDK client at it::

    AsyncAnthropic(api_key="sk-test", base_url=sim.base_url)        # the SDK adds /v1
    AsyncOpenAI(api_key="sk-test", base_url=sim.base_url + "/v1")
    genai.Client(api_key="k", http_options={"base_url": sim.base_url})

Answers have the providers' JSON shapes and read like music analysis of the track the prompt
describes, labelled as simulated; token usage is derived from text length (~4 characters per
token), and content from a hash of the request, so equal requests get equal answers (streamed or
not). Streams are server-sent events in each provider's own framing, sent with gaps between
chunks. A request whose ``tool_choice`` requires a tool call gets one, with arguments that fit
the tool's schema. The simulator records every request, can be told to fail the next calls
(:meth:`ProviderSimulator.fail_next`) or to cut the next streams part-way
(:meth:`ProviderSimulator.cut_next`), and truncates answers longer than the request's
``max_tokens``. HTTP is parsed by ``h11``; nothing else beyond the standard library is needed.
"""

from ._answers import Answer, tokens_of
from ._routes import WIRES
from ._server import DEFAULT_PORT, ProviderSimulator, run, serve
from ._wire import Recorded

__all__ = [
    "DEFAULT_PORT",
    "WIRES",
    "Answer",
    "ProviderSimulator",
    "Recorded",
    "run",
    "serve",
    "tokens_of",
]
