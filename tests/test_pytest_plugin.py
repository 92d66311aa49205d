"""The ``aicache_replay`` pytest plugin, run as a user would: a small test file with the real
OpenAI SDK against the simulator, in a pytest subprocess that loads the plugin through its
``pytest11`` entry point. It records on the first run, replays in CI without sending anything,
and fails in CI on a call it has no record of."""

from __future__ import annotations

import socket

import orjson
import pytest

pytest_plugins = ["pytester"]

TEST_FILE = """
import os

import openai
import pytest

from aicache import cached_client
from aicache.simulator import ProviderSimulator

PROMPT = "Describe the groove of this track."


@pytest.mark.asyncio
async def test_describe(aicache_replay):
    # A fixed port: the API host is part of every key, as api.openai.com would be.
    async with ProviderSimulator(port=int(os.environ["SIM_PORT"])) as sim:
        client = cached_client(
            openai.AsyncOpenAI(api_key="sk-test", base_url=sim.base_url + "/v1", max_retries=0)
        )
        reply = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}]
        )
        assert reply.choices[0].message.content
        print(f"MODE {aicache_replay.mode} SENT {sim.count()}")
"""

RECORDS = "aicache_records/test_app/test_describe.jsonl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def app(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("AI_CACHE_MODE", raising=False)
    monkeypatch.setenv("SIM_PORT", str(_free_port()))
    pytester.makepyfile(test_app=TEST_FILE)
    return pytester


def _run(pytester: pytest.Pytester) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", timeout=120)


def test_plugin_records_then_replays_in_ci(
    app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _run(app)
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(["*MODE record SENT 1*"])
    records = app.path / RECORDS
    (line,) = records.read_bytes().splitlines()
    entry = orjson.loads(line)
    assert entry["request"]["request"]["messages"][0]["content"] == (
        "Describe the groove of this track."
    )
    assert entry["type"].endswith("ChatCompletion")

    monkeypatch.setenv("CI", "true")
    replayed = _run(app)
    replayed.assert_outcomes(passed=1)
    replayed.stdout.fnmatch_lines(["*MODE replay SENT 0*"])
    assert records.read_bytes().splitlines() == [line]  # replay never writes the file


def test_plugin_fails_a_call_with_no_record_in_ci_until_recorded_outside_it(
    app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(app).assert_outcomes(passed=1)
    test_file = app.path / "test_app.py"
    test_file.write_text(test_file.read_text().replace("this track", "another track"))
    monkeypatch.setenv("CI", "true")
    failed = _run(app)
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(
        ["*ReplayMiss: aicache replay: no recorded entry for openai.chat.completions.create*"]
    )
    assert "another track" in failed.stdout.str()  # the call that has no record

    monkeypatch.delenv("CI")
    recorded = _run(app)
    recorded.assert_outcomes(passed=1)
    recorded.stdout.fnmatch_lines(["*MODE record SENT 1*"])
    assert len((app.path / RECORDS).read_bytes().splitlines()) == 2  # beside the old one
    monkeypatch.setenv("CI", "true")
    _run(app).assert_outcomes(passed=1)
