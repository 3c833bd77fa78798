"""Tests of summaries.py against the fake provider: no network, no key, no waiting."""

from __future__ import annotations

from summaries import Summary, summarise

from steer_trio import SteerClient
from steer_trio.testing import FakeProvider, Fault, Replay, Scenario


def client_for(server: FakeProvider) -> SteerClient:
    return SteerClient(
        api_keys={"anthropic": "test"}, base_urls={"anthropic": server.anthropic_base_url}
    )


async def test_a_summary(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=["Trio ", "is ", "nice."], prompt_tokens=20))
    async with client_for(fake_provider) as client:
        summary = await summarise(client, "A long text about trio.")
    assert summary == Summary("Trio is nice.", complete=True, total_tokens=23)
    sent = fake_provider.requests[0].json
    assert sent["messages"][0]["content"].endswith("A long text about trio.")
    assert sent["max_tokens"] == 100


async def test_the_code_under_test_builds_its_own_client(fake_provider_env: FakeProvider) -> None:
    # fake_provider_env points ANTHROPIC_BASE_URL (and the others) at the fake provider.
    async with SteerClient() as client:
        summary = await summarise(client, "Anything.")
    assert summary.complete and summary.text.startswith("Once upon a time")


async def test_a_rate_limit_is_retried(fake_provider: FakeProvider, autojump_clock: object) -> None:
    rate_limited = Fault("http_error", status=429, headers={"retry-after": "2"}, body="{}")
    fake_provider.enqueue(Scenario(fault=rate_limited), Scenario(text=["Fine."]))
    async with client_for(fake_provider) as client:
        summary = await summarise(client, "Anything.")
    assert summary.text == "Fine." and len(fake_provider.requests) == 2


async def test_a_stalled_stream_keeps_what_arrived(
    fake_provider: FakeProvider, autojump_clock: object
) -> None:
    # Two pieces, then the server goes quiet for ten minutes: the 30 s budget ends it,
    # at once on the autojump clock.
    stall = Fault("stall_after", after_events=2, seconds=600)
    fake_provider.enqueue(Scenario(text=["Half ", "a ", "summary."], fault=stall))
    async with client_for(fake_provider) as client:
        summary = await summarise(client, "Anything.")
    assert summary == Summary("Half a ", complete=False, error="DeadlineExceeded")
    await fake_provider.wait_connection_closed()  # the stream's connection was closed


async def test_a_dropped_connection_keeps_what_arrived(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(
        Scenario(text=["Cut ", "here."], fault=Fault("drop_after", after_events=1))
    )
    async with client_for(fake_provider) as client:
        summary = await summarise(client, "Anything.")
    assert summary == Summary("Cut ", complete=False, error="StreamInterruptedError")


async def test_a_summary_cut_by_the_token_limit_is_not_complete(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.enqueue(Scenario(text=["Too ", "long"], finish_reason="max_tokens"))
    async with client_for(fake_provider) as client:
        summary = await summarise(client, "Anything.")
    assert summary.text == "Too long" and not summary.complete


async def test_a_recorded_stream_replayed(fake_provider: FakeProvider, tmp_path) -> None:
    # A stream as a provider sent it (saved with curl -N, say), served byte for byte.
    recording = tmp_path / "answer.sse"
    recording.write_text(
        "event: message_start\n"
        'data: {"type":"message_start","message":{"id":"msg_1","type":"message",'
        '"role":"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,'
        '"usage":{"input_tokens":9,"output_tokens":1}}}\n\n'
        "event: content_block_start\n"
        'data: {"type":"content_block_start","index":0,'
        '"content_block":{"type":"text","text":""}}\n\n'
        "event: content_block_delta\n"
        'data: {"type":"content_block_delta","index":0,'
        '"delta":{"type":"text_delta","text":"Recorded answer."}}\n\n'
        "event: content_block_stop\n"
        'data: {"type":"content_block_stop","index":0}\n\n'
        "event: message_delta\n"
        'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        '"usage":{"output_tokens":3}}\n\n'
        "event: message_stop\n"
        'data: {"type":"message_stop"}\n\n'
    )
    fake_provider.enqueue(Replay(recording, chunking="random", seed=7))
    async with client_for(fake_provider) as client:
        summary = await summarise(client, "Anything.")
    assert summary.text == "Recorded answer." and summary.complete
